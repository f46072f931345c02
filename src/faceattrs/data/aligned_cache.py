"""Training crops made the way inference makes them: detect, pick the centre face, align.

Each dataset image (UTKFace 200x200 crops, FairFace 160x160 faces) goes through the same
``FaceDetector`` and ``align`` as :class:`~faceattrs.pipeline.analyzer.FaceAnalyzer`. Tight
crops leave the detector little context, so the image is first padded onto a larger canvas
(``pad`` x its side on every side; black, which finds more faces than replicated edges: see
bench/bench_aligned_cache.py); keypoints are mapped back and the crop is cut from the
original image (black outside it, like inference on a photo). The face whose box centre is
nearest the image centre is kept; an image with no face within ``max_offset`` x its side of
the centre is a miss. Nothing is dropped silently: the cache holds one row per input
(``found`` False for misses) and a JSON report lists every miss with its reason.

No torch here; ``load_aligned_cache`` gives numpy arrays.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from faceattrs.pipeline.alignment import (
    NUM_ALIGN_POINTS,
    align,
    estimate_transform,
    template_points,
)
from faceattrs.spec import ModelSpec

BORDERS = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
NUM_KEYPOINTS = 6
DEFAULT_PAD = 0.5
DEFAULT_BORDER = "constant"  # black: finds more faces than replicated edges (bench)
DEFAULT_MAX_OFFSET = 0.25


class Detector(Protocol):
    def detect(self, bgr: np.ndarray) -> Any: ...


@dataclass(frozen=True)
class CentreFace:
    """The face chosen in one image (keypoints in pixels of the unpadded image)."""

    found: bool
    reason: str = ""  # why not found
    xyxy: np.ndarray | None = None  # (4,)
    score: float = float("nan")
    keypoints: np.ndarray | None = None  # (6, 2)
    n_faces: int = 0
    offset: float = float("nan")  # centre distance / image side


def pad_image(
    bgr: np.ndarray, pad: float, border: str = DEFAULT_BORDER
) -> tuple[np.ndarray, int, int]:
    """``(canvas, dx, dy)``: ``bgr`` with ``pad`` x width (height) added on each side."""
    if pad <= 0:
        return bgr, 0, 0
    dy, dx = round(pad * bgr.shape[0]), round(pad * bgr.shape[1])
    canvas = cv2.copyMakeBorder(bgr, dy, dy, dx, dx, BORDERS[border], value=(0, 0, 0))
    return canvas, dx, dy


def find_centre_face(
    bgr: np.ndarray,
    detector: Detector,
    pad: float = DEFAULT_PAD,
    border: str = DEFAULT_BORDER,
    max_offset: float = DEFAULT_MAX_OFFSET,
) -> CentreFace:
    """Detect on the padded image and return the face nearest the image centre."""
    canvas, dx, dy = pad_image(bgr, pad, border)
    dets = detector.detect(canvas)
    if len(dets) == 0:
        return CentreFace(False, "no face detected")
    shift = np.array([dx, dy], np.float32)
    xyxy = np.asarray(dets.xyxy, np.float32) - np.tile(shift, 2)
    keypoints = np.asarray(dets.keypoints, np.float32) - shift
    height, width = bgr.shape[:2]
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    dist = np.linalg.norm(centres - [width / 2, height / 2], axis=1) / max(height, width)
    best = int(np.argmin(dist))
    if dist[best] > max_offset:
        return CentreFace(
            False,
            f"no face near the centre ({len(dets)} found, nearest at {dist[best]:.2f} x side)",
            n_faces=len(dets),
            offset=float(dist[best]),
        )
    return CentreFace(
        True,
        "",
        xyxy[best],
        float(np.asarray(dets.scores)[best]),
        keypoints[best],
        len(dets),
        float(dist[best]),
    )


def outside_fraction(keypoints: np.ndarray, image_hw: tuple[int, int], spec: ModelSpec) -> float:
    """The share of the aligned crop's pixels that fall outside the source image (black)."""
    size = spec.input_size
    matrix = estimate_transform(keypoints[:NUM_ALIGN_POINTS], template_points(spec, size))
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    inside = (src_x >= 0) & (src_x < image_hw[1]) & (src_y >= 0) & (src_y < image_hw[0])
    return float(1.0 - inside.mean())


@dataclass(frozen=True)
class AlignedCache:
    """A loaded cache: one row per input image, in input order."""

    names: np.ndarray  # (N,) str
    crops: np.ndarray  # (N, S, S, 3) uint8 RGB; zeros where not found
    found: np.ndarray  # (N,) bool
    xyxy: np.ndarray  # (N, 4) float32, source pixels; NaN where not found
    keypoints: np.ndarray  # (N, 6, 2) float32, source pixels; NaN where not found
    scores: np.ndarray  # (N,) float32
    outside: np.ndarray  # (N,) float32, share of crop pixels outside the source image
    meta: dict

    @property
    def spec(self) -> ModelSpec:
        """The spec the crops were aligned with (``input_size`` = cache size)."""
        return ModelSpec.from_json(json.dumps(self.meta["spec"]))

    def rows(self, names: Sequence[str]) -> np.ndarray:
        """Row indices of ``names`` (KeyError naming the first one not in the cache)."""
        return row_indices(self.names, names, "the aligned cache")


