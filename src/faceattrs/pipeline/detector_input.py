"""Images to BlazeFace inputs and outputs to scores: resizing, padding, the planar
float input, the score sigmoid (used by the detector and its second looks)."""

from __future__ import annotations

import cv2
import numpy as np

RAW_SCORE_LIMIT = 80.0
INPUT_SCALE = np.float32(2.0 / 255.0)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Scores from the model's logits (clipped: no overflow warnings)."""
    logits = np.clip(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
    return 1.0 / (1.0 + np.exp(-logits))


def pad_to(bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """The image top-left on a black ``height`` x ``width`` canvas (cut to fit)."""
    out = np.zeros((height, width, 3), np.uint8)
    out[: bgr.shape[0], : bgr.shape[1]] = bgr[:height, :width]
    return out


def downscale(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize down fast: exact 2x area halvings, then one linear step (< 2x)."""
    while bgr.shape[1] >= 2 * width and bgr.shape[0] >= 2 * height:
        h, w = bgr.shape[0] // 2, bgr.shape[1] // 2
        bgr = cv2.resize(bgr[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA)
    if bgr.shape[:2] == (height, width):
        return bgr
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)


def ceil32(value: float) -> int:
    """The next multiple of 32 (at least 32): the models' input sides."""
    return max(32, int(np.ceil(value / 32.0)) * 32)


def to_input(batch_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (N, H, W, 3) -> the model's RGB float32 (N, 3, H, W) in [-1, 1].

    The same arithmetic as ``rgb * (2 / 255) - 1`` in float32, one channel plane at
    a time (no full-size float temporaries or transposes)."""
    n, height, width = batch_bgr.shape[:3]
    x = np.empty((n, 3, height, width), np.float32)
    for channel in range(3):
        np.multiply(batch_bgr[..., 2 - channel], INPUT_SCALE, out=x[:, channel], dtype=np.float32)
    x -= np.float32(1.0)
    return x
