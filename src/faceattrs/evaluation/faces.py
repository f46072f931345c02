"""Test faces the way inference sees them: detect, keep the face nearest the centre, align.

Dataset images (UTKFace 200x200 crops, FairFace 160x160 faces) are tight crops, so they go
through :func:`faceattrs.data.aligned_cache.find_centre_face` (padded canvas, same detector
settings as the aligned caches) and :func:`faceattrs.pipeline.alignment.align` with the model's own
spec, exactly as :class:`faceattrs.pipeline.analyzer.FaceAnalyzer` aligns a face. Alternatively the
crops come from an aligned cache (``faceattrs data align-cache``) when it was cut with the
model's template and crop box; it is faster and is what training saw. Misses are kept as rows
(``found`` False) with their reason, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from faceattrs.spec import ModelSpec


@dataclass(frozen=True)
class EvalFaces:
    """Aligned model crops of the faces found; one ``found`` flag per input image."""

    crops_bgr: np.ndarray  # (found, S, S, 3) uint8, S = spec.input_size
    found: np.ndarray  # (N,) bool, in input order
    misses: list[dict]  # {"name", "reason"} for every image without a face
    source: str  # "detector" or "cache:<path>"

    @property
    def n(self) -> int:
        return len(self.found)


@dataclass(frozen=True)
class LocatedFaces:
    """The centre face's keypoints in every image (None for a miss); model-independent."""

    paths: list[Path]
    names: list[str]
    keypoints: list[np.ndarray | None]  # (6, 2) pixels of the image, or None
    misses: list[dict]


def locate_faces(
    paths: Sequence[str | Path], names: Sequence[str], detector, progress: bool = True
) -> LocatedFaces:
    """Run ``detector`` on every image and keep the face nearest the centre."""
    from faceattrs.data.aligned_cache import find_centre_face
    from faceattrs.media import MediaError, read_image

    keypoints: list[np.ndarray | None] = []
    misses = []
    for path, name in tqdm(
        list(zip(paths, names, strict=True)), desc="detect", unit="img", disable=not progress
    ):
        try:
            face = find_centre_face(read_image(path), detector)
        except (MediaError, OSError) as exc:
            misses.append({"name": name, "reason": f"unreadable: {exc}"})
            keypoints.append(None)
            continue
        if not face.found:
            misses.append({"name": name, "reason": face.reason})
        keypoints.append(face.keypoints if face.found else None)
    return LocatedFaces([Path(p) for p in paths], list(names), keypoints, misses)


def align_located(located: LocatedFaces, spec: ModelSpec) -> EvalFaces:
    """Cut the located faces with the model's alignment (as ``FaceAnalyzer`` does)."""
    from faceattrs.media import read_image
    from faceattrs.pipeline.alignment import align

    size = spec.input_size
    crops = [
        align(read_image(path), kps[None], spec)[0]
        for path, kps in zip(located.paths, located.keypoints, strict=True)
        if kps is not None
    ]
    found = np.array([kps is not None for kps in located.keypoints], bool)
    stacked = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return EvalFaces(stacked, found, list(located.misses), "detector")


def detect_faces(
    paths: Sequence[str | Path],
    names: Sequence[str],
    detector,
    spec: ModelSpec,
    progress: bool = True,
) -> EvalFaces:
    """Run ``detector`` on every image, keep the centre face, align it with ``spec``."""
    return align_located(locate_faces(paths, names, detector, progress), spec)


def check_cache_framing(cache_spec: ModelSpec, spec: ModelSpec) -> None:
    """Raise ValueError unless the cache was cut with the model's template and crop box."""
    same = np.allclose(cache_spec.template, spec.template, atol=1e-6) and np.allclose(
        cache_spec.crop_box, spec.crop_box, atol=1e-6
    )
    if not same:
        raise ValueError(
            "the aligned cache was cut with another template or crop box than the model's "
            f"(cache {cache_spec.template} {cache_spec.crop_box}, model {spec.template} "
            f"{spec.crop_box}); evaluate without --cache"
        )
    if cache_spec.input_size < spec.input_size:
        raise ValueError(
            f"the aligned cache's crops ({cache_spec.input_size} px) are smaller than "
            f"the model input ({spec.input_size} px)"
        )


