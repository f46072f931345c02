"""``faceattrs data audit-fairface|split-fairface`` subcommands."""

from __future__ import annotations

import argparse

from faceattrs.data import fairface, fairface_report
from faceattrs.data.command_helpers import add_dir_args, emit_audit, run_split

DEFAULT_SPLIT_DIR = "splits/fairface"


def cmd_audit(args: argparse.Namespace) -> int:
    from faceattrs.data.fairface_report import audit_markdown, audit_summary

    result = fairface.audit(args.dir, size=args.size, progress=args.progress)
    return emit_audit(args, audit_summary(result), audit_markdown)


def cmd_split(args: argparse.Namespace) -> int:
    return run_split(args, fairface, "split-fairface", fairface_report.write_split)


def _add_dir(parser: argparse.ArgumentParser) -> None:
    add_dir_args(
        parser, "FairFace folder (fairface_label_*.csv + the images it names)", fairface.IMAGE_SIZE
    )


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
