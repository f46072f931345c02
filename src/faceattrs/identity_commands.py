"""``faceattrs compare A B`` and ``faceattrs people FOLDER``: who is who, by face embedding.

Both compute identity embeddings (biometric data) only for the run and keep none:
``compare`` prints a distance, ``people`` writes one record per person (faces by
path and box, no embeddings).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from faceattrs.analyze_command import non_negative_int, positive_int


def register(sub: argparse._SubParsersAction) -> None:
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
    _common(compare)
    compare.set_defaults(func=run_compare)

    people = sub.add_parser(
        "people",
        help="group the faces of a photo folder into persons",
        description=(
            "Find every face in the images (folders are searched recursively), group the "
            "faces into persons by face embedding, and write one JSON Lines record per "
            "person: person_id, faces (path and box), number of photos, median perceived "
            "age with interval, gender and race probabilities averaged over the faces. "
            "Unreadable files are reported and skipped (exit code 1)."
        ),
    )
    people.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    people.add_argument("-o", "--output", metavar="FILE", help="people.jsonl (default: stdout)")
    people.add_argument("--sheet", metavar="PNG", help="contact sheet: one row of faces per person")
    people.add_argument(
        "--max-pixels", type=positive_int, default=100_000_000, metavar="N",
        help="refuse images with more pixels (default: 100,000,000)",
    )  # fmt: skip
    people.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    _common(people)
    people.set_defaults(func=run_people, aligned=False)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold", type=float, metavar="D",
        help="same person below this embedding distance (default: the model's)",
    )  # fmt: skip
    parser.add_argument(
        "--min-face", type=non_negative_int, default=40, metavar="PX",
        help="ignore faces whose box side is below PX pixels (default: 40)",
    )  # fmt: skip
    parser.add_argument("--detector", choices=("full", "short"), default="full")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="model threads")


# ------------------------------------------------------------------------------ compare


class _InputError(Exception):
    """A photo that cannot be compared; ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _one_face(detector, embedder, path: str, largest: bool, min_face: int) -> np.ndarray:
    from faceattrs.media import MediaError, read_image

    try:
        bgr = read_image(path)
    except MediaError as exc:
        raise _InputError(str(exc), 1) from None
    dets = detector.detect(bgr)
    sides = np.maximum(dets.xyxy[:, 2] - dets.xyxy[:, 0], dets.xyxy[:, 3] - dets.xyxy[:, 1])
    keep = np.flatnonzero(sides >= min_face)
    if len(keep) == 0:
        raise _InputError(f"{path}: no face found", 1)
    if len(keep) > 1 and not largest:
        raise _InputError(
            f"{path}: {len(keep)} faces found; pass --largest to compare the largest", 2
        )
    best = keep[int(np.argmax(sides[keep]))]
    return embedder.embed(bgr, dets.keypoints[best : best + 1])[0]


def run_compare(args: argparse.Namespace) -> int:
    from faceattrs.detection import FaceDetector
    from faceattrs.embedding import EmbeddingModel, distance

    embedder = EmbeddingModel(threads=args.threads)
    threshold = embedder.threshold if args.threshold is None else args.threshold
    detector = FaceDetector(args.detector, min_face=args.min_face, threads=args.threads)
    try:
        a = _one_face(detector, embedder, args.a, args.largest, args.min_face)
        b = _one_face(detector, embedder, args.b, args.largest, args.min_face)
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


# ------------------------------------------------------------------------------- people

SHEET_TILE = 96


def run_people(args: argparse.Namespace) -> int:
    from faceattrs.analyze_command import _progress, analyse, collect_inputs
    from faceattrs.analyzer import FaceAnalyzer
    from faceattrs.cli import CliError
    from faceattrs.identity import FaceRef, contact_sheet, face_crop, group_people
    from faceattrs.output import open_output

    if args.sheet and Path(args.sheet).suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise CliError(f"--sheet {args.sheet}: use a .png or .jpg file name")
    inputs = collect_inputs(args.paths, None)
    if not inputs:
        raise CliError(f"no images found in {', '.join(args.paths)}")
    analyzer = FaceAnalyzer(
        detector=args.detector, min_face=args.min_face, max_pixels=args.max_pixels,
        threads=args.threads, embeddings=True,
    )  # fmt: skip
    threshold = analyzer.embedder.threshold if args.threshold is None else args.threshold
    refs: list[FaceRef] = []
    crops: dict = {}
    failed = 0
    progress = _progress(len(inputs), args.quiet)
    try:
        for (path, _), (bgr, faces, error) in zip(
            inputs, analyse(analyzer, [p for p, _ in inputs], args), strict=True
        ):
            progress.update(1)
            if error is not None:
                failed += 1
                if not args.quiet:
                    progress.write(f"faceattrs: {path}: {error}", file=sys.stderr)
                continue
            for face in faces:
                refs.append(FaceRef(str(path), face))
                if args.sheet:
                    box = tuple(round(float(v), 1) for v in face.xyxy)
                    crops[(str(path), box)] = face_crop(bgr, face.xyxy, SHEET_TILE)
    finally:
        progress.close()
    people = group_people(refs, threshold)
    with open_output(args.output) as stream:
        for person in people:
            stream.write(json.dumps(person) + "\n")
    if args.sheet:
        _write_sheet(Path(args.sheet), contact_sheet(people, crops, tile=SHEET_TILE))
    if not args.quiet:
        print(
            f"faceattrs: {len(inputs)} images, {len(refs)} faces, {len(people)} people, "
            f"{failed} failed",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _write_sheet(path: Path, sheet: np.ndarray) -> None:
    import cv2

    from faceattrs.output import write_bytes_atomic

    ok, encoded = cv2.imencode(path.suffix.lower(), sheet)
    if not ok:
        raise OSError(f"could not encode the contact sheet {path}")
    write_bytes_atomic(path, encoded.tobytes())
