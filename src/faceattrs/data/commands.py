"""``faceattrs data audit|split|balance|plot`` subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceattrs.data import utkface

DEFAULT_SPLIT_DIR = "splits/utkface"


def _size(text: str) -> tuple[int, int] | None:
    if text.lower() in ("any", "none"):
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH or 'any', got {text!r}") from None
    return width, height


def _write(path: str | None, text: str) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        print(f"wrote {path}", file=sys.stderr)


def cmd_audit(args: argparse.Namespace) -> int:
    from faceattrs.data.report import audit_markdown, audit_summary

    result = utkface.audit(args.dir, size=args.size, progress=args.progress)
    summary = audit_summary(result)
    text_json = json.dumps(summary, indent=1) + "\n"
    text_md = audit_markdown(summary)
    _write(args.report_json, text_json)
    _write(args.report_md, text_md)
    print(text_json if args.json else text_md, end="")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    result = utkface.audit(args.dir, size=args.size, progress=args.progress)
    splits = utkface.split(result.records, seed=args.seed)
    command = f"faceattrs data split {args.dir} --out {args.out}"
    if args.seed != utkface.SEED:
        command += f" --seed {args.seed}"
    utkface.write_split(args.out, result, splits, command)
    counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    excluded = len(utkface.excluded_lines(result))
    print(f"wrote {args.out}: {counts}; excluded {excluded} (see excluded.txt)")
    return 0


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="UTKFace-style folder (AGE_GENDER_RACE_DATETIME.jpg.chip.jpg)")
    parser.add_argument(
        "--size",
        type=_size,
        default=utkface.IMAGE_SIZE,
        metavar="WxH",
        help="required image size, or 'any' (default 200x200)",
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="audit, split, balance and plot face datasets")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    data_sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    p = data_sub.add_parser("audit", help="check every file: labels, image, duplicates")
    _add_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--report-md", metavar="PATH", help="also write the Markdown report here")
    p.add_argument("--report-json", metavar="PATH", help="also write the JSON report here")
    p.set_defaults(func=cmd_audit)

    p = data_sub.add_parser("split", help="deterministic stratified train/val/test split")
    _add_dir(p)
    p.add_argument("--out", required=True, help=f"output folder (e.g. {DEFAULT_SPLIT_DIR})")
    p.add_argument("--seed", type=int, default=utkface.SEED, help="shuffle seed (default 0)")
    p.set_defaults(func=cmd_split)
