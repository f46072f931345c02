"""One inference path: analyze = detect (the one filter) then describe; providers."""

from __future__ import annotations

import numpy as np
import pytest

from faceattrs.pipeline.analyzer import FaceAnalyzer
from faceattrs.pipeline.detections import Detections
from faceattrs.pipeline.runtime import ProviderError, resolve_providers
from model_helpers import random_model_path  # noqa: F401 (fixture)


class ListDetector:
    def __init__(self, dets: Detections) -> None:
        self.dets = dets

    def detect(self, bgr):
        return self.dets


def _dets() -> Detections:
    xyxy = np.array([[10, 10, 110, 110], [150, 20, 165, 35], [200, 100, 300, 200]], np.float32)
    template = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.5, 0.75], [0.1, 0.5], [0.9, 0.5]])
    keypoints = xyxy[:, None, :2] + template[None] * (xyxy[:, None, 2:] - xyxy[:, None, :2])
    return Detections(xyxy, np.array([0.9, 0.95, 0.3], np.float32), keypoints.astype(np.float32))


def test_detections_index_and_filter():
    dets = _dets()
    assert len(dets[[0, 2]]) == 2 and len(dets[1]) == 1 and len(dets[dets.scores > 0.5]) == 2
    kept = dets.keep(score_threshold=0.5, min_face=20)
    assert kept.xyxy.tolist() == [[10, 10, 110, 110]]  # 15 px face and 0.3 score dropped
    assert len(Detections.empty().keep(0.5, 20)) == 0
    assert len(Detections.from_arrays(np.zeros((0, 4)), [], [])) == 0


def test_analyze_is_detect_then_describe(random_model_path):  # noqa: F811
    analyzer = FaceAnalyzer(random_model_path, detector=ListDetector(_dets()))
    bgr = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    detections = analyzer.detect(bgr)
    assert len(detections) == 1  # the analyzer's filter: score >= 0.5, side >= 20
    assert analyzer.describe(bgr, detections) == analyzer.analyze(bgr)
    assert analyzer.describe(bgr, detections[[]]) == []


def test_providers_resolve_or_fail_in_one_line():
    assert resolve_providers(None) == ["CPUExecutionProvider"]
    assert resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ProviderError, match="onnxruntime-gpu"):
            resolve_providers("cuda")
        with pytest.raises(ProviderError):
            FaceAnalyzer(providers="cuda")