def cached_faces(cache_path: str | Path, names: Sequence[str], spec: ModelSpec) -> EvalFaces:
    """The crops of ``names`` from an aligned cache, resized to the model input (INTER_AREA)."""
    from faceattrs.data.aligned_cache import load_aligned_cache

    cache = load_aligned_cache(cache_path)
    check_cache_framing(cache.spec, spec)
    rows = cache.rows(list(names))
    found = cache.found[rows]
    reasons = {}
    report = Path(cache_path).with_suffix(".json")
    if report.is_file():
        reasons = {m["name"]: m["reason"] for m in json.loads(report.read_text())["misses"]}
    misses = [
        {"name": n, "reason": reasons.get(n, "no face in the aligned cache")}
        for n, ok in zip(names, found, strict=True)
        if not ok
    ]
    size = spec.input_size
    crops = np.empty((int(found.sum()), size, size, 3), np.uint8)
    for i, row in enumerate(rows[found]):
        rgb = cache.crops[row]
        if rgb.shape[0] != size:
            rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        crops[i] = rgb[..., ::-1]
    return EvalFaces(crops, found, misses, f"cache:{cache_path}")


def default_detector(detector: str = "full", threads: int | None = None):
    """A detector with ``FaceAnalyzer``'s defaults (score 0.5, faces >= 20 px), as the aligned
    caches were made."""
    from faceattrs.pipeline.detection import FaceDetector

    return FaceDetector(detector, score_threshold=0.5, min_face=20, threads=threads)


def load_faces(
    paths: Sequence[Path],
    names: Sequence[str],
    spec: ModelSpec,
    cache: str | Path | None = None,
    located: LocatedFaces | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> EvalFaces:
    """Faces from ``cache`` when given, else from ``located`` (earlier detections of the same
    images), else from a new detector run."""
    if cache is not None:
        return cached_faces(cache, names, spec)
    if located is None:
        located = locate_faces(paths, names, default_detector(threads=threads), progress)
    elif located.names != list(names):
        raise ValueError("the located faces belong to other images")
    return align_located(located, spec)


def face_embeddings(
    dataset: str,
    names: Sequence[str],
    found: np.ndarray,
    cache: str | Path | None = None,
    located: LocatedFaces | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Identity embeddings (found, D) and the embedding network's features (found, F; None
    without them) of the faces found, in order, for the accurate tier: from the embedding
    cache beside an aligned ``cache`` (``embeddings_<dataset>.npz``,
    ``faceattrs.data.embedding_cache``: the same detections), else from the original images
    at the ``located`` keypoints, as the analyzer does."""
    if cache is not None:
        from faceattrs.data.embedding_cache import load_embedding_cache

        emb = load_embedding_cache(Path(cache).parent / f"embeddings_{dataset}.npz")
        rows = emb.rows(list(names))[found]
        if not emb.found[rows].all():
            raise ValueError("the embedding cache lacks faces the aligned cache has")
        features = None if emb.features is None else emb.features[rows].astype(np.float32)
        return emb.embeddings[rows], features
    if located is None or located.names != list(names):
        raise ValueError("the accurate tier needs the located faces of these images")
    from faceattrs.media import read_image
    from faceattrs.pipeline.embedding import EmbeddingModel

    embedder = EmbeddingModel(threads=threads)
    pairs = [(p, k) for p, k in zip(located.paths, located.keypoints, strict=True) if k is not None]
    rows = [
        embedder.embed_with_features(embedder.chips(read_image(path), kps[None]))
        for path, kps in tqdm(pairs, desc="embed", unit="face", disable=not progress)
    ]
    if not rows:
        return np.zeros((0, embedder.spec.embedding_size), np.float32), None
    return np.concatenate([e for e, _ in rows]), np.concatenate([f for _, f in rows])


def miss_summary(faces: EvalFaces) -> dict:
    """Counts of misses by reason (the detail of the reason after ``(`` dropped)."""
    counts: dict[str, int] = {}
    for miss in faces.misses:
        key = miss["reason"].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    return {
        "images": faces.n,
        "found": int(faces.found.sum()),
        "missed": faces.n - int(faces.found.sum()),
        "miss_rate": (faces.n - int(faces.found.sum())) / max(faces.n, 1),
        "by_reason": counts,
        "source": faces.source,
    }
