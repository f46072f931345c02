"""Expression models on FER val seen three ways: the crops as given, and through the
detector and alignment with the padding around each crop black (``faceattrs evaluate
--dataset fer``'s way) or with its edges replicated (no black corners on turned faces).

A model can learn the black corners that only the first framing shows: a gain there that
the replicated framing does not share is a gain on the evaluation, not on photos.

    python scripts/compare_expression_framings.py MODEL.onnx [MODEL.onnx ...] \\
        [--cache-dir /work/cache-expression]

The framings' crops are cached (``fer_val_pipeline_48*.npz``; about 4 min each to make).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faceattrs.data.fer import load_fer_pipeline_crops, load_fer_split
from faceattrs.evaluation.fer import expression_metrics
from faceattrs.pipeline.detection import FaceDetector
from faceattrs.pipeline.expression import ExpressionModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from machine_info import cpu_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="expression ONNX models")
    parser.add_argument("--data", default="../shared/data/fer2013")
    parser.add_argument("--cache-dir", default="/work/cache-expression")
    args = parser.parse_args()
    val = load_fer_split(args.data, "val", args.cache_dir)
    detector, spec = FaceDetector("full", threads=1), ExpressionModel(args.models[0]).spec
    views = {"crops as given": (val.gray, val.labels)}
    for border in ("constant", "replicate"):
        gray, found = load_fer_pipeline_crops(val, "val", detector, spec, args.cache_dir, border)
        views[f"pipeline, {border} padding"] = (gray[found], val.labels[found])
    print(f"machine: {cpu_model()}; FER val ({len(val)} faces)")
    print("| model | framing | n | accuracy | macro-F1 | fear | lowest recall but disgust |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in args.models:
        model = ExpressionModel(path, threads=1)
        for view, (gray, labels) in views.items():
            m = expression_metrics(labels, model.predict(gray).argmax(1))
            low = min(v for k, v in m["recall"].items() if k != "disgust")
            print(f"| {path} | {view} | {len(labels)} | {m['accuracy']:.1%} | "
                  f"{m['macro_f1']:.3f} | {m['recall']['fear']:.1%} | {low:.1%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
