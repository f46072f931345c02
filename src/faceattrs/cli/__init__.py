"""The ``faceattrs`` command line: thin layers over the library.

Subcommand modules are imported when the parser is built (inside :func:`main`), so
importing :mod:`faceattrs.cli` stays cheap and no subcommand imports this package.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The full ``faceattrs`` parser with every subcommand."""
    from faceattrs import __version__
    from faceattrs.cli import analyze, compare, evaluate, export_web, licenses, people, serve, video
    from faceattrs.data import commands as data_commands
    from faceattrs.training import commands as training_commands

    parser = argparse.ArgumentParser(
        prog="faceattrs",
        description=(
            "Find faces in images, videos and camera streams and estimate their perceived "
            "age, gender and race (estimates with probabilities, not facts about a person)."
        ),
        epilog="Models and their licences: faceattrs licenses",
    )
    parser.add_argument(
        "--version", action="version", version=f"faceattrs {__version__} ({_package_dir()})"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    analyze.register(sub)
    data_commands.register(sub)
    serve.register(sub)
    training_commands.register(sub)
    evaluate.register(sub)
    video.register(sub)
    export_web.register(sub)
    licenses.register(sub)
    compare.register(sub)
    people.register(sub)
    return parser


def _package_dir() -> str:
    from faceattrs.resources import PACKAGE_DIR

    return str(PACKAGE_DIR)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; one-line errors and exit code 2 for usage errors."""
    from faceattrs.cli.common import CliError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("faceattrs: interrupted", file=sys.stderr)
        _forget_keyboard_interrupt()
        return 130
    except (CliError, FileNotFoundError, NotADirectoryError, ValueError, OSError) as exc:
        print(f"faceattrs: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _forget_keyboard_interrupt() -> None:
    """CPython remembers a KeyboardInterrupt that left code run by ``exec`` or ``eval`` of a
    string (a dataclass being defined in an import when SIGTERM lands, say), and then ends
    ``python -m faceattrs`` by SIGINT instead of with our exit code, even though we handled
    it. Running a string resets that flag (``run_eval_code_obj`` in CPython 3.8-3.13)."""
    exec("")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
