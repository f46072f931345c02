"""FER2013 expression data: the ``<split>/<expression>/*.jpg`` folders as uint8 arrays.

Decoding 30k small JPEGs takes a while on one thread, so each split is cached once as an
``.npz`` (grayscale 48x48 uint8 images, int64 labels, relative paths) in a cache folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceattrs.spec import EXPRESSIONS

__all__ = ["EXPRESSIONS", "FER_SIZE", "FerSplit", "load_fer_split"]
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
