"""Writing per-image analysis records as JSON Lines, a JSON array or CSV.

A record is ``{"path": str, "faces": [Face.to_dict(), ...], "error": str | None}``,
one per input image. Files are written to a temporary file beside the target and
renamed into place when complete, so a reader never sees half a file.

File names that are not valid UTF-8 (Python holds their bytes as lone surrogates,
``surrogateescape``) are written reversibly: JSON escapes them (``"caf\udce9.jpg"``;
``os.fsencode(json.loads(...))`` gives the bytes back) and CSV writes the name's
original bytes (read it with ``errors="surrogateescape"``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from faceattrs.results import Face
from faceattrs.spec import GENDERS, RACES

FORMATS = ("jsonl", "json", "csv")


def make_record(path: str, faces: Sequence[Face] = (), error: str | None = None) -> dict[str, Any]:
    """The record of one input image."""
    return {"path": path, "faces": [face.to_dict() for face in faces], "error": error}


def csv_columns(genders: Sequence[str] = GENDERS, races: Sequence[str] = RACES) -> list[str]:
    """CSV header: one row per face; images with no face or an error get one row too."""
    return [
        "path", "face", "x1", "y1", "x2", "y2", "score", "age", "age_low", "age_high",
        "gender", *(f"p_{g}" for g in genders), "race", *(f"p_{r}" for r in races), "error",
    ]  # fmt: skip


def csv_rows(record: dict[str, Any], columns: Sequence[str]) -> list[dict[str, Any]]:
    """The CSV rows of one record (``face`` is the 0-based face index, empty if none)."""
    if not record["faces"]:
        return [{"path": record["path"], "error": record["error"] or ""}]
    rows = []
    for index, face in enumerate(record["faces"]):
        x1, y1, x2, y2 = face["box"]
        low, high = face["age_interval"]
        row = {
            "path": record["path"], "face": index, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "score": face["score"], "age": face["age"], "age_low": low, "age_high": high,
            "gender": face["gender"], "race": face["race"], "error": record["error"] or "",
        }  # fmt: skip
        row.update({f"p_{k}": v for k, v in face["gender_probs"].items()})
        row.update({f"p_{k}": v for k, v in face["race_probs"].items()})
        rows.append({k: v for k, v in row.items() if k in columns})
    return rows


class RecordWriter:
    """Streams records to a text stream in one of :data:`FORMATS`."""

    def __init__(
        self,
        stream: TextIO,
        fmt: str = "jsonl",
        genders: Sequence[str] = GENDERS,
        races: Sequence[str] = RACES,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.stream = stream
        self.fmt = fmt
        self.count = 0
        self._csv: csv.DictWriter | None = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=csv_columns(genders, races))
            self._csv.writeheader()
        elif fmt == "json":
            stream.write("[")

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerows(csv_rows(record, self._csv.fieldnames))
        elif self.fmt == "json":
            self.stream.write(("," if self.count else "") + "\n" + json.dumps(record))
        else:
            self.stream.write(json.dumps(record) + "\n")
        self.count += 1
        self.stream.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.count else "]\n")
        self.stream.flush()


@contextlib.contextmanager
def atomic_text_file(path: str | os.PathLike) -> Iterator[TextIO]:
    """A text file that appears at ``path`` only once the block completes without error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as stream:
            yield stream
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _temp_beside(target: Path) -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o644)  # mkstemp makes 0600 files; outputs are ordinary files
    return fd, tmp


@contextlib.contextmanager
def open_output(path: str | os.PathLike | None) -> Iterator[TextIO]:
    """The output stream: standard output for None or ``-``, else an atomic file."""
    if path is None or str(path) == "-":
        reconfigure = getattr(sys.stdout, "reconfigure", None)
        if reconfigure is not None:  # a file name's undecodable bytes are written as is
            reconfigure(errors="surrogateescape")
        yield sys.stdout
        return
    with atomic_text_file(path) as stream:
        yield stream
