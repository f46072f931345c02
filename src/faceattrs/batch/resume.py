"""Resumable runs into an output folder: what is done, and checks before any work.

**The key.** An input counts as done when a committed part holds a row with its
``path`` (as recorded: the path as walked from the SOURCE argument, so resume with the
same SOURCE from the same folder), ``file_size`` and ``file_mtime`` (nanoseconds).
We chose size + mtime over a content hash: it costs one ``stat`` per file, where a
hash reads every byte of every photo again before any work, which on millions of
photos over network storage takes about as long as the run itself. A file replaced
or edited in place gets a new mtime and is analysed again; the cost is that a file
touched without changing (``touch``, a copy that resets mtime) is analysed again too.
An input recorded with an ``error`` counts as done (it is not retried forever).

Keys are held in memory as sorted 64-bit BLAKE2b hashes (8 bytes per image: 80 MB for
10 million photos); two different keys colliding would skip one photo, which for 10
million keys has a probability of about 3 in a million.

**The folder.** ``faceattrs-run.json`` records the settings the rows depend on (model
hash, detector, thresholds); a resume with other settings is refused, so a folder never
mixes rows of two models. Temporary files of parts that were being written when a run
was killed are removed; a part that cannot be read (e.g. written in place by another
tool and cut short) is renamed ``*.broken`` and its images are analysed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceattrs.batch.parquet import TMP_PREFIX, committed_parts

MANIFEST = "faceattrs-run.json"


class OutputFolderError(ValueError):
    """The output folder cannot be used (missing parent, not writable, other run)."""


def key_hash(path: str, size: int | None, mtime_ns: int | None) -> int:
    """A 64-bit hash of one resume key."""
    text = f"{path}\0{-1 if size is None else size}\0{-1 if mtime_ns is None else mtime_ns}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class DoneSet:
    """The resume keys of the inputs already recorded in a folder."""

    def __init__(self, hashes: np.ndarray | None = None) -> None:
        self.hashes = np.unique(hashes) if hashes is not None else np.zeros(0, np.uint64)

    def __len__(self) -> int:
        return len(self.hashes)

    @classmethod
    def from_parts(cls, parts: Sequence[Path]) -> DoneSet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunks = []
        for part in parts:
            table = pq.read_table(part, columns=["path", "file_size", "file_mtime"])
            mtimes = table.column("file_mtime").cast(pa.int64()).to_pylist()
            keys = zip(table.column("path").to_pylist(), table.column("file_size").to_pylist(),
                       mtimes, strict=True)  # fmt: skip
            chunks.append(np.fromiter((key_hash(*k) for k in keys), np.uint64))
        return cls(np.concatenate(chunks) if chunks else None)

    def contains(self, keys: Sequence[tuple[str, int | None, int | None]]) -> np.ndarray:
        """A boolean mask: which of these ``(path, size, mtime_ns)`` keys are done."""
        wanted = np.fromiter((key_hash(*k) for k in keys), np.uint64, count=len(keys))
        return np.isin(wanted, self.hashes)


def prepare_folder(folder: str | os.PathLike, settings: dict[str, Any], resume: bool) -> DoneSet:
    """Check the output folder before any work and return what it already holds.

    Creates the folder when its parent exists; refuses (one-line
    :class:`OutputFolderError`) a missing parent, a file, an unwritable folder, a folder
    with parts without ``resume``, or a resume with other settings.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"output folder {folder}: exists and is not a folder")
    if not folder.exists():
        if not folder.parent.is_dir():
            raise OutputFolderError(f"output folder {folder}: its parent folder does not exist")
        try:
            folder.mkdir()
        except OSError as exc:
            raise OutputFolderError(f"output folder {folder}: cannot create it ({exc})") from None
    _check_writable(folder)
    parts = committed_parts(folder)
    manifest = folder / MANIFEST
    if not resume and (parts or manifest.exists()):
        raise OutputFolderError(
            f"output folder {folder} already holds a run ({len(parts)} parts); "
            "pass --resume to continue it, or choose an empty folder"
        )
    if resume and manifest.exists():
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        names = set(recorded) | set(settings)
        changed = sorted(k for k in names if recorded.get(k) != settings.get(k))
        if changed:
            raise OutputFolderError(
                f"output folder {folder} was written with other settings ({', '.join(changed)}); "
                "use a new folder for these settings"
            )
    _remove_leftovers(folder)
    parts = _readable(committed_parts(folder))
    _write_manifest(manifest, settings)
    return DoneSet.from_parts(parts)


def _check_writable(folder: Path) -> None:
    probe = folder / f"{TMP_PREFIX}probe-{os.getpid()}.tmp"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputFolderError(f"output folder {folder}: not writable ({reason})") from None


def _remove_leftovers(folder: Path) -> None:
    for tmp in folder.glob(f"{TMP_PREFIX}*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _readable(parts: list[Path]) -> list[Path]:
    import pyarrow.parquet as pq

    good = []
    for part in parts:
        try:
            pq.read_metadata(part)
        except Exception as exc:  # cut short, not Parquet: analyse its images again
            broken = part.with_name(part.name + ".broken")
            os.replace(part, broken)
            reason = " ".join(str(exc).split())[:200]
            print(f"faceattrs: {part}: unreadable part renamed to {broken.name} ({reason})",
                  file=sys.stderr)  # fmt: skip
            continue
        good.append(part)
    return good


def _write_manifest(manifest: Path, settings: dict[str, Any]) -> None:
    tmp = manifest.with_name(f"{TMP_PREFIX}manifest-{os.getpid()}.tmp")
    tmp.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, manifest)
