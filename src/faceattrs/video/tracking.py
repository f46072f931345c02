"""Follow faces through frames: stable track ids, smoothed attributes, per-track summaries.

:class:`FaceTracker` matches each frame's faces to the tracks of earlier frames
(greedy, best first, by the IoU of each track's constant-velocity prediction,
with a centre-distance fallback for fast motion or low frame rates), gives
confirmed tracks ids 1, 2, 3, ... (a track is never handed to a face whose person is
in doubt: see :func:`match_boxes` and ``FaceTracker._ambiguous``; re-identification
joins the pieces) and returns the faces with ``track_id`` set and
their age, age interval and probabilities smoothed over the track: an
exponentially weighted mean over time (time constant ``smooth_s`` seconds, 1 by
default; expression probabilities ``expression_smooth_s``, 0.3 s by default, since
expressions change faster; weights = detector score; :mod:`faceattrs.video.smoothing`),
which stops frame-to-frame flicker of ages.
:class:`VideoSession` runs an analyzer and a tracker frame by frame (camera
streams, video files); :func:`summarize_tracks` gives one summary per track.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from faceattrs.pipeline.boxes import box_iou, overlap_of_smaller
from faceattrs.results import Face
from faceattrs.video.smoothing import EXPRESSION_SMOOTH_S, SmoothedAttributes

VELOCITY_POINTS = 6  # recent detections a track's velocity is fitted to ...
VELOCITY_WINDOW_S = 0.5  # ... within this many seconds


@dataclass(frozen=True)
class FrameResult:
    """The tracked faces of one frame (``time_s``: seconds from the start)."""

    index: int
    time_s: float
    faces: tuple[Face, ...]

    def to_dict(self) -> dict[str, Any]:
        """One line of the JSON Lines timeline."""
        return {
            "frame": self.index,
            "time": round(self.time_s, 3),
            "faces": [face.to_dict() for face in self.faces],
        }


@dataclass
class _Track:
    xyxy: np.ndarray  # last observed box
    t: float  # when it was last observed
    hits: int = 1
    track_id: int | None = None  # set once confirmed
    face: Face | None = None  # last smoothed face
    attributes: SmoothedAttributes = field(default_factory=SmoothedAttributes)
    history: deque = field(default_factory=lambda: deque(maxlen=VELOCITY_POINTS))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, px per second

    def __post_init__(self) -> None:
        self.history.append((self.t, _centre(self.xyxy)))

    def predict(self, t: float, horizon: float) -> np.ndarray:
        """The box moved along the centre's velocity (sizes change too little to extrapolate)."""
        shift = self.velocity * min(max(t - self.t, 0.0), horizon)
        return self.xyxy + np.concatenate([shift, shift])

    def observe(self, xyxy: np.ndarray, t: float) -> None:
        """A new detection: the velocity is the least-squares slope of the recent centres
        (a noisy box moves it less than a two-point difference would)."""
        self.xyxy, self.t = xyxy, t
        self.hits += 1
        self.history.append((t, _centre(xyxy)))
        times = np.array([ti for ti, _ in self.history])
        centres = np.array([c for _, c in self.history])
        recent = times >= t - VELOCITY_WINDOW_S
        times, centres = times[recent], centres[recent]
        spread = times - times.mean()
        denominator = float((spread**2).sum())
        if len(times) >= 2 and denominator > 0:
            self.velocity = (spread[:, None] * (centres - centres.mean(0))).sum(0) / denominator


def _centre(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[:2] + xyxy[2:]) / 2