def row_indices(cache_names: np.ndarray, names: Sequence[str], cache: str) -> np.ndarray:
    """Row indices of ``names`` among ``cache_names`` (KeyError naming the first one not
    there, in ``cache``)."""
    index = {str(n): i for i, n in enumerate(cache_names)}
    missing = next((n for n in names if n not in index), None)
    if missing is not None:
        raise KeyError(f"{missing!r} is not in {cache}")
    return np.array([index[n] for n in names], np.int64)


def build_aligned_cache(
    paths: Sequence[str | Path],
    out_npz: str | Path,
    spec: ModelSpec,
    detector: Detector,
    *,
    size: int = 80,
    names: Sequence[str] | None = None,
    pad: float = DEFAULT_PAD,
    border: str = DEFAULT_BORDER,
    max_offset: float = DEFAULT_MAX_OFFSET,
    progress: bool = True,
    meta: dict | None = None,
) -> dict:
    """Detect, align and save every image; returns the report (also written as JSON).

    ``out_npz`` gets names, crops (RGB uint8, ``size`` px, framed by ``spec``: template
    and crop box), found, xyxy, keypoints, scores, outside and meta (JSON); the report
    goes next to it (``.json``) with the count and name of every miss.
    """
    if border not in BORDERS:
        raise ValueError(f"unknown border {border!r}; choose from {sorted(BORDERS)}")
    names = [str(n) for n in (names if names is not None else (Path(p).name for p in paths))]
    if len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} paths")
    from faceattrs.media import MediaError, read_image

    cache_spec = replace(spec, input_size=int(size))
    n = len(paths)
    crops = np.zeros((n, size, size, 3), np.uint8)
    found = np.zeros(n, bool)
    xyxy = np.full((n, 4), np.nan, np.float32)
    keypoints = np.full((n, NUM_KEYPOINTS, 2), np.nan, np.float32)
    scores = np.full(n, np.nan, np.float32)
    outside = np.full(n, np.nan, np.float32)
    misses = []
    items = range(n)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="align", unit="img")
    start = time.perf_counter()
    for i in items:
        try:
            bgr = read_image(paths[i])
        except (MediaError, OSError) as exc:
            misses.append({"name": names[i], "reason": f"unreadable: {exc}"})
            continue
        face = find_centre_face(bgr, detector, pad, border, max_offset)
        if not face.found:
            misses.append({"name": names[i], "reason": face.reason})
            continue
        kps = face.keypoints[None]
        crops[i] = align(bgr, kps, cache_spec)[0][..., ::-1]
        found[i] = True
        xyxy[i], keypoints[i], scores[i] = face.xyxy, face.keypoints, face.score
        outside[i] = outside_fraction(face.keypoints, bgr.shape[:2], cache_spec)
    seconds = time.perf_counter() - start
    report = cache_report(names, found, outside, misses, seconds)
    report["settings"] = {
        "size": int(size),
        "pad": pad,
        "border": border,
        "max_offset": max_offset,
        "detector": detector_settings(detector),
        "spec": json.loads(cache_spec.to_json()),
        **(meta or {}),
    }
    out_npz = Path(out_npz)
    out_npz.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_npz.with_name(out_npz.name + ".tmp.npz")
    np.savez(
        tmp,
        names=np.asarray(names, dtype=str),
        crops=crops,
        found=found,
        xyxy=xyxy,
        keypoints=keypoints,
        scores=scores,
        outside=outside,
        meta=np.asarray(json.dumps(report["settings"])),
    )
    tmp.replace(out_npz)
    report_path = out_npz.with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=1) + "\n")
    return report


def cache_report(
    names: Sequence[str], found: np.ndarray, outside: np.ndarray, misses: list, seconds: float
) -> dict:
    n = len(names)
    kept = outside[found]
    return {
        "images": n,
        "found": int(found.sum()),
        "missed": n - int(found.sum()),
        "miss_rate": round((n - int(found.sum())) / max(n, 1), 5),
        "seconds": round(seconds, 2),
        "ms_per_image": round(1000 * seconds / max(n, 1), 2),
        "outside_fraction": {
            "mean": round(float(kept.mean()), 4) if len(kept) else None,
            "p90": round(float(np.quantile(kept, 0.9)), 4) if len(kept) else None,
            "share_over_5pct": round(float((kept > 0.05).mean()), 4) if len(kept) else None,
        },
        "misses": misses,
    }


def detector_settings(detector: Detector) -> dict:
    keys = ("model", "score_threshold", "iou_threshold", "min_face", "pyramid")
    return {k: getattr(detector, k) for k in keys if hasattr(detector, k)} or {
        "type": type(detector).__name__
    }


def load_aligned_cache(path: str | Path) -> AlignedCache:
    """Read a cache written by :func:`build_aligned_cache`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"aligned cache not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        return AlignedCache(
            z["names"],
            z["crops"],
            z["found"],
            z["xyxy"],
            z["keypoints"],
            z["scores"],
            z["outside"],
            json.loads(str(z["meta"])),
        )
