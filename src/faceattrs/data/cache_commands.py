"""``faceattrs data align-cache``: detect + align a split's images into an .npz cache."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceattrs.data import aligned_cache
from faceattrs.data.utkface import SPLIT_NAMES

DATASETS = ("utkface", "fairface")
DEFAULT_SPLIT_DIRS = {"utkface": "splits/utkface", "fairface": "splits/fairface"}


def _splits(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in SPLIT_NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(SPLIT_NAMES)}, got {text!r}"
        )
    return names


def split_paths(dataset: str, split_dir: str, splits: tuple[str, ...], data: str) -> list[Path]:
    """The image paths of ``splits`` (validated: listed, labelled, present)."""
    if dataset == "fairface":
        from faceattrs.data.fairface import load_fairface_split as load
    else:
        from faceattrs.data.utkface import load_split as load
    return [s.path for name in splits for s in load(split_dir, name, data)]


def load_spec(template: str | None):
    """``(spec, template file or None)``: the default spec with the template from
    ``template`` (JSON), else the measured src/faceattrs/models/template.json if present."""
    from faceattrs.pipeline.detection import MODELS_DIR
    from faceattrs.spec import ModelSpec

    spec = ModelSpec()
    packaged = MODELS_DIR / "template.json"
    template = template or (str(packaged) if packaged.is_file() else None)
    if template:
        raw = json.loads(Path(template).read_text())
        points = raw["template"] if isinstance(raw, dict) else raw
        spec = replace(spec, template=tuple(tuple(map(float, p)) for p in points))
    return spec, template


def cmd_align_cache(args: argparse.Namespace) -> int:
    from faceattrs.pipeline.detection import FaceDetector

    split_dir = args.split_dir or DEFAULT_SPLIT_DIRS[args.dataset]
    data = Path(args.data)
    paths = split_paths(args.dataset, split_dir, args.splits, str(data))
    if args.limit and args.limit < len(paths):
        picked = np.random.default_rng(args.seed).choice(len(paths), args.limit, replace=False)
        paths = [paths[i] for i in sorted(picked)]
    names = [p.relative_to(data).as_posix() for p in paths]
    out = Path(args.out or f"cache/aligned_{args.dataset}_{args.size}.npz")
    spec, template = load_spec(args.template)
    detector = FaceDetector(
        args.detector,
        score_threshold=args.score_threshold,
        min_face=args.min_face,
        threads=args.threads,
    )
    report = aligned_cache.build_aligned_cache(
        paths,
        out,
        spec,
        detector,
        size=args.size,
        names=names,
        pad=args.pad,
        border=args.border,
        max_offset=args.max_offset,
        progress=not args.no_progress,
        meta={
            "dataset": args.dataset,
            "data": str(data),
            "split_dir": split_dir,
            "splits": list(args.splits),
            "limit": args.limit,
            "template_file": template,
        },
    )
    summary = {k: report[k] for k in ("images", "found", "missed", "miss_rate", "ms_per_image")}
    print(f"wrote {out} and {out.with_suffix('.json')}: {json.dumps(summary)}")
    return 0


def register_align_cache(data_sub: argparse._SubParsersAction) -> None:
    """Add ``align-cache`` to ``faceattrs data``."""
    p = data_sub.add_parser(
        "align-cache",
        help="detect + align every image of a split like inference does; save crops (.npz)",
        description="Run every image of the chosen splits through the product's detector and "
        "alignment (padded first: dataset crops are tight) and save the aligned crops, labels "
        "and misses as one .npz cache for training (`faceattrs train --source aligned`).",
    )
    p.add_argument("--dataset", choices=DATASETS, required=True, help="which dataset")
    p.add_argument("--data", required=True, help="dataset folder (e.g. ../shared/data/utkface)")
    p.add_argument("--split-dir", help="split folder (default splits/<dataset>)")
    p.add_argument(
        "--splits",
        type=_splits,
        default=SPLIT_NAMES,
        help="which split lists to include (default train,val,test)",
    )
    p.add_argument("--out", help="output .npz (default cache/aligned_<dataset>_<size>.npz)")
    p.add_argument("--size", type=int, default=80, help="crop side in pixels (default 80)")
    p.add_argument(
        "--template",
        help="JSON with the alignment template (default: the measured "
        "src/faceattrs/models/template.json)",
    )
    p.add_argument(
        "--pad",
        type=float,
        default=aligned_cache.DEFAULT_PAD,
        help="pad the image by this fraction of its side on each side before detection "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--border",
        choices=sorted(aligned_cache.BORDERS),
        default=aligned_cache.DEFAULT_BORDER,
        help="padding fill: constant (black, default) or replicate",
    )
    p.add_argument(
        "--max-offset",
        type=float,
        default=aligned_cache.DEFAULT_MAX_OFFSET,
        help="a face's box centre must be within this fraction of the side from the image "
        "centre (default: %(default)s)",
    )
    p.add_argument(
        "--detector", choices=("full", "short"), default="full",
        help="BlazeFace model (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--score-threshold", type=float, default=0.5,
        help="minimum detector score (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--min-face", type=float, default=20,
        help="ignore faces whose box side is below PX pixels (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)"
    )
    p.add_argument(
        "--limit", type=int, default=0, help="a random sample of N images only (default: all)"
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed for --limit (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_align_cache)
