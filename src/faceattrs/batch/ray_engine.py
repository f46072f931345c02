"""The Ray Data engine: face rows from a ``ray.data.Dataset`` of paths or images.

:func:`analyze_dataset` maps batches through :class:`FaceRowsActor`, an actor class
that builds one :class:`~faceattrs.pipeline.analyzer.FaceAnalyzer` per actor with an
explicit thread count (ONNX Runtime's default, one thread per core in every actor,
oversubscribes the machine). :func:`write_parts` commits the rows as Parquet parts,
each written to a temporary file and renamed (Ray's ``write_parquet`` writes files in
place, so a killed run could leave half a file). :func:`start_ray` starts an embedded
local Ray whose sockets all listen on 127.0.0.1, or joins a cluster (``address``).

Input rows: ``path`` (read on the worker, so on a cluster every node must see the
files, e.g. a shared mount), optionally ``bytes`` (encoded image, as from
``ray.data.read_binary_files(..., include_paths=True)``) or ``image`` (RGB array, as
from ``ray.data.read_images(..., include_paths=True)``), and optionally ``file_size``
and ``file_mtime_ns`` (the resume key; else null).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from faceattrs.batch.parquet import DEFAULT_IMAGES_PER_PART, part_name, write_table_atomic

MISSING = -1  # a resume key that could not be read (stat failed)
IMAGES_PER_BATCH = 16  # images per actor call (the local engine's batch too)
LOOPBACK_ENV = {
    # Ray's node address is the loopback address (Ray then binds its servers there
    # instead of on every interface), and Ray sends no usage statistics.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def default_actors(num_cpus: int, threads_per_actor: int = 1) -> int:
    """Actors for ``num_cpus``: one CPU is left for reading and writing (with every CPU
    taken by actors the read task never gets one: Ray issue #44687)."""
    return max(1, (num_cpus - 1) // threads_per_actor)


def start_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = False):
    """Join the cluster at ``address`` (e.g. ``auto``), or start an embedded local Ray
    (``num_cpus``: None for all cores) listening on 127.0.0.1 only, no dashboard."""
    if address is None:
        os.environ.update(LOOPBACK_ENV)  # read by Ray at import and by its processes
    import ray

    if address is None:
        try:  # Ray read the variable at import if it was imported before us: set it too
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False
        except ImportError:  # another Ray layout: the environment variable must do
            pass
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"log_to_driver": not quiet, "configure_logging": not quiet}
    if address is None:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = not quiet
    if quiet:
        import logging

        logging.getLogger("ray.data").setLevel(logging.ERROR)
    return ray


class FaceRowsActor:
    """A Ray actor that holds one FaceAnalyzer and turns batches into face rows."""

    def __init__(
        self,
        analyzer_kwargs: dict[str, Any] | None = None,
        threads: int = 1,
        aligned: bool = False,
        model_sha256: str | None = None,
    ) -> None:
        from faceattrs.batch.schema import analyzer_sha256, face_schema, head_columns
        from faceattrs.pipeline.analyzer import FaceAnalyzer

        kwargs = dict(analyzer_kwargs or {})
        kwargs.update(threads=threads, spinning=False)
        self.analyzer = FaceAnalyzer(**kwargs)
        spec = self.analyzer.spec
        self.extras = head_columns(self.analyzer)
        self.schema = face_schema(spec.genders, spec.races, self.extras)
        self.model_sha256 = model_sha256 or analyzer_sha256(self.analyzer)
        self.aligned = aligned

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        from faceattrs.batch.analysis import analyse_loaded, load
        from faceattrs.batch.schema import face_rows

        paths = [str(p) for p in batch["path"]]
        max_pixels = self.analyzer.max_pixels
        if "image" in batch:
            loaded = [_rgb_to_bgr(image) for image in batch["image"]]
        elif "bytes" in batch:
            loaded = [load(bytes(b), "<bytes>", max_pixels) for b in batch["bytes"]]
        else:
            loaded = [load(p, p, max_pixels) for p in paths]
        keys = list(zip(_column(batch, "file_size", len(paths)),
                        _column(batch, "file_mtime_ns", len(paths)), strict=True))  # fmt: skip
        images = analyse_loaded(self.analyzer, paths, loaded, keys, self.aligned)
        return face_rows(images, self.schema, self.model_sha256, self.extras)


