"""Test doubles for analyzers: a fake ``analyze(bgr) -> list[Face]`` becomes the two
steps (``detect``, ``describe``) that every caller of a FaceAnalyzer goes through."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from faceattrs.pipeline.detection import Detections
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
