"""Every model on both test splits: one Markdown table (+ JSON) for the model card.

For each model: FairFace test and UTKFace test through detection + alignment (the face
source of :mod:`faceattrs.evaluation.faces`), and UTKFace test on the crops as given (the framing of
the earlier UTKFace figures). Full reports of each run go into sub-folders.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from faceattrs.evaluation.cross_table import TARGETS, cross_markdown
from faceattrs.evaluation.fairface import (
    DEFAULT_DATA,
    DEFAULT_SPLITS,
    evaluate_detected,
    locate_split,
)
from faceattrs.evaluation.fairface import write_detected_report as write_detected
from faceattrs.evaluation.metrics import evaluate_model, model_label, write_report

KEEP = (
    "n",
    "age_mae",
    "age_cs5",
    "age_bin_accuracy",
    "age_bin_accuracy_expected_age",
    "age_bin_within_one",
    "gender_accuracy",
    "race_accuracy",
    "gender_ece",
    "race_ece",
    "end_to_end",
    "faces",
    "age_interval_coverage",
    "gender_gap_by_race",
    "gender_by_race",
)


def parse_models(items: list[str]) -> dict[str, tuple[Path | None, str]]:
    """``NAME=PATH`` pairs (names unique, files present) in the given order, as
    ``{name: (path, tier)}``; ``PATH`` may be ``accurate`` (the packaged model mixed with
    the heads on the embedding) or ``accurate:FILE`` (that model with those heads)."""
    models: dict[str, tuple[Path | None, str]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--model expects NAME=PATH, got {item!r}")
        if name in models:
            raise ValueError(f"model name {name!r} given twice")
        tier = "accurate" if path == "accurate" or path.startswith("accurate:") else "fast"
        if tier == "accurate":  # a file whose name starts with "accurate" stays a file
            path = path.removeprefix("accurate").removeprefix(":")
        if path and not Path(path).is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        models[name.strip()] = (Path(path) if path else None, tier)
    return models


def gender_by_race(by_group: dict[str, dict]) -> dict[str, list[int]]:
    """Race -> [faces whose gender was right, faces] (both genders pooled)."""
    per_race: dict[str, list[int]] = {}
    for group, row in by_group.items():
        if row["n"] and row.get("gender_accuracy") is not None:
            tally = per_race.setdefault(group.split("/")[0], [0, 0])
            tally[0] += round(row["gender_accuracy"] * row["n"])
            tally[1] += row["n"]
    return per_race


def gender_gap_by_race(by_group: dict[str, dict]) -> float | None:
    """Largest minus smallest gender accuracy of the race groups (both genders pooled)."""
    return _gap(gender_by_race(by_group))


def _gap(tally: dict[str, list[int]]) -> float | None:
    accuracies = [hits / n for hits, n in tally.values()]
    return max(accuracies) - min(accuracies) if len(accuracies) > 1 else None


def summary_of(metrics: dict) -> dict:
    if "by_group" in metrics:
        tally = gender_by_race(metrics["by_group"])
        metrics = {**metrics, "gender_gap_by_race": _gap(tally), "gender_by_race": tally}
    return {k: metrics[k] for k in KEEP if k in metrics}


def evaluate_cross(args: argparse.Namespace, command: str) -> dict:
    """Run every model on every split, write the sub-reports; return the summary."""
    models = parse_models(args.model)
    out = Path(args.out)
    progress = not args.quiet
    caches = {"utkface": args.utkface_cache, "fairface": args.fairface_cache}
    split = args.split
    result: dict = {
        "command": command,
        "split": split,
        "splits": {d: data_args(args, d)[1] for d in ("fairface", "utkface")},
        "targets": TARGETS,
        "face_sources": {d: f"cache {c}" if c else "detector" for d, c in caches.items()},
        "models": {},
    }
    located = {}  # detections are model-independent: run the detector once per split
    for dataset in ("fairface", "utkface"):
        if caches[dataset] is None:
            print(f"{dataset} {split}: detecting faces")
            located[dataset] = locate_split(
                dataset, split, *data_args(args, dataset), args.threads, progress
            )
    for name, (path, tier) in models.items():
        runs = {}
        for dataset in ("fairface", "utkface"):
            print(f"{name}: {dataset} {split} through detection + alignment")
            metrics = evaluate_detected(
                path,
                dataset,
                split,
                *data_args(args, dataset),
                caches[dataset],
                args.threads,
                progress,
                located.get(dataset),
                tier,
            )
            title = f"{name} on {dataset} {split} through detection and alignment"
            write_detected(metrics, out / name / f"{dataset}_{split}_detected", title, command)
            runs["fairface" if dataset == "fairface" else "utkface_detected"] = summary_of(metrics)
        if not args.no_crops:
            print(f"{name}: utkface {split} crops as given")
            metrics = evaluate_model(
                path, args.utkface_data, args.utkface_splits, split, progress, tier
            )
            write_report(
                metrics, out / name / f"utkface_{split}_crops", f"{name} on UTKFace {split} crops"
            )
            runs["utkface_crops"] = summary_of(metrics)
        result["models"][name] = {"path": model_label(path or "packaged", tier), **runs}
    out.mkdir(parents=True, exist_ok=True)
    (out / "cross.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "cross.md").write_text(cross_markdown(result))
    return result


def data_args(args: argparse.Namespace, dataset: str) -> tuple[str, str]:
    return getattr(args, f"{dataset}_data"), getattr(args, f"{dataset}_splits")


def cross_command_line(args: argparse.Namespace) -> str:
    parts = ["faceattrs", "evaluate-cross"]
    for item in args.model:
        parts += ["--model", item]
    for dataset in ("utkface", "fairface"):
        for what in ("data", "splits", "cache"):
            value = getattr(args, f"{dataset}_{what}")
            default = {"data": DEFAULT_DATA, "splits": DEFAULT_SPLITS}.get(what, {}).get(dataset)
            if value and value != default:
                parts += [f"--{dataset}-{what}", str(value)]
    if args.split != "test":
        parts += ["--split", args.split]
    if args.no_crops:
        parts.append("--no-crops")
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def _cross_command(args: argparse.Namespace) -> int:
    command = cross_command_line(args)
    result = evaluate_cross(args, command)
    out = Path(args.out)
    print(cross_markdown(result))
    print(f"wrote {out / 'cross.md'} and {out / 'cross.json'}")
    return 0


def register_cross(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate-cross",
        help="every model on the UTKFace and FairFace test splits: one table",
        description="Evaluate each --model NAME=PATH on FairFace test and UTKFace test through "
        "detection + alignment (and UTKFace crops as given); write cross.md, cross.json and "
        "one full report per model and split under --out.",
    )
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=PATH",
        help="repeatable; PATH accurate (or accurate:FILE): the accurate tier",
    )
    parser.add_argument("--out", required=True, help="output folder")
    for dataset in ("utkface", "fairface"):
        parser.add_argument(
            f"--{dataset}-data",
            default=DEFAULT_DATA[dataset],
            help=f"default {DEFAULT_DATA[dataset]}",
        )
        parser.add_argument(
            f"--{dataset}-splits",
            default=DEFAULT_SPLITS[dataset],
            help=f"split lists (default {DEFAULT_SPLITS[dataset]})",
        )
        parser.add_argument(
            f"--{dataset}-cache",
            help=f"aligned cache for {dataset} (e.g. cache/aligned_{dataset}_80.npz) instead "
            "of running the detector",
        )
    parser.add_argument(
        "--split", choices=("test", "val"), default="test",
        help="the split lists' test (default) or val lists: choose between models on val",
    )  # fmt: skip
    parser.add_argument("--no-crops", action="store_true", help="skip UTKFace crops as given")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=_cross_command)
