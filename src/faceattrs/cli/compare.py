"""``faceattrs compare A B``: are the faces in two photos the same person?

Computes one identity embedding (biometric data) per photo for the run and keeps
none; prints the distance and the verdict at the model's threshold.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from faceattrs.cli.common import PROVIDER_CHOICES, non_negative_int, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``faceattrs compare``."""
    compare = sub.add_parser(
        "compare",
        help="are the faces in two photos the same person?",
        description=(
            "Compare the face in photo A with the face in photo B: prints the embedding "
            "distance and 'same person' when it is below the threshold. Exit code 0: "
            "compared; 1: a photo could not be read or has no face; 2: usage error, or a "
            "photo with several faces without --largest."
        ),
    )
    compare.add_argument("a", metavar="A", help="first photo")
    compare.add_argument("b", metavar="B", help="second photo")
    compare.add_argument("--largest", action="store_true", help="use each photo's largest face")
    compare.add_argument("--json", action="store_true", help="print one JSON object")
    add_identity_options(compare)
    compare.set_defaults(func=run_compare)


def add_identity_options(parser: argparse.ArgumentParser) -> None:
    """The options ``compare`` and ``people`` share."""
    parser.add_argument(
        "--threshold", type=float, metavar="D",
        help="same person below this embedding distance (default: the model's)",
    )  # fmt: skip
    parser.add_argument(
        "--min-face", type=non_negative_int, default=40, metavar="PX",
        help="ignore faces whose box side is below PX pixels (default: %(default)s; "
        "smaller faces give unreliable embeddings)",
    )  # fmt: skip
    parser.add_argument("--detector", choices=("full", "short"), default="full")
    parser.add_argument(
        "--provider", choices=PROVIDER_CHOICES, default="cpu",
        help="ONNX Runtime execution provider (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--threads", type=positive_int, metavar="N", help="model threads")


class _InputError(Exception):
    """A photo that cannot be compared; ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _one_face(analyzer, path: str, largest: bool) -> np.ndarray:
    """The embedding of the face in the photo at ``path`` (the largest with ``largest``)."""
    from faceattrs.media import MediaError

    try:
        bgr = analyzer.load_image(path)
    except MediaError as exc:
        raise _InputError(str(exc), 1) from None
    detections = analyzer.detect(bgr)
    if len(detections) == 0:
        raise _InputError(f"{path}: no face found", 1)
    if len(detections) > 1 and not largest:
        raise _InputError(
            f"{path}: {len(detections)} faces found; pass --largest to compare the largest", 2
        )
    return analyzer.embed(bgr, detections[int(np.argmax(detections.sides))])[0]


def run_compare(args: argparse.Namespace) -> int:
    from faceattrs.pipeline.analyzer import FaceAnalyzer
    from faceattrs.pipeline.embedding import distance

    analyzer = FaceAnalyzer(
        detector=args.detector, min_face=args.min_face, threads=args.threads,
        providers=args.provider,
    )  # fmt: skip
    threshold = analyzer.embedding_threshold if args.threshold is None else args.threshold
    try:
        a = _one_face(analyzer, args.a, args.largest)
        b = _one_face(analyzer, args.b, args.largest)
    except _InputError as exc:
        print(f"faceattrs: {exc}", file=sys.stderr)
        return exc.code
    dist = float(distance(a, b))
    same = dist < threshold
    if args.json:
        record = {"a": args.a, "b": args.b, "distance": round(dist, 4),
                  "threshold": threshold, "same_person": same}  # fmt: skip
        print(json.dumps(record))
    else:
        verdict = "same person" if same else "different people"
        print(f"distance {dist:.3f} {'<' if same else '>='} {threshold:g}: {verdict}")
    return 0
