"""What every ``faceattrs`` subcommand shares: the one-line error type, argument
types, and the model options (declared once, used by analyze, video and serve)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from faceattrs.media import DEFAULT_MAX_PIXELS
from faceattrs.spec import TIERS

PROVIDER_CHOICES = ("auto", "cpu", "cuda", "coreml", "dml")


class CliError(Exception):
    """An error to report to the user in one line, with a non-zero exit."""


def plural(count: int, noun: str) -> str:
    """``1 image``, ``2 images`` (``noun`` is the singular)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def printable(text: str | os.PathLike) -> str:
    """``text`` on one line: newlines, control characters and undecodable bytes of a
    file name escaped as Python does (``\\n``, ``\\udcff``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def check_not_an_input(output: str | os.PathLike | None, inputs: Iterable[Path], what: str) -> None:
    """CliError (exit 2) when ``output`` is one of ``inputs`` (same file, also through a
    link): writing it would destroy that input."""
    if output is None or str(output) == "-":
        return
    target = Path(output)
    resolved = target.resolve()
    for path in inputs:
        same = path.resolve() == resolved
        with contextlib.suppress(OSError):
            same = same or (target.exists() and os.path.samefile(path, target))
        if same:
            raise CliError(f"{what} {printable(output)} is an input; choose another file")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (kill, a container stopping) interrupts like Ctrl-C inside the block, so
    that temporary outputs are removed; the previous handler comes back after."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def unit_float(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def add_model_options(
    parser: argparse.ArgumentParser,
    *,
    min_face: int | None = 20,
    min_face_help: str = "ignore faces whose box side is below PX pixels (default: %(default)s)",
    threads: int | None = None,
    threads_help: str = "model threads (default: all cores)",
    batch_size: bool = True,
    max_pixels: bool = True,
    attributes: bool = False,
) -> None:
    """The detector and model options, the same in every command that analyses faces."""
    group = parser.add_argument_group("models")
    group.add_argument(
        "--model", metavar="TIER|ONNX", default="fast",
        help="attribute model: fast (the packaged int8 model), accurate (fast mixed with "
        "heads on each face's identity embedding: more accurate, about 6 ms more per face) "
        "or an ONNX file (default: %(default)s)",
    )  # fmt: skip
    if attributes:
        group.add_argument(
            "--attributes", metavar="LIST", default="age,gender,race,expression",
            help="comma-separated heads to run, from age, gender, race, expression; the "
            "attribute model runs for any of the first three (default: %(default)s)",
        )  # fmt: skip
        group.add_argument(
            "--expression-model", metavar="ONNX",
            help="expression model file (default: the packaged int8 model)",
        )  # fmt: skip
    group.add_argument(
        "--detector", choices=("full", "short"), default="full",
        help="BlazeFace full-range (group photos) or short-range (selfies) (default: %(default)s)",
    )  # fmt: skip
    group.add_argument(
        "--score-threshold", type=unit_float, default=0.5, metavar="S",
        help="minimum detector score (default: %(default)s)",
    )  # fmt: skip
    group.add_argument(
        "--min-face", type=non_negative_int, default=min_face, metavar="PX", help=min_face_help
    )
    group.add_argument(
        "--provider", choices=PROVIDER_CHOICES, default="cpu",
        help="ONNX Runtime execution provider; auto: the best installed "
        "(default: %(default)s; cuda needs onnxruntime-gpu: pip install 'faceattrs[gpu]')",
    )  # fmt: skip
    group.add_argument(
        "--threads", type=positive_int, default=threads, metavar="N", help=threads_help
    )
    if batch_size:
        group.add_argument(
            "--batch-size", type=positive_int, default=32, metavar="N",
            help="faces per model run (default: %(default)s)",
        )  # fmt: skip
    if max_pixels:
        group.add_argument(
            "--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
            help=f"refuse images with more pixels (default: {DEFAULT_MAX_PIXELS:,})",
        )  # fmt: skip


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The FaceAnalyzer keyword arguments of :func:`add_model_options`."""
    tier = args.model if args.model in TIERS else "fast"
    kwargs: dict[str, Any] = {
        "model_path": None if args.model in TIERS else args.model,
        "tier": tier,
        "detector": args.detector,
        "score_threshold": args.score_threshold,
        "threads": args.threads,
        "providers": args.provider,
    }
    if getattr(args, "batch_size", None) is not None:
        kwargs["batch_size"] = args.batch_size
    if getattr(args, "max_pixels", None) is not None:
        kwargs["max_pixels"] = args.max_pixels
    if getattr(args, "attributes", None) is not None:
        kwargs["attributes"] = args.attributes
        kwargs["expression_model_path"] = args.expression_model
    return kwargs
