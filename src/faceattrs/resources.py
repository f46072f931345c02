"""Where the files that ship inside the package live: models, licences, the web page."""

from __future__ import annotations

import hashlib
import os
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


def file_sha256(path: str | os.PathLike | None) -> str | None:
    """The SHA-256 of a model file (None for a model that is not a file)."""
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
