"""Analyse and track the frames of one video or camera stream, one at a time.

:class:`VideoSession` runs an analyzer and a :class:`~faceattrs.video.tracking.FaceTracker`
frame by frame: ``process`` answers at once (cameras), ``push``/``flush`` look
ahead so that frames between analysed ones get interpolated boxes (files).
Tracks end at scene cuts (:class:`SceneCuts`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from faceattrs.results import Face
from faceattrs.video.persons import PersonRegistry
from faceattrs.video.tracking import FaceTracker, FrameResult, interpolate_faces

if TYPE_CHECKING:  # no ONNX Runtime import for the session itself
    from faceattrs.pipeline.detections import Detections


class SceneCuts:
    """Finds hard cuts: the Bhattacharyya distance between colour histograms
    (8x8x8 bins) of 64x36 thumbnails of consecutive frames above ``threshold``. Cuts in
    the shared clips score 0.25-0.32; motion and sensor noise stay below 0.1."""

    def __init__(self, threshold: float = 0.18) -> None:
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, bgr: np.ndarray) -> bool:
        """Whether ``bgr`` starts a new shot (compared with the previous call's frame)."""
        step_y, step_x = max(1, bgr.shape[0] // 144), max(1, bgr.shape[1] // 256)
        thumb = np.ascontiguousarray(bgr[::step_y, ::step_x])  # cheap at any size
        thumb = cv2.resize(thumb, (64, 36), interpolation=cv2.INTER_AREA)  # averages noise
        hist = cv2.calcHist([thumb], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3)
        previous, self._previous = self._previous, hist
        if previous is None:
            return False
        distance = cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA)
        return bool(distance > self.threshold)


class Analyzer(Protocol):
    """What a session needs of its analyzer: the two steps of
    :class:`~faceattrs.pipeline.analyzer.FaceAnalyzer`."""

    def detect(self, bgr: np.ndarray) -> Detections: ...

    def describe(self, bgr: np.ndarray, detections: Detections) -> list[Face]: ...


def placeholder(xyxy: np.ndarray, score: float, keypoints: np.ndarray) -> Face:
    """A detected face without attributes: its track keeps its smoothed ones."""
    return Face(tuple(map(float, xyxy)), float(score), tuple(map(tuple, keypoints.tolist())))


class VideoSession:
    """Analyse and track the frames of one video or camera stream, in order.

    ``analyzer``: a :class:`~faceattrs.pipeline.analyzer.FaceAnalyzer` (or any object
    with its ``detect`` and ``describe`` steps). With ``every=k`` the analyzer sees every
    k-th frame (and the first frame of each shot); tracks end at scene cuts
    (``cut_threshold=None``: never). Faces are detected in every analysed frame but a
    track's attributes are described at most every ``attributes_every_s`` seconds
    (consecutive frames hardly differ; the smoothing averages the samples), which
    halves the cost of busy scenes.
    ``process(bgr, t)`` answers at once (frames between analysed ones get the
    faces moved along their tracks' motion); ``push``/``flush`` hold those frames
    back until the next analysed frame and interpolate instead (files).
    ``persons`` (a :class:`~faceattrs.video.persons.PersonRegistry`) joins tracks into
    persons by face embedding (the analyzer's ``embed(bgr, detections)``), a few
    embeddings per track; faces then carry ``person_id``. ``attributes`` (None: the
    analyzer's own) chooses the heads that describe the faces, as in
    :meth:`~faceattrs.pipeline.analyzer.FaceAnalyzer.describe`; it may change between frames.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        every: int = 1,
        cut_threshold: float | None = 0.18,
        attributes_every_s: float = 0.1,
        persons: PersonRegistry | None = None,
        attributes: Sequence[str] | None = None,
        **tracker_options: Any,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.analyzer = analyzer
        self.every = every
        self.tracker = FaceTracker(**tracker_options)
        self.cuts = SceneCuts(cut_threshold) if cut_threshold is not None else None
        self.attributes_every_s = attributes_every_s
        self.persons = persons
        self.attributes = tuple(attributes) if attributes is not None else None
        if persons is not None and persons.threshold is None:
            persons.threshold = analyzer.embedding_threshold  # the embedding model's own
        self.frames = 0
        self._since_analysed = every
        self._pending: list[tuple[int, float, Any]] = []
        self._analysed: FrameResult | None = None

    def _next(self, bgr: np.ndarray) -> tuple[int, bool, bool]:
        """This frame's index, whether to analyse it, whether it starts a shot."""
        index = self.frames
        self.frames += 1
        cut = self.cuts is not None and self.cuts.is_cut(bgr)
        analyse = cut or self._since_analysed >= self.every
        self._since_analysed = 1 if analyse else self._since_analysed + 1
        return index, analyse, cut

    def detect(self, bgr: np.ndarray) -> Detections:
        """The detection step alone: run it ahead, e.g. in another thread, and pass
        its result to ``process``/``push``."""
        return self.analyzer.detect(bgr)

    def _analyse(
        self, index: int, bgr: np.ndarray, t: float, cut: bool, detected: Detections | None
    ) -> FrameResult:
        if cut:
            self.tracker.reset()
        if detected is None:
            detected = self.analyzer.detect(bgr)
        if self.attributes_every_s > 0:
            fresh = self.tracker.stale(detected.xyxy, t, self.attributes_every_s)
        else:
            fresh = [True] * len(detected)
        chosen = [i for i, wanted in enumerate(fresh) if wanted]
        rows = zip(detected.xyxy, detected.scores, detected.keypoints, strict=True)
        faces = [placeholder(*row) for row in rows]
        if chosen:
            describe = self.analyzer.describe
            if self.attributes is not None:  # analyzers without the option serve the default
                described = describe(bgr, detected[chosen], attributes=self.attributes)
            else:
                described = describe(bgr, detected[chosen])
            for i, face in zip(chosen, described, strict=True):
                faces[i] = face
        faces = self.tracker.update(faces, t, fresh)
        if self.persons is not None:
            self._identify(bgr, faces, t)
        return FrameResult(index, t, tuple(self._labelled(faces)))

    def _identify(self, bgr: np.ndarray, faces: list[Face], t: float) -> None:
        """Embed the faces whose track needs a sample now (a few per track)."""
        assert self.persons is not None
        wanted = self.persons.wanted(faces, t)
        if not wanted:
            return
        from faceattrs.pipeline.detections import Detections

        chosen = [faces[i] for i in wanted]
        detections = Detections.from_arrays(
            [f.xyxy for f in chosen], [f.score for f in chosen], [f.keypoints for f in chosen]
        )
        embeddings = self.analyzer.embed(bgr, detections)
        for face, embedding in zip(chosen, embeddings, strict=True):
            self.persons.observe(face.track_id, embedding, t, face)

    def _labelled(self, faces) -> list[Face]:
        return list(faces) if self.persons is None else self.persons.label(faces)

    def process(
        self, bgr: np.ndarray, t: float | None = None, detected: Detections | None = None
    ) -> FrameResult:
        """The tracked faces of the next frame (``t``: seconds; default: now)."""
        t = time.monotonic() if t is None else float(t)
        index, analyse, cut = self._next(bgr)
        if analyse:
            return self._analyse(index, bgr, t, cut, detected)
        return FrameResult(index, t, tuple(self._labelled(self.tracker.predict(t))))

    def push(
        self, bgr: np.ndarray, t: float, item: Any = None, detected: Detections | None = None
    ) -> list[tuple[Any, FrameResult]]:
        """Feed the next frame; returns the ``(item, result)`` pairs now complete,
        in frame order (``item``: anything to carry along, e.g. the frame)."""
        index, analyse, cut = self._next(bgr)
        if not analyse:
            self._pending.append((index, t, item))
            return []
        done = self.flush() if cut else []
        result = self._analyse(index, bgr, t, cut, detected)
        before = self._analysed
        for i, ti, held in self._pending:
            faces = interpolate_faces(before, result, ti) if before is not None else ()
            done.append((held, FrameResult(i, ti, faces)))
        self._pending.clear()
        self._analysed = result
        done.append((item, result))
        return done

    def flush(self) -> list[tuple[Any, FrameResult]]:
        """The frames held back since the last analysed one, faces moved along their motion."""
        done = [
            (held, FrameResult(i, ti, tuple(self._labelled(self.tracker.predict(ti)))))
            for i, ti, held in self._pending
        ]
        self._pending.clear()
        self._analysed = None
        return done
