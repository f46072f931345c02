"""``faceattrs analyze --format parquet``: one Parquet file, or a folder of parts that
a killed run resumes (``--resume``), with the local engine or Ray Data (``--engine ray``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from faceattrs.batch.extras import MissingExtraError, require
from faceattrs.cli.common import CliError, model_kwargs, positive_int


def add_options(parser: argparse.ArgumentParser) -> None:
    """The Parquet / resume / engine options of ``analyze``."""
    group = parser.add_argument_group("many photos (--format parquet)")
    group.add_argument(
        "--resume", action="store_true",
        help="-o is a folder of parts: skip the inputs it already holds (same path, size "
        "and modification time) and add parts for the rest",
    )  # fmt: skip
    group.add_argument(
        "--engine", choices=("local", "ray"), default="local",
        help="local: this process; ray: Ray Data actors, -o is a folder "
        "(pip install 'faceattrs[ray]') (default: %(default)s)",
    )  # fmt: skip
    group.add_argument(
        "--address", metavar="ADDR",
        help="Ray cluster to join (e.g. auto after `ray start`); default: an embedded local Ray",
    )  # fmt: skip
    group.add_argument(
        "--workers", type=positive_int, metavar="N",
        help="Ray actors (default: CPUs minus one, over --threads, which with --engine ray "
        "means ONNX Runtime threads per actor, default 1)",
    )  # fmt: skip
    group.add_argument(
        "--part-size", type=positive_int, default=1000, metavar="N",
        help="images per committed part (default: %(default)s)",
    )  # fmt: skip


def folder_output(args: argparse.Namespace) -> bool:
    """Whether -o names a folder of parts rather than one file."""
    out = args.output or ""
    return args.resume or args.engine == "ray" or out.endswith(("/", os.sep)) or Path(out).is_dir()


def check_options(args: argparse.Namespace, fmt: str) -> None:
    """Usage errors of the batch options, before any work."""
    if fmt != "parquet":
        for flag, used in (("--resume", args.resume), ("--engine ray", args.engine == "ray"),
                           ("--address", args.address), ("--workers", args.workers)):  # fmt: skip
            if used:
                raise CliError(f"{flag} needs --format parquet")
        return
    if not args.output or args.output == "-":
        raise CliError("--format parquet needs -o OUT.parquet or -o FOLDER/")
    if args.annotate:
        raise CliError("--annotate is not available with --format parquet")
    if args.address and args.engine != "ray":
        raise CliError("--address needs --engine ray")
    try:
        require("pyarrow", "parquet")
        if args.engine == "ray":
            require("ray.data", "ray")
    except MissingExtraError as exc:
        raise CliError(str(exc)) from None


def run(args: argparse.Namespace, inputs: Sequence[tuple[Path, Path]], analyse: Callable) -> int:
    """Analyse ``inputs`` into Parquet; ``analyse`` is the local engine's generator."""
    from faceattrs.batch.resume import OutputFolderError, prepare_folder
    from faceattrs.batch.schema import analyzer_sha256, face_schema, head_columns, stat_key
    from faceattrs.pipeline.analyzer import FaceAnalyzer

    threads = args.threads or (1 if args.engine == "ray" else None)
    kwargs = {**model_kwargs(args), "min_face": args.min_face, "threads": threads}
    analyzer = FaceAnalyzer(**kwargs)
    spec = analyzer.spec  # a bad model is a usage error, before any output
    sha = analyzer_sha256(analyzer)
    extras = head_columns(analyzer)
    schema = face_schema(spec.genders, spec.races, extras)
    paths = [str(path) for path, _ in inputs]
    folder = folder_output(args)
    if folder:
        settings = {
            "schema": schema.metadata[b"faceattrs_schema"].decode(), "model_sha256": sha,
            "detector": args.detector, "score_threshold": args.score_threshold,
            "min_face": args.min_face, "max_pixels": args.max_pixels, "aligned": args.aligned,
        }  # fmt: skip
        try:
            done = prepare_folder(args.output, settings, args.resume)
        except OutputFolderError as exc:
            raise CliError(str(exc)) from None
    elif not Path(args.output).resolve().parent.is_dir():
        raise CliError(f"-o {args.output}: its folder does not exist")
    keys = [stat_key(p) for p in paths]
    if folder and len(done):
        todo = ~done.contains([(p, *k) for p, k in zip(paths, keys, strict=True)])
        skipped = len(paths) - int(todo.sum())
        paths = [p for p, keep in zip(paths, todo, strict=True) if keep]
        keys = [k for k, keep in zip(keys, todo, strict=True) if keep]
        if not args.quiet:
            print(f"faceattrs: resuming: {skipped} images already done, {len(paths)} to go",
                  file=sys.stderr)  # fmt: skip
    started = time.perf_counter()
    if args.engine == "ray":
        failed, faces = _run_ray(args, paths, keys, kwargs, sha)
    else:
        failed, faces = _run_local(
            args, analyzer, paths, keys, schema, sha, folder, analyse, extras
        )
    if not args.quiet:
        seconds = time.perf_counter() - started
        print(f"faceattrs: {len(paths)} images, {faces} faces, {failed} failed "
              f"({seconds:.1f} s) -> {args.output}", file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def _run_local(
    args, analyzer, paths, keys, schema, sha, folder: bool, analyse, extras=()
) -> tuple[int, int]:
    from faceattrs.batch.parquet import FileWriter, PartWriter
    from faceattrs.batch.schema import AnalysedImage

    if folder:
        writer: Any = PartWriter(
            args.output, schema, sha, images_per_part=args.part_size, extras=extras
        )
    else:
        writer = FileWriter(
            args.output, schema, sha, images_per_group=args.part_size, extras=extras
        )
    failed = found = 0
    with writer, _progress(len(paths), args.quiet) as progress:
        results: Iterator = analyse(analyzer, [Path(p) for p in paths], args)
        for path, (size, mtime), (bgr, faces, error) in zip(paths, keys, results, strict=True):
            height, width = (None, None) if bgr is None else bgr.shape[:2]
            writer.add(AnalysedImage(path, faces, error, width, height, size, mtime))
            failed += error is not None
            found += len(faces)
            if error is not None and not args.quiet:
                progress.write(f"faceattrs: {path}: {error}", file=sys.stderr)
            progress.update(1)
    return failed, found


def _run_ray(args, paths, keys, analyzer_kwargs, sha) -> tuple[int, int]:
    from faceattrs.batch import ray_engine
    from faceattrs.batch.parquet import new_run_id

    if not paths:
        return 0, 0
    ray = ray_engine.start_ray(args.address, quiet=args.quiet)
    threads = analyzer_kwargs["threads"]
    actors = args.workers or ray_engine.default_actors(
        int(ray.cluster_resources().get("CPU", 1)), threads
    )
    dataset = ray_engine.paths_dataset(paths, keys, ray_engine.IMAGES_PER_BATCH)
    rows = ray_engine.analyze_dataset(
        dataset, analyzer_kwargs=analyzer_kwargs, actors=actors, threads_per_actor=threads,
        aligned=args.aligned, model_sha256=sha,
    )  # fmt: skip
    totals = ray_engine.write_parts(rows, args.output, new_run_id(), rows_per_part=args.part_size)
    return totals["errors"], totals["faces"]  # an image with an error has one row


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, unit="img", file=sys.stderr, disable=disable, dynamic_ncols=True)
