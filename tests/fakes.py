"""Test doubles for analyzers: a fake ``analyze(bgr) -> list[Face]`` becomes the two
steps (``detect``, ``describe``) that every caller of a FaceAnalyzer goes through."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from faceattrs.pipeline.detections import Detections
from faceattrs.results import Face


class StepsFromAnalyze:
    """Mixin: ``detect`` runs the fake's ``analyze`` and returns its faces' boxes;
    ``describe`` returns the fake's faces for the boxes asked for."""

    def _store(self) -> OrderedDict:
        """Faces detected and not yet described, by (frame, box): detection may run a
        frame ahead of description (video), so one frame's faces cannot overwrite another's."""
        return self.__dict__.setdefault("_faces", OrderedDict())

    def analyze(self, bgr: np.ndarray) -> list[Face]:
        raise NotImplementedError

    def analyze_batch(self, images) -> list[list[Face]]:
        return [self.analyze(image) for image in images]

    def detect(self, bgr: np.ndarray) -> Detections:
        faces = list(self.analyze(bgr))
        store = self._store()
        store.update({(id(bgr), _key(face.xyxy)): face for face in faces})
        while len(store) > 1000:  # frames detected but never described
            store.popitem(last=False)
        points = max((len(face.keypoints) for face in faces), default=0)
        keypoints = np.zeros((len(faces), points, 2), np.float32)
        for i, face in enumerate(faces):
            keypoints[i, : len(face.keypoints)] = np.asarray(face.keypoints).reshape(-1, 2)
        return Detections(
            np.asarray([f.xyxy for f in faces], np.float32).reshape(-1, 4),
            np.asarray([f.score for f in faces], np.float32),
            keypoints,
        )

    def describe(self, bgr: np.ndarray, detections: Detections) -> list[Face]:
        return [self._store().pop((id(bgr), _key(row))) for row in detections.xyxy]


def _key(xyxy) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(xyxy, np.float32))


# --- stand-ins for the models of a real FaceAnalyzer (choice of heads) ---


class CentreDetector:
    """One face in the middle of every image, with keypoints where a face has them."""

    def detect(self, bgr: np.ndarray) -> Detections:
        h, w = bgr.shape[:2]
        x1, y1, x2, y2 = w * 0.3, h * 0.25, w * 0.7, h * 0.75
        fractions = np.array(
            [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.5, 0.75], [0.1, 0.5], [0.9, 0.5]], np.float32
        )
        keypoints = np.array([x1, y1], np.float32) + fractions * [x2 - x1, y2 - y1]
        return Detections(
            np.array([[x1, y1, x2, y2]], np.float32),
            np.array([0.95], np.float32),
            keypoints[None].astype(np.float32),
        )


class AttributeHead:
    """An attribute model with fixed outputs; ``refuse``: fails the test if it runs."""

    def __init__(self, refuse: bool = False) -> None:
        from faceattrs.spec import ModelSpec

        self.spec = ModelSpec()
        self.refuse = refuse
        self.calls = 0

    def predict(self, crops):
        from faceattrs.pipeline.attributes import postprocess

        if self.refuse:
            raise AssertionError("the attribute model ran although not asked for")
        self.calls += 1
        n, spec = len(crops), self.spec
        ages = np.zeros((n, spec.max_age + 1), np.float32)
        ages[:, 30] = 1.0
        genders = np.tile(np.float32([0.3, 0.7]), (n, 1))
        races = np.tile(np.float32([0.6, 0.1, 0.1, 0.1, 0.1]), (n, 1))
        return postprocess(spec, ages, genders, races)


class ExpressionHead:
    """An expression model that says "happy"; ``refuse``: fails the test if it runs."""

    def __init__(self, refuse: bool = False) -> None:
        from faceattrs.spec import ExpressionSpec

        self.spec = ExpressionSpec()
        self.refuse = refuse
        self.calls = 0

    def predict(self, crops):
        if self.refuse:
            raise AssertionError("the expression model ran although not asked for")
        self.calls += 1
        probs = np.full((len(crops), len(self.spec.labels)), 0.05, np.float32)
        probs[:, list(self.spec.labels).index("happy")] = 1.0 - 0.05 * (probs.shape[1] - 1)
        return probs