def match_boxes(
    tracks_xyxy: np.ndarray,
    faces_xyxy: np.ndarray,
    iou_threshold: float = 0.3,
    max_distance: float = 0.7,
    near_ok: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, best pair first: (track index, face index) pairs.

    Pairs with IoU >= ``iou_threshold`` rank first; below it a pair may still
    match (ranked lower) when the centres are less than ``max_distance`` face
    sizes apart and the sizes differ by less than a factor of 2, for the tracks
    where ``near_ok`` (default: all) is True. :class:`FaceTracker` allows that only
    for tracks seen in the previous update (fast motion, low frame rates) or lost for
    at most ``max_near_lost_s`` (a detection missed for a few frames): a track lost
    for longer and a face that turns up near it are often two people, one having
    hidden the other (facenet_pytorch/video.mp4, frames 25-47).
    """
    if len(tracks_xyxy) == 0 or len(faces_xyxy) == 0:
        return []
    iou = box_iou(tracks_xyxy, faces_xyxy)
    t, f = tracks_xyxy.reshape(-1, 1, 4), faces_xyxy.reshape(1, -1, 4)
    size_t = np.sqrt(np.maximum((t[..., 2] - t[..., 0]) * (t[..., 3] - t[..., 1]), 1e-9))
    size_f = np.sqrt(np.maximum((f[..., 2] - f[..., 0]) * (f[..., 3] - f[..., 1]), 1e-9))
    centre_t = np.stack([t[..., 0] + t[..., 2], t[..., 1] + t[..., 3]], -1) / 2
    centre_f = np.stack([f[..., 0] + f[..., 2], f[..., 1] + f[..., 3]], -1) / 2
    distance = np.linalg.norm(centre_t - centre_f, axis=-1) / np.maximum(size_t, size_f)
    ratio = np.maximum(size_t, size_f) / np.minimum(size_t, size_f)
    near = (distance < max_distance) & (ratio < 2.0)
    if near_ok is not None:
        near &= np.asarray(near_ok, bool).reshape(-1, 1)
    fallback = iou_threshold * (1.0 - distance / max_distance) * 0.999
    score = np.where(iou >= iou_threshold, iou, np.where(near, fallback, 0.0))
    pairs = []
    used_t, used_f = set(), set()
    for flat in np.argsort(-score, axis=None, kind="stable"):
        ti, fi = divmod(int(flat), score.shape[1])
        if score[ti, fi] <= 0:
            break
        if ti not in used_t and fi not in used_f:
            pairs.append((ti, fi))
            used_t.add(ti)
            used_f.add(fi)
    return pairs


class FaceTracker:
    """Stable ids and smoothed attributes for the faces of consecutive frames.

    ``update(faces, t)`` returns the faces of confirmed tracks (seen in
    ``min_hits`` updates, or any face in the first ``min_hits`` updates) with
    ``track_id`` set and attributes smoothed; tracks unseen for more than
    ``max_lost_s`` seconds end. An unmatched face covering more than
    ``max_overlap`` of (the smaller of) its box and a tracked face's starts no
    track: detectors often find one face twice. ``t`` defaults to the monotonic
    clock (cameras).
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_distance: float = 0.7,
        max_lost_s: float = 1.0,
        min_hits: int = 3,
        smooth_s: float = 1.0,
        max_predict_s: float = 0.5,
        max_overlap: float = 0.3,
        expression_smooth_s: float = EXPRESSION_SMOOTH_S,
        max_near_lost_s: float = 0.2,
    ) -> None:
        if smooth_s < 0 or max_lost_s < 0 or min_hits < 1:
            raise ValueError("smooth_s and max_lost_s must be >= 0 and min_hits >= 1")
        self.iou_threshold = iou_threshold
        self.max_distance = max_distance
        self.max_lost_s = max_lost_s
        self.min_hits = min_hits
        self.smooth_s = smooth_s
        self.expression_smooth_s = expression_smooth_s
        self.max_predict_s = max_predict_s
        self.max_overlap = max_overlap
        self.max_near_lost_s = max_near_lost_s
        self._next_id = 1
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (ids keep increasing)."""
        self._tracks: list[_Track] = []
        self._updates = 0
        self._last_t: float | None = None

    @property
    def track_count(self) -> int:
        """How many track ids have been given out."""
        return self._next_id - 1

    def _match(self, faces_xyxy: np.ndarray, t: float) -> dict[int, _Track]:
        """Face index -> its track. Confirmed tracks choose first, so a tentative
        one (often a duplicate detection) cannot take their face."""
        self._tracks = [tr for tr in self._tracks if t - tr.t <= self.max_lost_s]
        track_of: dict[int, _Track] = {}
        for confirmed in (True, False):
            tracks = [tr for tr in self._tracks if (tr.track_id is not None) == confirmed]
            free = [fi for fi in range(len(faces_xyxy)) if fi not in track_of]
            predicted = np.array([tr.predict(t, self.max_predict_s) for tr in tracks])
            recent = np.array(
                [tr.t == self._last_t or t - tr.t <= self.max_near_lost_s for tr in tracks], bool
            )
            pairs = match_boxes(
                predicted.reshape(-1, 4),
                faces_xyxy[free],
                self.iou_threshold,
                self.max_distance,
                recent,
            )
            track_of.update({free[fi]: tracks[ti] for ti, fi in pairs})
        return track_of

    def _ambiguous(self, track_of: dict[int, _Track], faces_xyxy: np.ndarray, t: float) -> set[int]:
        """Faces whose track must end here: two confirmed tracks seen in the previous update
        could both claim the face (IoU with both predictions >= ``iou_threshold``) but only
        one got it, so one person may have hidden the other and which one is left is a
        guess. The winner's track ends and the face starts a new one; re-identification
        (:mod:`faceattrs.video.persons`) joins the pieces to their persons. Without this, on
        facenet_pytorch/video.mp4 a man's track slid onto the man passing in front of him,
        who came back as a new track: one track held two people and one person got two."""
        claimed = {id(tr) for tr in track_of.values()}
        losers = [
            tr
            for tr in self._tracks
            if tr.track_id is not None and tr.t == self._last_t and id(tr) not in claimed
        ]
        if not losers:
            return set()
        predicted = np.array([tr.predict(t, self.max_predict_s) for tr in losers])
        restart = set()
        for fi, track in track_of.items():
            if track.track_id is None or track.t != self._last_t:
                continue
            if box_iou(faces_xyxy[fi : fi + 1], predicted).max() >= self.iou_threshold:
                restart.add(fi)
        return restart

    def stale(self, xyxy: np.ndarray, t: float, max_age_s: float) -> list[bool]:
        """For each box (N, 4): whether it needs fresh attributes, being a new face
        or one whose track's last attributes are ``max_age_s`` or more old."""
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        track_of = self._match(xyxy, float(t))
        restart = self._ambiguous(track_of, xyxy, float(t))  # new tracks: fresh attributes
        return [
            fi in restart
            or (track := track_of.get(fi)) is None
            or track.attributes.t is None
            or float(t) - track.attributes.t >= max_age_s - 1e-9
            for fi in range(len(xyxy))
        ]

    def update(
        self,
        faces: Sequence[Face],
        t: float | None = None,
        fresh: Sequence[bool] | None = None,
    ) -> list[Face]:
        """Match this frame's faces to the tracks; returns the confirmed ones, tracked.

        ``fresh[i]`` False: face i's attributes are placeholders (not analysed in
        this frame); its track keeps its smoothed attributes.
        """
        t = time.monotonic() if t is None else float(t)
        self._updates += 1
        faces_xyxy = np.array([f.xyxy for f in faces], np.float64).reshape(-1, 4)
        track_of = self._match(faces_xyxy, t)
        restart = self._ambiguous(track_of, faces_xyxy, t)
        ended = {id(track_of[fi]) for fi in restart}
        self._tracks = [tr for tr in self._tracks if id(tr) not in ended]
        self._last_t = t
        matched = {id(tr) for tr in track_of.values()}
        # tentative tracks die on their first miss
        self._tracks = [tr for tr in self._tracks if id(tr) in matched or tr.track_id is not None]
        held = [fi for fi, tr in track_of.items() if tr.track_id is not None]
        overlap = overlap_of_smaller(faces_xyxy, faces_xyxy[held])
        out = []
        for fi, face in enumerate(faces):
            track = track_of.get(fi)
            if fi in restart:  # confirmed at once: a tracked face, only its identity is open
                track = _Track(xyxy=faces_xyxy[fi], t=t, hits=self.min_hits)
                self._tracks.append(track)
            elif track is None:
                if overlap[fi].max(initial=0.0) > self.max_overlap:
                    continue  # a second detection of a tracked face, not a new face
                track = _Track(xyxy=faces_xyxy[fi], t=t)
                self._tracks.append(track)
            else:
                track.observe(faces_xyxy[fi], t)
            if fresh is None or fresh[fi] or track.face is None:
                track.face = track.attributes.add(face, t, self.smooth_s, self.expression_smooth_s)
            else:
                track.face = replace(
                    track.face, xyxy=face.xyxy, score=face.score, keypoints=face.keypoints
                )
            if track.track_id is None and (
                track.hits >= self.min_hits or self._updates <= self.min_hits
            ):
                track.track_id = self._next_id
                self._next_id += 1
            if track.track_id is not None:
                out.append(track.face.with_track(track.track_id))
        return out

    def predict(self, t: float | None = None) -> list[Face]:
        """The confirmed faces of the last update, moved to where they should be at ``t``."""
        t = time.monotonic() if t is None else float(t)
        out = []
        for track in self._tracks:
            if track.track_id is None or track.face is None or track.t != self._last_t:
                continue
            moved = move_face(track.face, track.predict(t, self.max_predict_s))
            out.append(moved.with_track(track.track_id))
        return out


