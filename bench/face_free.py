"""Face-free images for the detector's false-face count, built here (no download).

Generated images (checkerboards, gingham/plaid, stripes, polka dots, noise, blurred
noise, gradients, rendered text, random shapes) and crops of the shared photos away
from every face (``MEDIA_CROPS``: regions chosen by eye, no face or part of one in
them: clothes, walls, stairs, railings, backgrounds). Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"

# (photo, x0, y0, x1, y1) as fractions of the photo's width/height; face-free regions
MEDIA_CROPS = [
    ("deepface/img26.jpg", 0.0, 0.55, 1.0, 1.0),  # the gingham shirt
    ("deepface/img26.jpg", 0.25, 0.62, 1.0, 1.0),
    ("deepface/img26.jpg", 0.55, 0.45, 1.0, 0.85),
    ("deepface/img26.jpg", 0.0, 0.0, 0.25, 0.5),  # lettered backdrop
    ("deepface/img26.jpg", 0.75, 0.0, 1.0, 0.45),
    ("facenet_pytorch/multiface.jpg", 0.0, 0.0, 0.13, 0.7),  # stairs
    ("facenet_pytorch/multiface.jpg", 0.7, 0.0, 1.0, 0.6),  # railing, window
    ("facenet_pytorch/multiface.jpg", 0.85, 0.0, 1.0, 1.0),  # wall
    ("facenet_pytorch/multiface.jpg", 0.05, 0.75, 0.3, 1.0),  # dress, jeans
    ("deepface/selfie-many-people.jpg", 0.0, 0.0, 0.3, 0.32),  # lift wall
    ("deepface/selfie-many-people.jpg", 0.35, 0.45, 0.68, 0.8),  # suit, shirt
    ("deepface/selfie-many-people.jpg", 0.12, 0.75, 0.5, 1.0),  # beaded dress
    ("deepface/couple.jpg", 0.0, 0.85, 0.45, 1.0),  # shoulder
    ("deepface/couple.jpg", 0.5, 0.8, 1.0, 1.0),  # suit
    ("face_recognition/kit_with_rose.jpg", 0.0, 0.6, 1.0, 1.0),
    ("face_recognition/obama_and_biden.jpg", 0.0, 0.0, 0.25, 0.5),
    ("face_recognition/two_people.jpg", 0.0, 0.65, 1.0, 1.0),  # suits, hands
    ("face_recognition/two_people.jpg", 0.0, 0.0, 0.17, 0.3),  # chandelier
    ("face_recognition/alex_lacamoire1.jpg", 0.0, 0.65, 1.0, 1.0),  # vest, tie
    ("face_recognition/alex_lacamoire1.jpg", 0.0, 0.0, 0.3, 1.0),  # plain wall
]

WORDS = "faceattrs detector texture pattern checkered shirt landscape 0123456789 OK Go".split()


def _size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) between 96 and 960 px, mixed aspect ratios."""
    side = int(rng.choice([96, 160, 224, 320, 480, 640, 960]))
    aspect = float(rng.choice([1.0, 0.75, 4 / 3, 16 / 9]))
    return max(48, int(side / np.sqrt(aspect))), max(48, int(side * np.sqrt(aspect)))


def _colors(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 3)).astype(np.uint8)


