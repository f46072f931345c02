"""Face alignment: a similarity transform of the detector keypoints onto the template.

Coordinates are continuous pixels (the centre of pixel ``i`` is ``i + 0.5``), as
the detector returns them and as the template fractions are measured: a point at
fraction ``f`` of an ``S`` px crop sits at ``f * S``.

Pixels outside the photo are filled black (``cv2.BORDER_CONSTANT``): UTKFace's own
crops do the same where a face is near the edge of the source photo (about 3% of
them show black bands), while replicated edges are streaks the model never saw.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceattrs.spec import ModelSpec

NUM_ALIGN_POINTS = 4  # right eye, left eye, nose tip, mouth centre
MAX_SUPERSAMPLE = 8


def estimate_transform(src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping
    ``src_pts`` (K, 2) onto ``dst_pts`` (K, 2), K >= 2. Returns 2x3."""
    src = np.asarray(src_pts, np.float64)
    dst = np.asarray(dst_pts, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"expected two (K>=2, 2) point arrays, got {src.shape} and {dst.shape}")
    return estimate_transforms(src[None], dst)[0]


def estimate_transforms(src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """:func:`estimate_transform` of many point sets at once: ``src_pts`` (N, K, 2) onto
    the same ``dst_pts`` (K, 2); returns (N, 2, 3).

    In 2-D the least-squares similarity without reflection has a closed form (the same
    minimiser as Umeyama, 1991, without an SVD): with centred points p (source) and q
    (destination), the linear part is ``[[a, -b], [b, a]]``, a = sum(p . q) / sum(|p|^2),
    b = sum(p x q) / sum(|p|^2)."""
    src = np.asarray(src_pts, np.float64)
    dst = np.asarray(dst_pts, np.float64)
    if src.ndim != 3 or src.shape[1:] != dst.shape or dst.shape[1] != 2 or len(dst) < 2:
        raise ValueError(
            f"expected (N, K>=2, 2) and (K, 2) points, got {src.shape} and {dst.shape}"
        )
    src_mean, dst_mean = src.mean(1), dst.mean(0)
    p, q = src - src_mean[:, None], dst - dst_mean
    var = (p**2).sum((1, 2))
    if len(src) and var.min() < 1e-12:
        raise ValueError("source points coincide; cannot estimate a transform")
    a = (p[..., 0] * q[:, 0] + p[..., 1] * q[:, 1]).sum(1) / var
    b = (p[..., 0] * q[:, 1] - p[..., 1] * q[:, 0]).sum(1) / var
    matrices = np.empty((len(src), 2, 3))
    matrices[:, 0, 0], matrices[:, 0, 1] = a, -b
    matrices[:, 1, 0], matrices[:, 1, 1] = b, a
    matrices[:, :, 2] = dst_mean - np.einsum("nij,nj->ni", matrices[:, :, :2], src_mean)
    return matrices


def template_points(spec: ModelSpec, size: int | None = None) -> np.ndarray:
    """The template keypoints (4, 2) in continuous pixels of the ``size`` px model
    crop, i.e. the template fractions mapped through ``spec.crop_box``."""
    size = spec.input_size if size is None else size
    x0, y0, x1, y1 = spec.crop_box
    frac = np.asarray(spec.template, np.float64)[:NUM_ALIGN_POINTS]
    return (frac - [x0, y0]) / [x1 - x0, y1 - y0] * size


def _to_index_coords(matrix: np.ndarray) -> np.ndarray:
    """Turn a continuous-coordinate affine map into one on pixel indices (for cv2)."""
    out = matrix.copy()
    out[:, 2] += matrix[:, :2] @ [0.5, 0.5] - 0.5
    return out


def align(bgr: np.ndarray, keypoints: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Cut one aligned crop per face: (N, S, S, 3) uint8 BGR, S = ``spec.input_size``.

    ``keypoints`` (N, K>=4, 2) in pixels of ``bgr``; the first four (right eye,
    left eye, nose tip, mouth centre) are mapped onto the template. When the crop
    shrinks the face, it is warped at an integer multiple of S and area-averaged
    down, like the training crops (UTKFace resized with INTER_AREA).
    """
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1] < NUM_ALIGN_POINTS or keypoints.shape[2] != 2:
        raise ValueError(f"expected keypoints of shape (N, K>=4, 2), got {keypoints.shape}")
    size = spec.input_size
    out = np.zeros((len(keypoints), size, size, 3), np.uint8)
    matrices = estimate_transforms(keypoints[:, :NUM_ALIGN_POINTS], template_points(spec, size))
    for i, matrix in enumerate(matrices):
        scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))  # the similarity's scale
        factor = int(np.clip(np.ceil(1.0 / max(scale, 1e-6)), 1, MAX_SUPERSAMPLE))
        big = size * factor
        warped = cv2.warpAffine(
            bgr,
            _to_index_coords(matrix * [[factor], [factor]]),
            (big, big),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        if factor > 1:
            warped = cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA)
        out[i] = warped
    return out
