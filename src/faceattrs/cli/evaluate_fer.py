"""``faceattrs evaluate MODEL --dataset fer``: the expression model on FER2013."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from faceattrs.evaluation.fer import (
    DEFAULT_FER,
    evaluate_fer_crops,
    evaluate_fer_pipeline,
    write_fer_report,
)


def fer_command_line(args: argparse.Namespace) -> str:
    parts = ["faceattrs", "evaluate", str(args.model), "--dataset", "fer", "--split", args.split]
    if args.data:
        parts += ["--data", str(args.data)]
    if getattr(args, "crops_only", False):
        parts.append("--crops-only")
    if args.out:
        parts += ["--out", str(args.out)]
    return shlex.join(parts)


def evaluate_fer_command(args: argparse.Namespace) -> int:
    """Crops as given, then (unless ``--crops-only``) through detection + alignment."""
    from faceattrs.pipeline.expression import ExpressionModel

    data = Path(args.data or DEFAULT_FER)
    if not data.is_dir():
        raise ValueError(f"data folder not found: {data}")
    model = ExpressionModel(args.model, threads=args.threads)
    crops, _ = evaluate_fer_crops(model, data, args.split)
    result = {"model": str(args.model), "split": f"{data}:{args.split}", "crops": crops}
    if not getattr(args, "crops_only", False):
        from faceattrs.pipeline.detection import FaceDetector

        detector = FaceDetector("full", threads=args.threads)
        result["pipeline"] = evaluate_fer_pipeline(
            model, detector, data, args.split, progress=not args.quiet
        )
    result["command"] = fer_command_line(args)
    if args.out:
        title = f"Expression evaluation on FER2013 {args.split}"
        for path in write_fer_report(result, args.out, title):
            print(f"wrote {path}")
    summary = {"crops": {k: crops[k] for k in ("n", "accuracy", "macro_f1")}}
    if "pipeline" in result:
        pipe = result["pipeline"]
        summary["pipeline"] = {
            "detection_rate": pipe["detection_rate"],
            **{k: pipe["detected_faces"][k] for k in ("n", "accuracy", "macro_f1")},
            "end_to_end_accuracy": pipe["detected_faces"]["end_to_end_accuracy"],
            "with_crop_fallback_accuracy": pipe["with_crop_fallback"]["accuracy"],
            "align_border": pipe["align_border"],
        }
        for border, other in pipe["other_alignments"].items():
            summary[f"pipeline_aligned_on_{border}"] = {
                k: other["detected_faces"][k] for k in ("accuracy", "macro_f1")
            }
    print(json.dumps(summary, indent=1))
    return 0
