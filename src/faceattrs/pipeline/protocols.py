"""What :class:`~faceattrs.pipeline.analyzer.FaceAnalyzer` needs of each step: any object
with these methods can stand in for the packaged models (tests pass fakes)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from faceattrs.pipeline.attributes import AttributePredictions
from faceattrs.spec import ExpressionSpec, ModelSpec


class Detector(Protocol):
    def detect(self, bgr: np.ndarray) -> Any: ...


class Embedder(Protocol):
    threshold: float

    def chips(self, bgr: np.ndarray, keypoints: np.ndarray) -> np.ndarray: ...

    def embed_chips(self, chips_bgr: np.ndarray) -> np.ndarray: ...


class Predictor(Protocol):
    spec: ModelSpec

    def predict(self, crops_bgr: np.ndarray) -> AttributePredictions: ...


class ExpressionPredictor(Protocol):
    spec: ExpressionSpec

    def predict(self, crops: np.ndarray) -> np.ndarray: ...
