"""Analyse a batch of inputs into :class:`AnalysedImage` records (used by Ray actors).

The same steps and the same error texts as ``faceattrs analyze`` (local engine): an
unreadable input becomes a record with ``error`` set, a batch the model fails on is
retried image by image so one bad image cannot fail the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faceattrs.batch.schema import AnalysedImage
from faceattrs.media import MediaError, read_image


def load(source: Any, name: str, max_pixels: int | None) -> tuple[np.ndarray | None, str | None]:
    """``(bgr, None)`` or ``(None, error)`` for a path or encoded bytes."""
    try:
        return read_image(source, max_pixels=max_pixels), None
    except MediaError as exc:  # the record holds the path: keep just the reason
        return None, str(exc).removeprefix(f"{name}: ")
    except Exception as exc:  # never let one file stop the run
        return None, " ".join(str(exc).split()) or type(exc).__name__


def analyse_loaded(
    analyzer: Any,
    paths: Sequence[str],
    loaded: Sequence[tuple[np.ndarray | None, str | None]],
    keys: Sequence[tuple[int | None, int | None]],
    aligned: bool = False,
) -> list[AnalysedImage]:
    """Run the model over the readable images; one record per input, in order."""
    images = [bgr for bgr, error in loaded if error is None]
    try:
        results: list[Any] = _run_model(analyzer, images, aligned)
    except Exception:  # isolate the image that breaks the batch
        results = []
        for bgr in images:
            try:
                results.append(_run_model(analyzer, [bgr], aligned)[0])
            except Exception as exc:
                results.append(exc)
    found = iter(results)
    out = []
    for path, (bgr, error), (size, mtime_ns) in zip(paths, loaded, keys, strict=True):
        faces: Any = [] if error is not None else next(found)
        if isinstance(faces, Exception):
            error, faces = f"analysis failed: {' '.join(str(faces).split()) or type(faces)}", []
        height, width = (None, None) if bgr is None else bgr.shape[:2]
        out.append(AnalysedImage(path, faces, error, width, height, size, mtime_ns))
    return out


def _run_model(analyzer: Any, images: list[np.ndarray], aligned: bool) -> list:
    if aligned:
        return [[face] for face in analyzer.analyze_aligned(images)]
    return analyzer.analyze_batch(images)
