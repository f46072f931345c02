"""``faceattrs evaluate`` (one model, one split) and ``faceattrs evaluate-cross`` (a table)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from faceattrs.cli.common import CliError
from faceattrs.evaluation.fairface import (
    DATASETS,
    DEFAULT_DATA,
    DEFAULT_SPLITS,
    evaluate_detected,
    write_detected_report,
)
from faceattrs.evaluation.metrics import evaluate_model, write_report

SUMMARY_KEYS = (
    "n",
    "age_mae",
    "age_cs5",
    "age_bin_accuracy",
    "age_bin_within_one",
    "gender_accuracy",
    "race_accuracy",
    "gender_ece",
    "race_ece",
)


def evaluate_command_line(args: argparse.Namespace) -> str:
    """The ``faceattrs evaluate`` command that reproduces ``args`` (defaults spelled out)."""
    parts = ["faceattrs", "evaluate", str(args.model), "--dataset", args.dataset]
    parts += ["--split", args.split]
    if args.data:
        parts += ["--data", str(args.data)]
    if args.splits:
        parts += ["--splits", str(args.splits)]
    if args.detect:
        parts.append("--detect")
    if args.cache:
        parts += ["--cache", str(args.cache)]
    if args.scenes:
        parts.append("--scenes")
    if args.out:
        parts += ["--out", str(args.out)]
    return shlex.join(parts)


def _evaluate_crops(args: argparse.Namespace) -> dict:
    """UTKFace crops as given (UTKFace's own framing), optionally also pasted into scenes."""
    data = Path(args.data or DEFAULT_DATA["utkface"])
    splits = args.splits or DEFAULT_SPLITS["utkface"]
    if not data.is_dir():
        raise ValueError(f"data folder not found: {data}")
    metrics = evaluate_model(args.model, data, splits, args.split, progress=not args.quiet)
    if args.scenes:
        from faceattrs.data.utkface import load_split
        from faceattrs.evaluation.metrics import scene_summary_markdown
        from faceattrs.evaluation.scenes import evaluate_in_scenes
        from faceattrs.pipeline.analyzer import FaceAnalyzer

        samples = load_split(splits, args.split, data)
        result = evaluate_in_scenes(FaceAnalyzer(args.model), samples, progress=not args.quiet)
        metrics["scenes"] = result
        print(scene_summary_markdown(result))
    if args.out:
        for path in write_report(
            metrics, args.out, f"Evaluation on {Path(splits).name} {args.split}"
        ):
            print(f"wrote {path}")
    return metrics


def _evaluate_command(args: argparse.Namespace) -> int:
    if args.out:  # the report's figures: say so before any work, not after the report
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CliError(
                "evaluate --out needs matplotlib for its figures: pip install 'faceattrs[train]'"
            ) from None
    through_detection = args.dataset == "fairface" or args.detect or args.cache
    if not through_detection:
        metrics = _evaluate_crops(args)
    else:
        if args.scenes:
            raise ValueError("--scenes applies to UTKFace crops as given (no --detect, --cache)")
        metrics = evaluate_detected(
            args.model,
            args.dataset,
            args.split,
            args.data,
            args.splits,
            args.cache,
            threads=args.threads,
            progress=not args.quiet,
        )
        if args.out:
            title = f"Evaluation on {args.dataset} {args.split} through detection and alignment"
            command = evaluate_command_line(args)
            for path in write_detected_report(metrics, args.out, title, command):
                print(f"wrote {path}")
        print(
            f"detected {metrics['faces']['found']} of {metrics['faces']['images']} faces; "
            "metrics over the detected faces, end_to_end counts misses as wrong"
        )
    summary = {k: metrics[k] for k in SUMMARY_KEYS if k in metrics}
    if "end_to_end" in metrics:
        summary["end_to_end"] = metrics["end_to_end"]
    print(json.dumps(summary, indent=1))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="accuracy report of an ONNX model on a labelled split",
        description="UTKFace: crops as given (default) or through detection + alignment "
        "(--detect). FairFace: always through detection + alignment, the face nearest the "
        "centre; misses are counted and reported.",
    )
    parser.add_argument(
        "model", help="ONNX attribute model (e.g. src/faceattrs/models/attributes.onnx)"
    )
    parser.add_argument("--dataset", choices=DATASETS, default="utkface", help="default utkface")
    parser.add_argument(
        "--data", help="dataset folder (default ../shared/data/utkface or ../shared/data/fairface)"
    )
    parser.add_argument(
        "--split", default="test", help="split name: train, val or test (default test)"
    )
    parser.add_argument(
        "--splits", help="folder with the split lists (default splits/utkface or splits/fairface)"
    )
    parser.add_argument(
        "--detect",
        action="store_true",
        help="UTKFace: faces through detection + alignment instead of the crops as given",
    )
    parser.add_argument(
        "--cache",
        help="aligned cache (.npz of `faceattrs data align-cache`) to take the detected, "
        "aligned faces from instead of running the detector (faster; same template needed)",
    )
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("--out", help="folder for metrics.json, report.md and figures")
    parser.add_argument(
        "--scenes",
        action="store_true",
        help="UTKFace crops: also paste each crop into a larger scene and run detection",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_evaluate_command)
    from faceattrs.evaluation.cross import register_cross

    register_cross(sub)
