"""Re-identification: join a video's tracks into persons by face embedding.

A track ends when its face leaves the view or at a scene cut; the same person later
gets a new track. :class:`TrackPersons` embeds each track's face a few times
(``per_track`` samples, at least ``interval_s`` apart, large, confident and
frontal faces only), then :meth:`TrackPersons.assign` clusters the tracks' mean embeddings
(average linkage at the embedding model's threshold) into persons; two tracks seen
at the same time are never one person. Embeddings stay in memory for the run only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from faceattrs.video.tracking import FrameResult

MIN_SCORE = 0.7  # detector score of a face worth embedding
MIN_SIDE = 40  # box side (px) of a face worth embedding
# Turned faces give embeddings close to other people's (a profile joined a frontal face
# of someone else in the shared Hamilton clip): embed only faces whose nose tip lies
# within this share of the eye distance from the eyes' midpoint, along the eye axis.
MAX_YAW = 0.3


class Embedder(Protocol):
    threshold: float

    def embed(self, bgr: np.ndarray, keypoints: np.ndarray) -> np.ndarray: ...


@dataclass
class _Track:
    first_s: float
    last_s: float
    samples: list[np.ndarray] = field(default_factory=list)
    sampled_s: float = -np.inf


class TrackPersons:
    """Collects embeddings per track (``observe`` each frame) and joins tracks into
    persons (``assign``). ``threshold`` None: the embedder's."""

    def __init__(
        self,
        embedder: Embedder,
        per_track: int = 3,
        interval_s: float = 0.5,
        threshold: float | None = None,
    ) -> None:
        self.embedder = embedder
        self.per_track = per_track
        self.interval_s = interval_s
        self.threshold = embedder.threshold if threshold is None else threshold
        self._tracks: dict[int, _Track] = {}
        self.embedded = 0

    def observe(self, bgr: np.ndarray, result: FrameResult) -> None:
        """Note the frame's tracks; embed the faces whose track needs a sample."""
        wanted, keypoints = [], []
        for face in result.faces:
            if face.track_id is None:
                continue
            track = self._tracks.setdefault(face.track_id, _Track(result.time_s, result.time_s))
            track.last_s = result.time_s
            side = max(face.xyxy[2] - face.xyxy[0], face.xyxy[3] - face.xyxy[1])
            due = result.time_s - track.sampled_s >= self.interval_s
            if (
                due
                and len(track.samples) < self.per_track
                and face.score >= MIN_SCORE
                and side >= MIN_SIDE
                and len(face.keypoints) >= 4
                and yaw(np.asarray(face.keypoints)) <= MAX_YAW
            ):
                wanted.append(track)
                keypoints.append(face.keypoints)
        if wanted:
            embeddings = self.embedder.embed(bgr, np.asarray(keypoints, np.float32))
            self.embedded += len(wanted)
            for track, embedding in zip(wanted, embeddings, strict=True):
                track.samples.append(embedding)
                track.sampled_s = result.time_s

    def assign(self) -> dict[int, int]:
        """Person id (1, 2, ...) of every track seen; tracks without a usable face
        sample are persons of their own."""
        from faceattrs.pipeline.embedding import normalize
        from faceattrs.pipeline.people import cluster_faces

        ids = sorted(self._tracks)
        sampled = [t for t in ids if self._tracks[t].samples]
        persons: dict[int, int] = {}
        if sampled:
            means = normalize(np.stack([np.mean(self._tracks[t].samples, 0) for t in sampled]))
            first = np.asarray([self._tracks[t].first_s for t in sampled])
            last = np.asarray([self._tracks[t].last_s for t in sampled])
            together = (first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
            labels = cluster_faces(means, self.threshold, apart=together)
            persons = {t: int(label) + 1 for t, label in zip(sampled, labels, strict=True)}
        next_id = max(persons.values(), default=0) + 1
        for t in ids:
            if t not in persons:
                persons[t], next_id = next_id, next_id + 1
        return persons


def yaw(keypoints: np.ndarray) -> float:
    """How turned a face is: the nose tip's offset from the eyes' midpoint along the
    eye axis, in eye distances (0: frontal; about 0.5 and more: half profile)."""
    right_eye, left_eye, nose = (np.asarray(p, np.float64) for p in keypoints[:3])
    axis = left_eye - right_eye
    distance = float(np.linalg.norm(axis))
    if distance < 1e-6:
        return float("inf")
    return abs(float(np.dot(nose - (right_eye + left_eye) / 2, axis))) / distance**2


def person_summaries(tracks: list[dict[str, Any]], persons: dict[int, int]) -> list[dict[str, Any]]:
    """One entry per person from the per-track summaries (``TrackSummary.to_dict``):
    their tracks, first and last time, frames, median of the tracks' ages (weighted by
    frames), probabilities averaged over frames."""
    out = []
    for person_id in sorted(set(persons.values())):
        mine = [t for t in tracks if persons.get(t["track_id"]) == person_id]
        if not mine:
            continue
        frames = np.asarray([t["frames"] for t in mine], np.float64)
        ages = np.repeat([t["age"] for t in mine], frames.astype(int))
        entry: dict[str, Any] = {
            "person_id": person_id,
            "tracks": [t["track_id"] for t in mine],
            "first_time": min(t["first_time"] for t in mine),
            "last_time": max(t["last_time"] for t in mine),
            "frames": int(frames.sum()),
            "age": round(float(np.median(ages)), 1),
        }
        for key in ("gender_probs", "race_probs"):
            labels = list(mine[0][key])
            if not labels:
                continue
            mean = np.average([[t[key][k] for k in labels] for t in mine], axis=0, weights=frames)
            entry[key] = {k: round(float(v), 4) for k, v in zip(labels, mean, strict=True)}
            entry[key[:-6]] = max(entry[key], key=entry[key].__getitem__)
        out.append(entry)
    return out


def add_person_ids(timeline: Path, persons: dict[int, int]) -> None:
    """Rewrite a JSON Lines timeline with ``person_id`` beside each face's ``track_id``."""
    rewritten = timeline.with_name(timeline.name + ".persons")
    try:
        with open(timeline, encoding="utf-8") as src, open(rewritten, "w", encoding="utf-8") as dst:
            for line in src:
                record = json.loads(line)
                for face in record["faces"]:
                    if face.get("track_id") in persons:
                        face["person_id"] = persons[face["track_id"]]
                dst.write(json.dumps(record, separators=(",", ":")) + "\n")
        os.replace(rewritten, timeline)
    finally:
        rewritten.unlink(missing_ok=True)
