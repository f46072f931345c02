"""Expression models on FER val seen five ways: the crops as given, and through the
detector and alignment, each crop padded with black for detection and aligned from the
black padding (``faceattrs evaluate --dataset fer`` before 2026-11-30) or from the crop
with its edges replicated (the same faces and geometry, no black: ``evaluate``'s way now),
or padded with replicated edges for both (fewer faces found); and the faces whose aligned
crop stays inside FER's crop (the padding does not show: the nearest FER offers to a photo's
framing). Each model after the first is compared with it face by face (exact McNemar test).

A model can learn the black that only the black-padded framing shows: a gain there that
the replicated framings do not share is a gain on the evaluation, not on photos.

    python scripts/compare_expression_framings.py MODEL.onnx [MODEL.onnx ...] \\
        [--cache-dir /work/cache-expression] [--sheet framings.png]

The framings' crops are cached (``fer_val_pipeline_48*.npz``; about 4 min each to make).
``--sheet``: a picture of 12 val faces in the first three framings, side by side.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from faceattrs.data.fer import load_fer_pipeline_crops, load_fer_split
from faceattrs.evaluation.fer import expression_metrics
from faceattrs.pipeline.detection import FaceDetector
from faceattrs.pipeline.expression import ExpressionModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from machine_info import cpu_model  # noqa: E402

BLACK = "pipeline, aligned from black padding"
EDGES = "pipeline, aligned from replicated edges (evaluate's)"


def mcnemar_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar test: the chance of a split at least this uneven of the faces
    on which two models disagree about being right, were both equally good."""
    n, k = int(gained + lost), int(min(gained, lost))
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def write_sheet(columns: list[np.ndarray], index: np.ndarray, path: str) -> None:
    """Faces ``index`` in rows of three, each face as the framings ``columns`` show it."""
    import cv2

    triples = [np.hstack([c[i] for c in columns]) for i in index]
    rows = [np.hstack(triples[k : k + 3]) for k in range(0, len(triples) - 2, 3)]
    sheet = cv2.resize(np.vstack(rows), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(path, sheet)
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="expression ONNX models")
    parser.add_argument("--data", default="../shared/data/fer2013")
    parser.add_argument("--cache-dir", default="/work/cache-expression")
    parser.add_argument("--sheet", help="write a PNG of faces in the framings here")
    args = parser.parse_args()
    val = load_fer_split(args.data, "val", args.cache_dir)
    detector, spec = FaceDetector("full", threads=1), ExpressionModel(args.models[0]).spec
    framings = {  # view: (border for detection, border to align from)
        BLACK: ("constant", "constant"),
        EDGES: ("constant", "replicate"),
        "pipeline, replicated edges for detection too": ("replicate", "replicate"),
    }
    crops = {
        view: load_fer_pipeline_crops(val, "val", detector, spec, args.cache_dir, *borders)
        for view, borders in framings.items()
    }
    views = {"crops as given": (val.gray, val.labels)}
    views.update({view: (gray[found], val.labels[found]) for view, (gray, found) in crops.items()})
    # faces whose aligned crop stays inside FER's crop: the padding does not show at all
    (black, found), (edges, _) = crops[BLACK], crops[EDGES]  # the same detections
    unpadded = found & ((black != edges).mean(axis=(1, 2)) <= 0.01)
    views["pipeline, no padding in the crop (<= 1% of pixels)"] = (
        edges[unpadded],
        val.labels[unpadded],
    )
    if args.sheet:
        write_sheet([val.gray, black, edges], np.flatnonzero(found)[:12], args.sheet)
    print(f"machine: {cpu_model()}; FER val ({len(val)} faces)")
    header = "| model | framing | n | accuracy | macro-F1 | fear | lowest recall but disgust |"
    print(header + " right where the first model is wrong / wrong where right (McNemar p) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    first_right = {}
    for path in args.models:
        model = ExpressionModel(path, threads=1)
        for view, (gray, labels) in views.items():
            preds = model.predict(gray).argmax(1)
            m, right = expression_metrics(labels, preds), preds == labels
            low = min(v for k, v in m["recall"].items() if k != "disgust")
            paired = ""
            if view in first_right:  # right here and wrong there, and the reverse
                gained, lost = (right > first_right[view]).sum(), (right < first_right[view]).sum()
                paired = f"{gained} / {lost} (p={mcnemar_p(gained, lost):.2g})"
            first_right.setdefault(view, right)
            print(f"| {path} | {view} | {len(labels)} | {m['accuracy']:.1%} | "
                  f"{m['macro_f1']:.3f} | {m['recall']['fear']:.1%} | {low:.1%} | "
                  f"{paired} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
