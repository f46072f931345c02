"""``faceattrs data ...`` subcommands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="audit, split, balance and plot face datasets")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
