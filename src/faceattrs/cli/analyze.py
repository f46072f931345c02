"""``faceattrs analyze PATH...``: analyse image files and folders.

One record per input image (see :mod:`faceattrs.output`). A bad input yields a
record with ``error`` set and the run goes on. Exit code: 0 when every input was
analysed, 1 when any failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from faceattrs.cli.batch import add_options as add_batch_options
from faceattrs.cli.batch import check_options as check_batch_options
from faceattrs.cli.batch import run as run_parquet
from faceattrs.cli.common import (
    CliError,
    add_model_options,
    check_not_an_input,
    model_kwargs,
    plural,
    printable,
    sigterm_interrupts,
)
from faceattrs.media import MediaError, read_image
from faceattrs.output import FORMATS, RecordWriter, make_record, open_output, write_bytes_atomic

IMAGES_PER_BATCH = 16  # images whose faces go through the model together
PIXELS_PER_BATCH = 40_000_000  # ... unless they are this big together
PREFETCH = 4  # images decoded ahead of the model, in a background thread
ENCODABLE = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "analyze",
        help="find faces in images and estimate perceived age, gender, race and expression",
        description=(
            "Analyse image files and folders (recursively). Writes one record per image: "
            "JSON Lines (default), a JSON array, or CSV with one row per face (an image "
            "with no face or with an error gets one row with the face columns empty). "
            "Exit code 0: all inputs analysed; 1: some inputs failed; 2: usage error."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument(
        "--format", choices=(*FORMATS, "parquet"),
        help="output format (default: from --output suffix, jsonl); parquet: "
        "pip install 'faceattrs[parquet]'",
    )  # fmt: skip
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    parser.add_argument(
        "--annotate", metavar="DIR",
        help="write copies with boxes and labels drawn into DIR (one input image: DIR may "
        "be an image file name, e.g. out.jpg)",
    )  # fmt: skip
    parser.add_argument(
        "--aligned",
        action="store_true",
        help="inputs are aligned face crops framed like UTKFace's: skip detection",
    )
    add_model_options(parser, attributes=True)
    add_batch_options(parser)
    parser.add_argument(
        "--embeddings", action="store_true",
        help="add each face's identity embedding (biometric data; JSON/JSONL only)",
    )  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fmt = args.format or _format_from_suffix(args.output)
    check_batch_options(args, fmt)
    if args.embeddings and fmt not in ("json", "jsonl"):
        shown = {"csv": "CSV", "parquet": "Parquet"}.get(fmt, fmt)
        raise CliError(f"--embeddings needs JSON or JSON Lines output, not {shown}")
    annotate_dir = Path(args.annotate) if args.annotate else None
    annotate_file = None  # `--annotate out.jpg`: the one input image, drawn into that file
    if annotate_dir is not None and _names_an_image(annotate_dir):
        annotate_file, annotate_dir = annotate_dir, None
    if annotate_dir is not None and annotate_dir.exists() and not annotate_dir.is_dir():
        raise CliError(f"--annotate {annotate_dir}: exists and is not a folder")
    inputs = collect_inputs(args.paths, annotate_dir)
    if not inputs:
        raise CliError(f"no images found in {', '.join(map(printable, args.paths))}")
    check_not_an_input(args.output, [path for path, _ in inputs], "--output")
    if fmt == "parquet":
        return run_parquet(args, inputs, analyse)
    if annotate_file is not None:
        if len(inputs) != 1:
            raise CliError(
                f"--annotate {printable(annotate_file)} names one image file but there are "
                f"{len(inputs)} input images; give a folder"
            )
        check_not_an_input(annotate_file, [inputs[0][0]], "--annotate")
        destinations = [annotate_file]
    elif annotate_dir is not None:
        destinations = annotation_paths(inputs, annotate_dir)
    else:
        destinations = [None] * len(inputs)

    from faceattrs.pipeline.analyzer import FaceAnalyzer
    from faceattrs.spec import ModelSpec

    analyzer = FaceAnalyzer(
        min_face=args.min_face, embeddings=args.embeddings, **model_kwargs(args)
    )
    analyzer.load_heads()  # the models asked for, now: a bad model is a usage error
    labels = analyzer.spec if {"age", "gender", "race"} & set(analyzer.attributes) else ModelSpec()
    expressions = analyzer.expression_model.spec.labels if analyzer.expression_model else ()
    progress = _progress(len(inputs), args.quiet)
    failed = faces_found = 0
    try:
        with sigterm_interrupts(), open_output(args.output) as stream:
            writer = RecordWriter(
                stream, fmt, labels.genders, labels.races, expressions, analyzer.attributes
            )
            for (path, _), destination, (bgr, faces, error) in zip(
                inputs, destinations, analyse(analyzer, [p for p, _ in inputs], args), strict=True
            ):
                if error is None and destination is not None:
                    error = _write_annotated(bgr, faces, destination)
                writer.write(make_record(str(path), faces, error))
                failed += error is not None
                faces_found += len(faces)
                if error is not None and not args.quiet:
                    progress.write(f"faceattrs: {printable(path)}: {error}", file=sys.stderr)
                progress.update(1)
            writer.close()
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 1
    finally:
        progress.close()
    if not args.quiet:
        print(
            f"faceattrs: {plural(len(inputs), 'image')}, {plural(faces_found, 'face')}, "
            f"{failed} failed",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _format_from_suffix(output: str | None) -> str:
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    return suffix if suffix in (*FORMATS, "parquet") else "jsonl"


def _names_an_image(path: Path) -> bool:
    """Whether ``--annotate PATH`` names an image file (a suffix we encode), not a folder."""
    return path.suffix.lower() in ENCODABLE and not path.is_dir()


def collect_inputs(paths: Sequence[str], annotate_dir: Path | None) -> list[tuple[Path, Path]]:
    """Every input image with its path relative to the argument it came from."""
    from faceattrs.media import iter_image_paths

    inputs = []
    for arg in paths:
        root = Path(arg)
        exclude = [annotate_dir] if annotate_dir is not None else []
        if annotate_dir is not None and _inside(root, annotate_dir):
            exclude = []  # the input itself: annotation_paths refuses to overwrite it
        for path in iter_image_paths([root], recursive=True, exclude=exclude):
            relative = path.relative_to(root) if root.is_dir() else Path(path.name)
            inputs.append((path, relative))
    return inputs


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or inside it."""
    return path.resolve().is_relative_to(folder.resolve())


