"""Where the files that ship inside the package live: models, licences, the web page."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MODELS_DIR = PACKAGE_DIR / "models"
WEB_DIR = PACKAGE_DIR / "web"
LICENSE_FILES = (
    "NOTICE",
    "LICENSE-blazeface",
    "DATA-TERMS.md",
    "NOTICE-face-embedding",
    "LICENSE-dlib-face-recognition",
)


def model_path(name: str) -> Path:
    """The packaged model file ``name`` (e.g. ``attributes.onnx``)."""
    return MODELS_DIR / name
