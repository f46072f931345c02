"""FER2013 expression data: the ``<split>/<expression>/*.jpg`` folders as uint8 arrays.

Decoding 30k small JPEGs takes a while on one thread, so each split is cached once as an
``.npz`` (grayscale 48x48 uint8 images, int64 labels, relative paths) in a cache folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceattrs.spec import EXPRESSIONS

__all__ = [
    "EXPRESSIONS", "FER_SIZE", "FerSplit", "align_pipeline", "load_fer_pipeline_crops",
    "load_fer_split", "pipeline_crops", "pipeline_keypoints",
]  # fmt: skip
FER_SIZE = 48


@dataclass(frozen=True)
class FerSplit:
    """One split: ``gray`` (N, 48, 48) uint8, ``labels`` (N,) int64, ``paths`` relative."""

    gray: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(EXPRESSIONS))


def list_fer_split(root: str | Path, split: str) -> list[tuple[str, int]]:
    """(relative path, label index) of every image of ``root/split``, sorted."""
    base = Path(root) / split
    if not base.is_dir():
        raise FileNotFoundError(f"FER split folder not found: {base}")
    items: list[tuple[str, int]] = []
    for label, name in enumerate(EXPRESSIONS):
        folder = base / name
        if not folder.is_dir():
            raise FileNotFoundError(f"FER class folder not found: {folder}")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".png"})
        items += [(f"{name}/{p.name}", label) for p in files]
    return items


def read_gray(path: str | Path) -> np.ndarray:
    """One image as grayscale uint8 (H, W)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def load_fer_split(
    root: str | Path, split: str, cache_dir: str | Path | None = None, limit: int | None = None
) -> FerSplit:
    """Load a split (cached as ``fer_<split>.npz`` under ``cache_dir`` when given)."""
    cache = Path(cache_dir) / f"fer_{split}.npz" if cache_dir and limit is None else None
    if cache is not None and cache.exists():
        with np.load(cache) as raw:
            return FerSplit(raw["gray"], raw["labels"], tuple(str(p) for p in raw["paths"]))
    items = list_fer_split(root, split)
    if limit is not None:
        rng = np.random.default_rng(0)
        items = [items[i] for i in sorted(rng.permutation(len(items))[:limit])]
    gray = np.zeros((len(items), FER_SIZE, FER_SIZE), np.uint8)
    for i, (rel, _) in enumerate(items):
        image = read_gray(Path(root) / split / rel)
        if image.shape != (FER_SIZE, FER_SIZE):
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((FER_SIZE, FER_SIZE)))
        gray[i] = image
    labels = np.array([label for _, label in items], np.int64)
    data = FerSplit(gray, labels, tuple(rel for rel, _ in items))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, gray=gray, labels=labels, paths=np.array(data.paths))
    return data


# -- framing: FER crops are tight (the face fills the 48 px crop), too tight and too small
# for the detector as they are, so each crop is padded and upscaled before detection.

BORDERS = ("replicate", "constant")