def checkerboard(rng: np.random.Generator) -> np.ndarray:
    h, w = _size(rng)
    cell = int(rng.integers(4, max(5, min(h, w) // 3)))
    ys, xs = np.mgrid[0:h, 0:w]
    board = ((ys // cell + xs // cell) % 2).astype(bool)
    a, b = _colors(rng, 2)
    img = np.where(board[..., None], a, b).astype(np.uint8)
    return _rotate(img, rng)


def gingham(rng: np.random.Generator) -> np.ndarray:
    """Two sets of semi-transparent stripes crossing (gingham, plaid, tartan)."""
    h, w = _size(rng)
    base = np.full((h, w, 3), _colors(rng, 1)[0], np.float32)
    for axis in (0, 1):
        period = int(rng.integers(6, max(7, min(h, w) // 4)))
        width = int(rng.integers(2, period))
        color = _colors(rng, 1)[0].astype(np.float32)
        coords = np.arange(h if axis == 0 else w)
        mask = (coords % period) < width
        mask = mask[:, None] if axis == 0 else mask[None, :]
        base = np.where(mask[..., None], 0.5 * base + 0.5 * color, base)
    return _rotate(base.astype(np.uint8), rng)


def stripes(rng: np.random.Generator) -> np.ndarray:
    h, w = _size(rng)
    period = int(rng.integers(4, max(5, min(h, w) // 3)))
    a, b = _colors(rng, 2)
    mask = (np.arange(w) % period) < period // 2
    img = np.where(mask[None, :, None], a, b).astype(np.uint8)
    return _rotate(np.ascontiguousarray(np.broadcast_to(img, (h, w, 3))), rng)


def dots(rng: np.random.Generator) -> np.ndarray:
    """Polka dots on a grid (pairs of dark blobs: the eyes of a would-be face)."""
    h, w = _size(rng)
    a, b = _colors(rng, 2)
    img = np.full((h, w, 3), a, np.uint8)
    step = int(rng.integers(8, max(9, min(h, w) // 3)))
    radius = max(1, int(step * rng.uniform(0.15, 0.4)))
    for y in range(step // 2, h, step):
        for x in range(step // 2, w, step):
            cv2.circle(img, (x, y), radius, tuple(int(c) for c in b), -1, cv2.LINE_AA)
    return img


def noise(rng: np.random.Generator) -> np.ndarray:
    h, w = _size(rng)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if rng.random() < 0.5:
        img = np.repeat(img[..., :1], 3, axis=2)
    return img


def blurred_noise(rng: np.random.Generator) -> np.ndarray:
    """Cloud-like low-frequency noise (blobs of every size)."""
    h, w = _size(rng)
    cells = int(rng.integers(3, 24))
    small = rng.integers(0, 256, (cells, max(2, cells * w // h), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def gradient(rng: np.random.Generator) -> np.ndarray:
    h, w = _size(rng)
    a, b = _colors(rng, 2).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        t = xs * np.cos(rng.uniform(0, np.pi)) + ys * np.sin(rng.uniform(0, np.pi))
    else:
        t = np.hypot(xs - rng.uniform(0, w), ys - rng.uniform(0, h))
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return (a + (b - a) * t[..., None]).astype(np.uint8)


def text(rng: np.random.Generator) -> np.ndarray:
    """Lines of words rendered with cv2.putText (several fonts and sizes)."""
    h, w = _size(rng)
    bg, fg = _colors(rng, 2)
    img = np.full((h, w, 3), bg, np.uint8)
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
             cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX]  # fmt: skip
    scale = float(rng.uniform(0.4, 3.0)) * min(h, w) / 320
    line = max(10, int(34 * scale))
    for y in range(line, h, line):
        words = " ".join(rng.choice(WORDS, 6))
        font = int(rng.choice(fonts))
        cv2.putText(img, words, (int(rng.integers(-40, 10)), y), font, scale,
                    tuple(int(c) for c in fg), max(1, int(2 * scale)), cv2.LINE_AA)  # fmt: skip
    return img


def shapes(rng: np.random.Generator) -> np.ndarray:
    """Random filled rectangles, ellipses and lines (objects without faces)."""
    h, w = _size(rng)
    img = np.full((h, w, 3), _colors(rng, 1)[0], np.uint8)
    for _ in range(int(rng.integers(3, 30))):
        color = tuple(int(c) for c in _colors(rng, 1)[0])
        x0, x1 = sorted(rng.integers(0, w, 2))
        y0, y1 = sorted(rng.integers(0, h, 2))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), color, -1)
        elif kind == 1:
            centre = (int((x0 + x1) // 2), int((y0 + y1) // 2))
            axes = (int(max(1, (x1 - x0) // 2)), int(max(1, (y1 - y0) // 2)))
            cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        else:
            cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), color, int(rng.integers(1, 9)))
    return img


def _rotate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        return img
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-45, 45)), 1.4)
    return cv2.warpAffine(img, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


GENERATORS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "checkerboard": checkerboard,
    "gingham": gingham,
    "stripes": stripes,
    "dots": dots,
    "noise": noise,
    "blurred_noise": blurred_noise,
    "gradient": gradient,
    "text": text,
    "shapes": shapes,
}


def media_crop(rng: np.random.Generator, photos: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """A random window (30-100% of a side) inside one face-free region, resized 0.5-2x."""
    name, fx0, fy0, fx1, fy1 = MEDIA_CROPS[int(rng.integers(len(MEDIA_CROPS)))]
    bgr = photos[name]
    h, w = bgr.shape[:2]
    x0, x1, y0, y1 = int(fx0 * w), int(fx1 * w), int(fy0 * h), int(fy1 * h)
    cw = max(16, int((x1 - x0) * rng.uniform(0.3, 1.0)))
    ch = max(16, int((y1 - y0) * rng.uniform(0.3, 1.0)))
    cx = int(rng.integers(x0, max(x0 + 1, x1 - cw + 1)))
    cy = int(rng.integers(y0, max(y0 + 1, y1 - ch + 1)))
    crop = bgr[cy : cy + ch, cx : cx + cw]
    scale = float(rng.uniform(0.5, 2.0))
    crop = cv2.resize(crop, (max(32, int(cw * scale)), max(32, int(ch * scale))))
    return name, crop


def face_free_images(count: int, seed: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """``count`` (kind, BGR image): a third crops of the shared photos (when present),
    the rest spread evenly over the generators."""
    rng = np.random.default_rng(seed)
    photos = {}
    for name, *_ in MEDIA_CROPS:
        if name not in photos and (MEDIA / name).is_file():
            photos[name] = cv2.imread(str(MEDIA / name))
    kinds = list(GENERATORS)
    for i in range(count):
        if photos and i % 3 == 2:
            name, crop = media_crop(rng, photos)
            yield f"media:{Path(name).stem}", crop
        else:
            kind = kinds[i % len(kinds)]
            yield kind, GENERATORS[kind](rng)