def annotation_paths(inputs: Sequence[tuple[Path, Path]], folder: Path) -> list[Path]:
    """Where each input's annotated copy goes: DIR/relative path, made unique.

    A folder argument's images keep their path relative to that folder, a file
    argument goes by its name. Refuses (usage error) to overwrite any input.
    """
    sources = {path.resolve() for path, _ in inputs}
    taken: set[Path] = set()
    out = []
    for path, relative in inputs:
        if relative.suffix.lower() not in ENCODABLE:
            relative = relative.with_name(relative.name + ".png")
        candidate = folder / relative
        n = 1
        while candidate.resolve() in taken:
            n += 1
            candidate = folder / relative.with_name(f"{relative.stem}-{n}{relative.suffix}")
        if candidate.resolve() in sources:
            raise CliError(f"--annotate would overwrite the input {path}; choose another folder")
        taken.add(candidate.resolve())
        out.append(candidate)
    return out


def analyse(analyzer, paths: Sequence[Path], args: argparse.Namespace) -> Iterator[tuple]:
    """Yield ``(bgr | None, faces, error | None)`` per path, in order, batching the model."""
    batch: list[tuple[np.ndarray | None, str | None]] = []
    pixels = 0
    for image, error in _prefetch(paths, args.max_pixels):
        batch.append((image, error))
        pixels += image.size // 3 if image is not None else 0
        if len(batch) >= IMAGES_PER_BATCH or pixels >= PIXELS_PER_BATCH:
            yield from _analyse_batch(analyzer, batch, args.aligned)
            batch, pixels = [], 0
    if batch:
        yield from _analyse_batch(analyzer, batch, args.aligned)


def _analyse_batch(analyzer, batch, aligned: bool) -> Iterator[tuple]:
    images = [image for image, error in batch if error is None]
    try:
        results = _run_model(analyzer, images, aligned)
    except Exception:  # isolate the image that breaks the batch
        results = []
        for image in images:
            try:
                results.append(_run_model(analyzer, [image], aligned)[0])
            except Exception as exc:
                results.append(exc)
    found = iter(results)
    for image, error in batch:
        if error is not None:
            yield None, [], error
            continue
        faces = next(found)
        if isinstance(faces, Exception):
            yield image, [], f"analysis failed: {' '.join(str(faces).split()) or type(faces)}"
        else:
            yield image, faces, None


def _run_model(analyzer, images: list[np.ndarray], aligned: bool) -> list:
    if aligned:
        return [[face] for face in analyzer.analyze_aligned(images)]
    return analyzer.analyze_batch(images)


def _prefetch(paths: Sequence[Path], max_pixels: int) -> Iterator[tuple[np.ndarray | None, str]]:
    """Decode images in a background thread, a few ahead, in order."""

    def load(path: Path) -> tuple[np.ndarray | None, str | None]:
        try:
            return read_image(path, max_pixels=max_pixels), None
        except MediaError as exc:  # the record holds the path: keep just the reason
            return None, str(exc).removeprefix(f"{path}: ")
        except Exception as exc:  # never let one file stop the run
            return None, " ".join(str(exc).split()) or type(exc).__name__

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceattrs-read") as pool:
        pending: collections.deque[Future] = collections.deque()
        for path in paths:
            pending.append(pool.submit(load, path))
            if len(pending) > PREFETCH:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _write_annotated(bgr: np.ndarray, faces: list, destination: Path) -> str | None:
    import cv2

    from faceattrs.drawing import annotate

    suffix = destination.suffix.lower()
    try:
        ok, encoded = cv2.imencode(
            suffix if suffix in ENCODABLE else ".png", annotate(bgr, faces, legend=True)
        )
        if not ok:
            return f"could not encode the annotated copy {destination}"
        write_bytes_atomic(destination, encoded.tobytes())
    except (OSError, cv2.error) as exc:
        return f"could not write the annotated copy {destination} ({exc})"
    return None


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, unit="img", file=sys.stderr, disable=disable, dynamic_ncols=True)
