"""``faceattrs people FOLDER``: group the faces of a photo folder into persons.

Identity embeddings (biometric data) are computed for the run and kept in memory
only: the output holds one record per person with faces by path and box, no
embeddings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from faceattrs.cli.common import CliError, positive_int, sigterm_interrupts
from faceattrs.cli.compare import add_identity_options
from faceattrs.media import DEFAULT_MAX_PIXELS
from faceattrs.spec import TIERS


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``faceattrs people``."""
    people = sub.add_parser(
        "people",
        help="group the faces of a photo folder into persons",
        description=(
            "Find every face in the images (folders are searched recursively), group the "
            "faces into persons by face embedding, and write one JSON Lines record per "
            "person: person_id, faces (path and box), number of photos, median perceived "
            "age with interval, gender, race and expression probabilities averaged over the "
            "faces. "
            "Unreadable files are reported and skipped (exit code 1)."
        ),
    )
    people.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    people.add_argument("-o", "--output", metavar="FILE", help="people.jsonl (default: stdout)")
    people.add_argument("--sheet", metavar="PNG", help="contact sheet: one row of faces per person")
    people.add_argument(
        "--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help=f"refuse images with more pixels (default: {DEFAULT_MAX_PIXELS:,})",
    )  # fmt: skip
    people.add_argument(
        "--model", choices=TIERS, default="accurate",
        help="attribute tier (default: %(default)s: every face is embedded to group them "
        "anyway, so the accurate tier's heads add well under a millisecond per face)",
    )  # fmt: skip
    people.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    add_identity_options(people)
    people.set_defaults(func=run_people, aligned=False)


SHEET_TILE = 96


def run_people(args: argparse.Namespace) -> int:
    from faceattrs.cli.analyze import _progress, collect_inputs
    from faceattrs.pipeline.analyzer import FaceAnalyzer

    if args.sheet and Path(args.sheet).suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise CliError(f"--sheet {args.sheet}: use a .png or .jpg file name")
    inputs = collect_inputs(args.paths, None)
    if not inputs:
        raise CliError(f"no images found in {', '.join(args.paths)}")
    analyzer = FaceAnalyzer(
        detector=args.detector, min_face=args.min_face, max_pixels=args.max_pixels,
        threads=args.threads, providers=args.provider, embeddings=True, tier=args.model,
    )  # fmt: skip
    with sigterm_interrupts():  # like Ctrl-C: no half-written output is left
        return _group_and_write(args, analyzer, inputs, _progress(len(inputs), args.quiet))


def _group_and_write(args: argparse.Namespace, analyzer, inputs, progress) -> int:
    from faceattrs.cli.analyze import analyse
    from faceattrs.output import open_output
    from faceattrs.pipeline.people import FaceRef, group_people
    from faceattrs.sheets import contact_sheet, face_crop

    threshold = analyzer.embedder.threshold if args.threshold is None else args.threshold
    refs: list[FaceRef] = []
    crops: dict = {}
    failed = 0
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
