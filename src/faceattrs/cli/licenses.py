"""``faceattrs licenses``: where the licences of the code, models and data are."""

from __future__ import annotations

import argparse

from faceattrs.resources import LICENSE_FILES, MODELS_DIR

SUMMARY = """\
faceattrs code: MIT licence (LICENSE in the source repository and the wheel's metadata).
Shipped models and the data they were trained on (files in {models}):
  - BlazeFace face detector (blazeface_*.onnx): Apache-2.0, MediaPipe Authors (NOTICE,
    LICENSE-blazeface).
  - Attribute models (attributes*.onnx): trained on UTKFace (non-commercial research use
    only: the models inherit that restriction) and FairFace (CC BY 4.0). See DATA-TERMS.md.
  - Face embedding model (face_embedding.onnx): dlib's face recognition ResNet, public
    domain (NOTICE-face-embedding, LICENSE-dlib-face-recognition).
Predictions are perceived attributes with probabilities, not facts about a person."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``faceattrs licenses``."""
    parser = sub.add_parser(
        "licenses",
        help="show the licences of the code, the shipped models and their training data",
        description="Print where the licence and data-terms files of the shipped models "
        "are installed; --show prints them in full.",
    )
    parser.add_argument("--show", action="store_true", help="print the files' text too")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print(SUMMARY.format(models=MODELS_DIR))
    for name in LICENSE_FILES:
        path = MODELS_DIR / name
        state = "" if path.is_file() else "  (missing from this installation)"
        print(f"  {path}{state}")
        if args.show and path.is_file():
            print(path.read_text(encoding="utf-8"))
    return 0