def pad_and_upscale(gray: np.ndarray, upscale: int = 4, border: str = "replicate") -> np.ndarray:
    """A tight crop (H, W) as a BGR "photo": upscaled ``upscale`` times (cubic), then padded
    by one crop side on every side (edges replicated, or black). The crop's pixel (x, y)
    (continuous coordinates) sits at ``(x * upscale + pad, y * upscale + pad)``, where
    ``pad = W * upscale`` (see :func:`photo_to_crop`)."""
    import cv2

    if border not in BORDERS:
        raise ValueError(f"unknown border {border!r}; choose from {BORDERS}")
    big = cv2.resize(gray, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    side = big.shape[1]
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    padded = cv2.copyMakeBorder(big, side, side, side, side, mode, value=0)
    return cv2.cvtColor(padded, cv2.COLOR_GRAY2BGR)


def photo_to_crop(points: np.ndarray, crop_side: int, upscale: int = 4) -> np.ndarray:
    """Map pixels of a :func:`pad_and_upscale` photo back to pixels of the crop."""
    pad = crop_side * upscale
    return (np.asarray(points, np.float64) - pad) / upscale


def central_face(xyxy: np.ndarray, photo_side: int, crop_side: int, upscale: int = 4) -> int | None:
    """Index of the detection whose box centre is nearest the padded crop's centre, or None
    when none lies within a quarter crop of it (a detection in the border is not the face)."""
    if len(xyxy) == 0:
        return None
    centres = (xyxy[:, :2] + xyxy[:, 2:4]) / 2
    dist = np.linalg.norm(centres - photo_side / 2, axis=1)
    best = int(np.argmin(dist))
    return best if dist[best] <= crop_side * upscale * 0.25 else None


def pipeline_keypoints(
    gray: np.ndarray, detector, border: str = "constant", upscale: int = 4, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Detect each FER crop padded and upscaled (:func:`pad_and_upscale` with ``border``):
    the central face's keypoints (N, K, 2) float32 in the padded photo's pixels (zeros where
    none was found) and the (N,) bool mask of found faces."""
    from tqdm import tqdm

    from faceattrs.pipeline.detections import NUM_KEYPOINTS

    keypoints = np.zeros((len(gray), NUM_KEYPOINTS, 2), np.float32)
    found = np.zeros(len(gray), bool)
    for i in tqdm(range(len(gray)), desc="fer pipeline", unit="face", disable=not progress):
        photo = pad_and_upscale(gray[i], upscale, border)
        dets = detector.detect(photo)
        best = central_face(dets.xyxy, photo.shape[0], gray.shape[1], upscale)
        if best is not None:
            keypoints[i], found[i] = dets.keypoints[best], True
    return keypoints, found


def align_pipeline(
    gray: np.ndarray,
    keypoints: np.ndarray,
    found: np.ndarray,
    spec,
    border: str = "replicate",
    upscale: int = 4,
) -> np.ndarray:
    """Align each found face of :func:`pipeline_keypoints` onto ``spec``'s template from its
    crop padded with ``border`` (the same geometry whatever the border, so keypoints found
    on a black-padded photo align a replicated-edge one). Returns BGR crops (N, S, S, 3)
    uint8, zeros where no face was found."""
    from faceattrs.pipeline.alignment import align

    crops = np.zeros((len(gray), spec.input_size, spec.input_size, 3), np.uint8)
    for i in np.flatnonzero(found):
        photo = pad_and_upscale(gray[i], upscale, border)
        crops[i] = align(photo, keypoints[i : i + 1], spec)[0]
    return crops


def pipeline_crops(
    gray: np.ndarray,
    detector,
    spec,
    border: str = "constant",
    upscale: int = 4,
    progress: bool = True,
    align_border: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FER crops as the product sees them: each padded (``border``) and upscaled, detected,
    and aligned on ``spec``'s template (the expression model's) from the crop padded with
    ``align_border`` (default: ``border``). Detection needs the padding (the crops are too
    tight for it) and finds more faces on black (95% of val) than on replicated edges (81%);
    aligned from black padding, a crop is black wherever it reaches past the FER crop (bands,
    corners of turned faces; 17% of the pixels on val), which no photo shows, so the
    evaluation detects on black and aligns from replicated edges. Returns the aligned BGR
    crops (N, S, S, 3) uint8, zeros where no central face was found, and the found mask."""
    keypoints, found = pipeline_keypoints(gray, detector, border, upscale, progress)
    crops = align_pipeline(gray, keypoints, found, spec, align_border or border, upscale)
    return crops, found


def load_fer_pipeline_crops(
    split: FerSplit,
    name: str,
    detector,
    spec,
    cache_dir: str | Path | None = None,
    border: str = "constant",
    align_border: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pipeline_crops` of ``split`` as grayscale (N, S, S) uint8 with the found mask,
    cached as ``fer_<name>_pipeline_<S>.npz`` (``..._<S>_replicate.npz`` for that border,
    ``..._<S>_<border>_align-<align_border>.npz`` when the two differ) under ``cache_dir``
    when given. The detector and template are not part of the file name: delete the cache
    after changing either."""
    align_border = align_border or border
    suffix = "" if border == "constant" else f"_{border}"
    if align_border != border:
        suffix = f"_{border}_align-{align_border}"
    file = f"fer_{name}_pipeline_{spec.input_size}{suffix}.npz"
    cache = Path(cache_dir) / file if cache_dir else None
    if cache is not None and cache.exists():
        with np.load(cache) as raw:
            if len(raw["found"]) == len(split):
                return raw["gray"], raw["found"]
    crops, found = pipeline_crops(split.gray, detector, spec, border, align_border=align_border)
    gray = np.ascontiguousarray(crops[..., 1])  # the photo is gray: B = G = R
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, gray=gray, found=found)
    return gray, found
