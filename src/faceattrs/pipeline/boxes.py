"""Overlap of xyxy boxes, pairwise: used by the detector (duplicate boxes) and the tracker."""

from __future__ import annotations

import numpy as np


def areas(xyxy: np.ndarray) -> np.ndarray:
    """Area of each box (..., 4) -> (...)."""
    return (xyxy[..., 2] - xyxy[..., 0]) * (xyxy[..., 3] - xyxy[..., 1])


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas (len(a), len(b)) of xyxy boxes."""
    a, b = a.reshape(-1, 1, 4), b.reshape(1, -1, 4)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    return w * h


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    inter = intersections(a, b)
    union = areas(a.reshape(-1, 4))[:, None] + areas(b.reshape(-1, 4))[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area, (len(a), len(b))."""
    smaller = np.minimum(areas(a.reshape(-1, 4))[:, None], areas(b.reshape(-1, 4))[None, :])
    return intersections(a, b) / np.maximum(smaller, 1e-9)
