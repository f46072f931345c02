"""The ``faceattrs`` command line: thin layers over the library."""

from __future__ import annotations

import argparse
import sys

from faceattrs.analyze_command import register as register_analyze
from faceattrs.data.commands import register as register_data
from faceattrs.evaluation import register_cli as register_evaluate
from faceattrs.identity_commands import register as register_identity
from faceattrs.server import register_cli as register_serve
from faceattrs.training.commands import register as register_training
from faceattrs.video_command import register_cli as register_video
from faceattrs.webexport import register_cli as register_export_web


class CliError(Exception):
    """An error to report to the user in one line, with a non-zero exit."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceattrs",
        description="Estimate perceived age, gender and race of faces in images and videos.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_analyze(sub)
    register_data(sub)
    register_serve(sub)
    register_training(sub)
    register_evaluate(sub)
    register_video(sub)
    register_export_web(sub)
    register_identity(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("faceattrs: interrupted", file=sys.stderr)
        return 130
    except (CliError, FileNotFoundError, NotADirectoryError, ValueError, OSError) as exc:
        print(f"faceattrs: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
