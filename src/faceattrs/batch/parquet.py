"""Writing face rows to Parquet: one file, or a folder of parts committed atomically.

A part is written to a hidden temporary file in the output folder, flushed to disk and
renamed to ``part-<run>-<n>.parquet``: a reader (or a resumed run) sees whole parts
only, never half of one. A single ``OUT.parquet`` is written the same way (row groups
into a temporary file, renamed when the run completes).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from faceattrs.batch.schema import AnalysedImage, ColumnGroup, face_rows

PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
TMP_PREFIX = ".part-"  # temporary files of parts being written (removed on resume)
DEFAULT_IMAGES_PER_PART = 1000
COMPRESSION = "zstd"


def new_run_id() -> str:
    """A run id that sorts by start time and does not collide between runs."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def part_name(run_id: str, index: int) -> str:
    return f"{PART_PREFIX}{run_id}-{index:06d}{PART_SUFFIX}"


def committed_parts(folder: str | os.PathLike) -> list[Path]:
    """The committed parts in a folder, in name order (temporary files excluded)."""
    return sorted(Path(folder).glob(f"{PART_PREFIX}*{PART_SUFFIX}"))


def write_table_atomic(table: pa.Table, target: str | os.PathLike) -> None:
    """Write ``table`` to ``target`` through a temporary file, fsync and a rename."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression=COMPRESSION)
        _commit(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _commit(tmp: str, target: Path) -> None:
    with open(tmp, "rb") as stream:
        os.fsync(stream.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class PartWriter:
    """Collects analysed images and commits a part every ``images_per_part`` images."""

    def __init__(
        self,
        folder: str | os.PathLike,
        schema: pa.Schema,
        model_sha256: str | None,
        images_per_part: int = DEFAULT_IMAGES_PER_PART,
        extras: Sequence[ColumnGroup] = (),
        run_id: str | None = None,
    ) -> None:
        if images_per_part < 1:
            raise ValueError(f"images_per_part must be >= 1, got {images_per_part}")
        self.folder = Path(folder)
        self.schema = schema
        self.model_sha256 = model_sha256
        self.images_per_part = images_per_part
        self.extras = extras
        self.run_id = run_id or new_run_id()
        self.parts: list[Path] = []
        self._pending: list[AnalysedImage] = []

    def add(self, image: AnalysedImage) -> None:
        self._pending.append(image)
        if len(self._pending) >= self.images_per_part:
            self.flush()

    def flush(self) -> None:
        """Commit the images collected so far as one part (nothing when there are none)."""
        if not self._pending:
            return
        table = face_rows(self._pending, self.schema, self.model_sha256, self.extras)
        target = self.folder / part_name(self.run_id, len(self.parts))
        write_table_atomic(table, target)
        self.parts.append(target)
        self._pending = []

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:  # on an error the pending images are not committed
            self.close()


class FileWriter:
    """One Parquet file: a row group every ``images_per_group`` images, renamed into
    place by :meth:`close`; nothing appears at ``path`` if the run fails."""

    def __init__(
        self,
        path: str | os.PathLike,
        schema: pa.Schema,
        model_sha256: str | None,
        images_per_group: int = DEFAULT_IMAGES_PER_PART,
        extras: Sequence[ColumnGroup] = (),
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.model_sha256 = model_sha256
        self.images_per_group = images_per_group
        self.extras = extras
        fd, self._tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self._writer = pq.ParquetWriter(self._tmp, schema, compression=COMPRESSION)
        self._pending: list[AnalysedImage] = []

    def add(self, image: AnalysedImage) -> None:
        self._pending.append(image)
        if len(self._pending) >= self.images_per_group:
            self._write_group()

    def _write_group(self) -> None:
        if self._pending:
            table = face_rows(self._pending, self.schema, self.model_sha256, self.extras)
            self._writer.write_table(table)
            self._pending = []

    def close(self) -> None:
        self._write_group()
        self._writer.close()
        _commit(self._tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_rows(source: str | os.PathLike) -> pa.Table:
    """All rows of one output file or of a folder's committed parts (name order)."""
    source = Path(source)
    if source.is_file():
        return pq.read_table(source)
    parts = committed_parts(source)
    if not parts:
        raise FileNotFoundError(f"{source}: no parts ({PART_PREFIX}*{PART_SUFFIX})")
    return pa.concat_tables([pq.read_table(p) for p in parts])