def move_face(face: Face, xyxy: Sequence[float]) -> Face:
    """``face`` with its box (and keypoints with it) moved to ``xyxy``."""
    old = np.asarray(face.xyxy, np.float64)
    new = np.asarray(xyxy, np.float64)
    scale = (new[2:] - new[:2]) / np.maximum(old[2:] - old[:2], 1e-9)
    keypoints = tuple(
        (float(new[0] + (x - old[0]) * scale[0]), float(new[1] + (y - old[1]) * scale[1]))
        for x, y in face.keypoints
    )
    return replace(face, xyxy=tuple(float(v) for v in new), keypoints=keypoints)


def interpolate_faces(before: FrameResult, after: FrameResult, t: float) -> tuple[Face, ...]:
    """Faces at time ``t`` between two analysed frames: the tracks present in both,
    boxes and keypoints interpolated linearly, attributes from ``after``."""
    span = after.time_s - before.time_s
    w = 0.0 if span <= 0 else min(max((t - before.time_s) / span, 0.0), 1.0)
    start = {f.track_id: f for f in before.faces if f.track_id is not None}
    out = []
    for face in after.faces:
        first = start.get(face.track_id)
        if first is None:
            continue
        xyxy = [(1 - w) * a + w * b for a, b in zip(first.xyxy, face.xyxy, strict=True)]
        moved = move_face(face, xyxy)
        if len(first.keypoints) == len(face.keypoints):
            keypoints = tuple(
                ((1 - w) * xa + w * xb, (1 - w) * ya + w * yb)
                for (xa, ya), (xb, yb) in zip(first.keypoints, face.keypoints, strict=True)
            )
            moved = replace(moved, keypoints=keypoints)
        out.append(moved)
    return tuple(out)
