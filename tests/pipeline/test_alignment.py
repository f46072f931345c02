from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceattrs.pipeline.alignment import (
    align,
    estimate_transform,
    estimate_transforms,
    template_points,
)
from faceattrs.spec import ModelSpec


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([rot, [[tx], [ty]]])


def _apply(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ matrix[:, :2].T + matrix[:, 2]


def _texture(size: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour image (so linear interpolation is accurate)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("params", [(0, 1, 0, 0), (30, 0.5, 12.5, -3), (-170, 3.2, 100, 40)])
def test_estimate_transform_recovers_a_similarity(params) -> None:
    matrix = _similarity(*params)
    src = np.array([[10, 20], [50, 22], [30, 45], [31, 70], [0, 0]], np.float64)
    got = estimate_transform(src, _apply(matrix, src))
    np.testing.assert_allclose(got, matrix, atol=1e-9)


def test_estimate_transform_is_least_squares_and_never_reflects() -> None:
    src = np.array([[30, 30], [70, 31], [50, 55], [49, 72]], np.float64)
    mirrored = src * [-1, 1]
    got = estimate_transform(src, mirrored)
    assert np.linalg.det(got[:, :2]) > 0
    noisy = _apply(_similarity(10, 2, 5, 5), src) + [[1, 0], [-1, 0], [0, 1], [0, -1]]
    fit = estimate_transform(src, noisy)
    residual = np.abs(_apply(fit, src) - noisy).max()
    assert residual < 1.5


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.zeros((1, 2)), np.zeros((4, 3))])
def test_estimate_transform_rejects_degenerate_points(bad) -> None:
    with pytest.raises(ValueError):
        estimate_transform(bad, np.ones_like(bad))


def test_template_points_follow_crop_box() -> None:
    spec = ModelSpec(input_size=100, crop_box=(0.1, 0.2, 0.9, 1.0))
    expected = (np.asarray(spec.template) - [0.1, 0.2]) / 0.8 * 100
    np.testing.assert_allclose(template_points(spec), expected)


def test_crop_at_the_template_is_returned_unchanged() -> None:
    spec = ModelSpec(input_size=64)
    crop = _texture(64)
    keypoints = np.concatenate([template_points(spec), np.zeros((2, 2))])[None]
    out = align(crop, keypoints, spec)
    assert out.shape == (1, 64, 64, 3) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - crop).max() <= 1


def test_utkface_sized_crop_is_framed_like_the_resized_crop() -> None:
    """A 200 px crop with keypoints on the template aligns to its INTER_AREA resize."""
    spec = ModelSpec(input_size=64)
    crop = _texture(200, seed=1)
    keypoints = (np.asarray(spec.template) * 200)[None]
    out = align(crop, keypoints, spec)[0]
    expected = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - expected).mean() < 2.0


@pytest.mark.parametrize("params", [(25, 1.5, 300, 120), (-60, 0.7, 80, 90), (180, 4.0, 500, 500)])
def test_round_trip_through_a_rotated_scaled_photo(params) -> None:
    """Warp a crop into a 'photo' with a known similarity, then align it back."""
    spec = ModelSpec(input_size=96, crop_box=(0.05, 0.05, 0.95, 0.95))
    crop = _texture(96, seed=2)
    forward = _similarity(*params)
    photo = cv2.warpAffine(crop, forward, (1000, 1000), flags=cv2.INTER_CUBIC)
    # template keypoints of the crop, in continuous pixels, into the photo
    kps_crop = template_points(spec)
    # cv2 maps pixel indices; continuous = index + 0.5
    kps_photo = _apply(forward, kps_crop - 0.5) + 0.5
    out = align(photo, kps_photo[None], spec)[0]
    inner = slice(8, -8)
    diff = np.abs(out[inner, inner].astype(int) - crop[inner, inner]).mean()
    assert diff < 4.0


def test_many_faces_and_keypoint_shape_checks() -> None:
    spec = ModelSpec(input_size=32)
    bgr = _texture(128)
    kps = np.stack([template_points(spec, 64) + off for off in (0, 30, 100)])
    out = align(bgr, kps, spec)
    assert out.shape == (3, 32, 32, 3)
    assert out[2].min() >= 0 and (out[2][-4:, -4:] == 0).all(), "outside the photo is black"
    assert align(bgr, np.zeros((0, 6, 2)), spec).shape == (0, 32, 32, 3)
    with pytest.raises(ValueError):
        align(bgr, np.zeros((1, 3, 2)), spec)


def test_closed_form_matches_umeyama_and_batches() -> None:
    """The closed-form fit is Umeyama's SVD solution (to float noise), face by face."""

    def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        src_mean, dst_mean = src.mean(0), dst.mean(0)
        src_c, dst_c = src - src_mean, dst - dst_mean
        u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
        d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
        scale = np.trace(np.diag(s) @ d) / ((src_c**2).sum() / len(src))
        rot = u @ d @ vt
        return np.hstack([scale * rot, (dst_mean - scale * rot @ src_mean)[:, None]])

    rng = np.random.default_rng(3)
    dst = np.array([[19.0, 18.7], [43.5, 19.3], [30.8, 33.6], [30.8, 44.7]])
    src = rng.uniform(0, 500, (20, 4, 2))
    src[:5] = dst * [-1, 1] + rng.normal(0, 1, (5, 4, 2))  # mirrored: no reflection allowed
    batched = estimate_transforms(src, dst)
    for points, matrix in zip(src, batched, strict=True):
        np.testing.assert_allclose(matrix, umeyama(points, dst), atol=1e-9)
        np.testing.assert_allclose(estimate_transform(points, dst), matrix, atol=1e-12)
    assert estimate_transforms(np.zeros((0, 4, 2)), dst).shape == (0, 2, 3)
