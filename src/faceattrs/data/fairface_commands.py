"""``faceattrs data audit-fairface|split-fairface`` subcommands."""

from __future__ import annotations

import argparse
import json

from faceattrs.data import fairface
from faceattrs.data.commands import _size, _write

DEFAULT_SPLIT_DIR = "splits/fairface"


def cmd_audit(args: argparse.Namespace) -> int:
    from faceattrs.data.fairface_report import audit_markdown, audit_summary

    summary = audit_summary(fairface.audit(args.dir, size=args.size, progress=args.progress))
    text_json = json.dumps(summary, indent=1) + "\n"
    text_md = audit_markdown(summary)
    _write(args.report_json, text_json)
    _write(args.report_md, text_md)
    print(text_json if args.json else text_md, end="")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    result = fairface.audit(args.dir, size=args.size, progress=args.progress)
    splits = fairface.split(result.records, seed=args.seed)
    command = f"faceattrs data split-fairface {args.dir} --out {args.out}"
    if args.seed != fairface.SEED:
        command += f" --seed {args.seed}"
    fairface.write_split(args.out, result, splits, command)
    counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    excluded = len(fairface.excluded_lines(result))
    print(f"wrote {args.out}: {counts}; excluded {excluded} (see excluded.txt)")
    return 0


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="FairFace folder (fairface_label_*.csv + the images it names)")
    parser.add_argument(
        "--size",
        type=_size,
        default=fairface.IMAGE_SIZE,
        metavar="WxH",
        help="required image size, or 'any' (default 160x160)",
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def register_fairface(data_sub: argparse._SubParsersAction) -> None:
    """Add the FairFace actions to ``faceattrs data``."""
    p = data_sub.add_parser(
        "audit-fairface", help="FairFace: check every CSV row and image (labels, files, duplicates)"
    )
    _add_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--report-md", metavar="PATH", help="also write the Markdown report here")
    p.add_argument("--report-json", metavar="PATH", help="also write the JSON report here")
    p.set_defaults(func=cmd_audit)

    p = data_sub.add_parser(
        "split-fairface", help="FairFace: deterministic split stratified by age x gender x race7"
    )
    _add_dir(p)
    p.add_argument("--out", required=True, help=f"output folder (e.g. {DEFAULT_SPLIT_DIR})")
    p.add_argument("--seed", type=int, default=fairface.SEED, help="shuffle seed (default 0)")
    p.set_defaults(func=cmd_split)