def _rgb_to_bgr(image: Any) -> tuple[np.ndarray | None, str | None]:
    try:
        rgb = np.asarray(image)
        if rgb.ndim == 2:
            rgb = np.stack([rgb] * 3, axis=-1)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
            return None, f"expected an RGB uint8 image, got {rgb.dtype} {rgb.shape}"
        return np.ascontiguousarray(rgb[..., 2::-1]), None
    except Exception as exc:
        return None, " ".join(str(exc).split()) or type(exc).__name__


def _column(batch: dict[str, np.ndarray], name: str, n: int) -> list[int | None]:
    if name not in batch:
        return [None] * n
    return [None if v is None or v != v or v == MISSING else int(v) for v in batch[name]]


def analyze_dataset(
    dataset: Any,
    *,
    analyzer_kwargs: dict[str, Any] | None = None,
    actors: int | None = None,
    threads_per_actor: int = 1,
    images_per_batch: int = IMAGES_PER_BATCH,
    aligned: bool = False,
    model_sha256: str | None = None,
) -> Any:
    """A Dataset of face rows (:func:`faceattrs.batch.schema.face_schema`) from a
    Dataset of paths or images: ``map_batches`` over ``actors`` :class:`FaceRowsActor`
    (default: the cluster's CPUs minus one, divided by ``threads_per_actor``), each
    with ``threads_per_actor`` ONNX Runtime threads and that many CPUs reserved."""
    import ray
    import ray.data

    if actors is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = default_actors(cpus, threads_per_actor)
    return dataset.map_batches(
        FaceRowsActor,
        fn_constructor_kwargs={
            "analyzer_kwargs": analyzer_kwargs,
            "threads": threads_per_actor,
            "aligned": aligned,
            "model_sha256": model_sha256,
        },
        batch_size=images_per_batch,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads_per_actor,
    )


def paths_dataset(
    paths: Sequence[str], keys: Sequence[tuple[int | None, int | None]], images_per_block: int
) -> Any:
    """A Dataset with ``path``, ``file_size``, ``file_mtime_ns``, in blocks of images.

    A missing key is stored as -1, not null: Ray hands an int64 column with nulls to the
    actor as float64 and the nanoseconds would lose their last digits."""
    import ray.data

    table = pa.table({
        "path": pa.array(list(paths), pa.string()),
        "file_size": pa.array([MISSING if k[0] is None else k[0] for k in keys], pa.int64()),
        "file_mtime_ns": pa.array([MISSING if k[1] is None else k[1] for k in keys], pa.int64()),
    })  # fmt: skip
    step = max(1, images_per_block)
    return ray.data.from_arrow([table.slice(i, step) for i in range(0, len(table), step)])


def write_parts(
    rows: Any, folder: str | os.PathLike, run_id: str, rows_per_part: int = DEFAULT_IMAGES_PER_PART
) -> dict[str, int]:
    """Write a Dataset of face rows as atomically committed parts into ``folder``; the
    totals written: ``rows``, ``faces`` and ``errors`` (rows with ``error`` set)."""
    sink = _atomic_parts_sink(Path(folder), run_id, rows_per_part)
    rows.write_datasink(sink)
    return sink.totals


def _atomic_parts_sink(folder: Path, run_id: str, rows_per_part: int):
    from ray.data import Datasink

    class AtomicParts(Datasink):
        """One part per write task: temporary file, fsync, rename."""

        def __init__(self) -> None:
            self.totals = {"rows": 0, "faces": 0, "errors": 0}

        def write(self, blocks: Iterable[Any], ctx: Any) -> dict[str, int]:
            tables = [block for block in blocks if block.num_rows]
            if not tables:
                return {"rows": 0, "faces": 0, "errors": 0}
            table = pa.concat_tables(tables)
            stem = f"{run_id}-t{ctx.task_idx:06d}"
            n = 0
            while (folder / part_name(stem, n)).exists():  # a retried task: never overwrite
                n += 1
            write_table_atomic(table, folder / part_name(stem, n))
            return {
                "rows": table.num_rows,
                "faces": table.num_rows - table.column("face_index").null_count,
                "errors": table.num_rows - table.column("error").null_count,
            }

        def on_write_complete(self, write_result: Any) -> None:
            returns = [r for r in write_result.write_returns if r]
            self.totals = {k: sum(r[k] for r in returns) for k in self.totals}

        @property
        def min_rows_per_write(self) -> int:
            return rows_per_part

        def get_name(self) -> str:
            return "FaceattrsParts"

    return AtomicParts()


def collect_rows(rows: Any) -> pa.Table:
    """A Dataset of face rows as one Arrow table in the driver (for small results)."""
    import ray

    tables = [t for t in ray.get(rows.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables(tables) if tables else pa.table({})
