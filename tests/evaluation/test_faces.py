"""Evaluation faces: detector + alignment, or an aligned cache cut the same way."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from faceattrs.data.aligned_cache import build_aligned_cache
from faceattrs.evaluation.faces import (
    cached_faces,
    check_cache_framing,
    detect_faces,
    load_faces,
    locate_faces,
    miss_summary,
)
from faceattrs.pipeline.detections import Detections
from faceattrs.spec import ModelSpec

SPEC = ModelSpec()


class CentreDetector:
    """One face in the middle of any image that is not all black (a miss otherwise)."""

    def detect(self, bgr: np.ndarray) -> Detections:
        if not bgr.any():
            return Detections.empty()
        h, w = bgr.shape[:2]
        cx, cy, s = w / 2, h / 2, min(h, w) / 8
        points = [
            (cx - s, cy - s),
            (cx + s, cy - s),
            (cx, cy),
            (cx, cy + s),
            (cx - 2 * s, cy),
            (cx + 2 * s, cy),
        ]
        kps = np.array([points], np.float32)
        xyxy = np.array([[cx - 3 * s, cy - 3 * s, cx + 3 * s, cy + 3 * s]], np.float32)
        return Detections(xyxy, np.array([0.9], np.float32), kps)


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        bgr = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (160, 160))
        if i == 1:
            bgr[:] = 0  # no face
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), bgr)
    return paths


def test_detected_faces_keep_every_miss(images):
    names = [p.name for p in images]
    faces = detect_faces(images, names, CentreDetector(), SPEC, progress=False)
    assert faces.crops_bgr.shape == (2, SPEC.input_size, SPEC.input_size, 3)
    assert faces.found.tolist() == [True, False, True]
    assert [m["name"] for m in faces.misses] == ["1.png"]
    summary = miss_summary(faces)
    assert (summary["images"], summary["found"], summary["missed"]) == (3, 2, 1)
    assert summary["by_reason"] == {"no face detected": 1}


def test_located_faces_are_reused_for_another_spec(images):
    names = [p.name for p in images]
    located = locate_faces(images, names, CentreDetector(), progress=False)
    small = replace(SPEC, input_size=32)
    faces = load_faces(images, names, small, located=located, progress=False)
    assert faces.crops_bgr.shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="other images"):
        load_faces(images, names[::-1], small, located=located, progress=False)


def test_cache_gives_the_detector_path_crops(images, tmp_path):
    names = [p.name for p in images]
    cache = tmp_path / "aligned.npz"
    build_aligned_cache(images, cache, SPEC, CentreDetector(), size=80, names=names, progress=False)
    from_cache = cached_faces(cache, names, SPEC)
    detected = detect_faces(images, names, CentreDetector(), SPEC, progress=False)
    assert from_cache.found.tolist() == detected.found.tolist()
    assert from_cache.misses == detected.misses
    diff = np.abs(from_cache.crops_bgr.astype(int) - detected.crops_bgr.astype(int)).mean()
    assert diff < 8  # the same framing, resampled once more


def test_cache_with_another_framing_is_refused():
    other = replace(SPEC, template=((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.5, 0.75)))
    with pytest.raises(ValueError, match="template"):
        check_cache_framing(replace(other, input_size=80), SPEC)
    with pytest.raises(ValueError, match="smaller"):
        check_cache_framing(replace(SPEC, input_size=32), SPEC)
    check_cache_framing(replace(SPEC, input_size=80), SPEC)
