"""Persons across tracks: re-identification by face embedding in videos and cameras.

A track ends when its face leaves the view for ``max_lost_s`` or at a scene cut; the
same person coming back starts a new track. :class:`PersonRegistry` joins tracks into
persons: each track's face is embedded a few times (at its first analysed frame, then
every ``sample_every_s`` up to ``samples_per_track``), never every frame, and a new
track joins the known person whose mean embedding is nearest, when nearer than the
embedding model's same-person threshold and that person was not in view at the same
time (two faces in one frame are two people). Embeddings stay in memory for the
length of the video or stream: they are never written out.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from faceattrs.results import Face, top_label

MAX_YAW = 0.3  # see embeddable()
MIN_SCORE = 0.7
MIN_SIDE = 40
FALLBACK_SAMPLES = 3  # see PersonRegistry: a track's least-turned faces when none is embeddable
FALLBACK_STEP = 0.05  # a new fallback sample must be this much less turned than the worst kept
FALLBACK_TRIES = 6  # fallback embeddings computed per track at most (the cost stays bounded)


@dataclass
class _Person:
    person_id: int
    embeddings: list[np.ndarray] = field(default_factory=list)
    tracks: set[int] = field(default_factory=set)

    def centre(self) -> np.ndarray:
        mean = np.mean(self.embeddings, axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)


@dataclass
class _TrackSamples:
    last_t: float | None = None  # of the last embeddable sample
    count: int = 0
    embeddings: list[np.ndarray] = field(default_factory=list)
    fallback: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (yaw, embedding)
    fallback_tries: int = 0

    def wants_fallback(self, yaw: float) -> bool:
        """Whether a face turned by ``yaw`` would improve the fallback samples."""
        if self.count or not np.isfinite(yaw) or self.fallback_tries >= FALLBACK_TRIES:
            return False
        if len(self.fallback) < FALLBACK_SAMPLES:
            return True
        return yaw < self.fallback[-1][0] - FALLBACK_STEP


class PersonRegistry:
    """Track id -> person id, from a few embeddings per track.

    ``threshold``: the largest Euclidean distance between two L2-normalised embeddings
    of one person (None: the embedding model's calibrated threshold, which the
    :class:`~faceattrs.video.session.VideoSession` fills in). ``max_samples`` caps
    the embeddings kept per person.

    A track none of whose faces is embeddable (see :func:`embeddable`: e.g. a profile
    close-up or a small face in the distance) keeps its ``FALLBACK_SAMPLES`` least-turned
    faces' embeddings instead; they never assign a person live (they are not reliable enough
    to decide alone), but :meth:`regroup` uses them for such tracks, at the same threshold and
    with the same rule that tracks seen together are different people. Left out, every such
    track was a person of its own: on the Hamilton clip the pianist, seen small at the piano
    and then in profile close-up, counted twice (reports/identity).
    """

    def __init__(
        self,
        threshold: float | None = None,
        samples_per_track: int = 3,
        sample_every_s: float = 0.3,
        max_samples: int = 24,
    ) -> None:
        if (threshold is not None and threshold <= 0) or samples_per_track < 1:
            raise ValueError("threshold must be > 0 and samples_per_track >= 1")
        self.threshold = threshold  # None: the embedding model's, set by the session
        self.samples_per_track = samples_per_track
        self.sample_every_s = sample_every_s
        self.max_samples = max_samples
        self._persons: list[_Person] = []
        self._samples: dict[int, _TrackSamples] = {}
        self._person_of: dict[int, int] = {}
        self._seen_with: dict[int, set[int]] = {}  # track -> tracks seen in the same frame

    @property
    def person_count(self) -> int:
        return len(self._persons)

    def track_persons(self) -> dict[int, int]:
        """Every track given a person so far: track id -> person id."""
        return dict(self._person_of)

    def regroup(self) -> dict[int, int]:
        """Track id -> person id decided on the whole video (for files, after the last
        frame): average-linkage clustering of the tracks' mean embeddings at the
        threshold, tracks seen in one frame kept apart; persons numbered by first track.
        Steadier than the online assignment, which decides at a track's first sample
        against single early samples: on the shared clips the online one joined two
        different men and missed the singer coming back (reports/identity)."""
        from faceattrs.pipeline.people import cluster_faces

        tracks = sorted(t for t, samples in self._samples.items() if self._vectors(samples))
        if not tracks:
            return {}
        means = np.stack([np.mean(self._vectors(self._samples[t]), axis=0) for t in tracks])
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        apart = np.asarray([[b in self._seen_with.get(a, ()) for b in tracks] for a in tracks])
        labels = cluster_faces(means, float(self.threshold or 0.0), apart=apart)
        number: dict[int, int] = {}
        for label in labels:
            number.setdefault(int(label), len(number) + 1)
        return {t: number[int(label)] for t, label in zip(tracks, labels, strict=True)}

    @staticmethod
    def _vectors(samples: _TrackSamples) -> list[np.ndarray]:
        """A track's embeddings for :meth:`regroup`: its samples, else its fallback ones."""
        return samples.embeddings or [vector for _, vector in samples.fallback]

    def wanted(self, faces: Sequence[Face], t: float) -> list[int]:
        """Indices of the faces whose track needs an embedding sample at time ``t``."""
        ids = [f.track_id for f in faces if f.track_id is not None]
        for track_id in ids:
            self._seen_with.setdefault(track_id, set()).update(i for i in ids if i != track_id)
        out = []
        for i, face in enumerate(faces):
            if face.track_id is None:
                continue
            samples = self._samples.get(face.track_id)
            if not embeddable(face):
                if samples is None or samples.wants_fallback(yaw_offset(face)):
                    out.append(i)  # a fallback sample (see the class doc)
            elif (
                samples is None
                or samples.last_t is None
                or (
                    samples.count < self.samples_per_track
                    and t - samples.last_t >= self.sample_every_s - 1e-9
                )
            ):
                out.append(i)
        return out

    def observe(
        self, track_id: int, embedding: np.ndarray, t: float, face: Face | None = None
    ) -> int | None:
        """Add one embedding of a track's face; returns the track's person id (None while
        it has only fallback samples). ``face``: the embedded face, when it may not be
        :func:`embeddable` (then it is a fallback sample)."""
        vector = np.asarray(embedding, np.float32).reshape(-1)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        samples = self._samples.setdefault(track_id, _TrackSamples())
        if face is not None and not embeddable(face):
            if samples.wants_fallback(yaw := yaw_offset(face)):
                samples.fallback.append((yaw, vector))
                samples.fallback.sort(key=lambda item: item[0])
                del samples.fallback[FALLBACK_SAMPLES:]
            samples.fallback_tries += 1
            return self._person_of.get(track_id)
        samples.last_t, samples.count = t, samples.count + 1
        samples.embeddings.append(vector)
        person_id = self._person_of.get(track_id)
        if person_id is None:
            person = self._match(track_id, vector) or self._new_person()
            person.tracks.add(track_id)
            self._person_of[track_id] = person.person_id
        person = self._persons[self._person_of[track_id] - 1]
        person.embeddings.append(vector)
        del person.embeddings[: -self.max_samples]
        return person.person_id

    def _new_person(self) -> _Person:
        person = _Person(len(self._persons) + 1)
        self._persons.append(person)
        return person

    def _match(self, track_id: int, vector: np.ndarray) -> _Person | None:
        together = self._seen_with.get(track_id, set())
        best, best_distance = None, float(self.threshold or 0.0)
        for person in self._persons:
            if person.tracks & together:
                continue  # in view at the same time as this track: someone else
            distance = float(np.linalg.norm(person.centre() - vector))
            if distance < best_distance:
                best, best_distance = person, distance
        return best

    def label(self, faces: Iterable[Face]) -> list[Face]:
        """The faces with ``person_id`` set where their track has a person."""
        return [
            replace(f, person_id=self._person_of.get(f.track_id)) if f.track_id else f
            for f in faces
        ]


def embeddable(face: Face) -> bool:
    """Whether a detected face is worth an embedding sample: confident (score >=
    ``MIN_SCORE``), large (box side >= ``MIN_SIDE`` px) and frontal (nose tip within
    ``MAX_YAW`` eye distances of the eyes' midpoint, along the eye axis). Faces without
    detector keypoints (fewer than three) are not judged. On the shared clips, samples of
    small, unsure or turned faces joined different people (a profile close-up of the
    Hamilton singer with Michelle Obama; two older men in video.mp4): reports/identity."""
    if len(face.keypoints) < 3:
        return True
    side = max(face.xyxy[2] - face.xyxy[0], face.xyxy[3] - face.xyxy[1])
    if face.score < MIN_SCORE or side < MIN_SIDE:
        return False
    return yaw_offset(face) <= MAX_YAW


def yaw_offset(face: Face) -> float:
    """How far the face is turned: the nose tip's offset from the eyes' midpoint along the
    eye axis, in eye distances (0: frontal; inf without three keypoints or with both eyes
    on one point)."""
    if len(face.keypoints) < 3:
        return float("inf")
    right_eye, left_eye, nose = (np.asarray(p, np.float64) for p in face.keypoints[:3])
    axis = left_eye - right_eye
    distance = float(np.linalg.norm(axis))
    if distance < 1e-6:
        return float("inf")
    return abs(float(np.dot(nose - (right_eye + left_eye) / 2, axis))) / distance**2


def summarize_persons(tracks: Sequence[Any], track_persons: dict[int, int]) -> list[dict[str, Any]]:
    """One entry per person from per-track summaries (``TrackSummary``): the person's
    tracks, when seen, median age and interval, and probabilities averaged over frames.
    Tracks never embedded (too short) count as persons of their own, marked so."""
    groups: dict[Any, list[Any]] = {}
    for track in tracks:
        key = track_persons.get(track.track_id, ("track", track.track_id))
        groups.setdefault(key, []).append(track)
    out = []
    for key, members in sorted(groups.items(), key=lambda kv: min(t.first_s for t in kv[1])):
        frames = sum(t.frames for t in members)
        entry: dict[str, Any] = {
            "person_id": key if isinstance(key, int) else None,
            "tracks": [t.track_id for t in members],
            "first_time": round(min(t.first_s for t in members), 3),
            "last_time": round(max(t.last_s for t in members), 3),
            "frames": frames,
        }
        aged = [t for t in members if t.age is not None and t.age_interval is not None]
        if aged:  # attributes not asked for are left out, as in the tracks
            entry["age"] = round(statistics.median(t.age for t in aged), 1)
            entry["age_interval"] = [
                round(statistics.median(t.age_interval[i] for t in aged)) for i in (0, 1)
            ]
        for name in ("gender", "race"):
            total: dict[str, float] = {}
            for t in members:
                for label, p in (getattr(t, f"{name}_probs") or {}).items():
                    total[label] = total.get(label, 0.0) + p * t.frames
            if total:
                probs = {k: round(v / max(frames, 1), 4) for k, v in total.items()}
                entry[name], entry[f"{name}_probs"] = top_label(probs), probs
        shares = expression_shares(members)
        if shares:
            entry["expression_shares"] = shares
        out.append(entry)
    return out


def expression_shares(tracks: Sequence[Any]) -> dict[str, float] | None:
    """Share of a person's frames per (smoothed) top expression: the tracks' shares
    weighted by their frames; None when no track has expressions."""
    total: dict[str, float] = {}
    frames = 0
    for track in tracks:
        shares = getattr(track, "expression_shares", None)
        if shares:
            frames += track.frames
            for label, share in shares.items():
                total[label] = total.get(label, 0.0) + share * track.frames
    return {k: round(v / frames, 4) for k, v in total.items()} if frames else None


def relabel_timeline(timeline: Path, track_persons: dict[int, int]) -> None:
    """Rewrite a JSON Lines timeline with each face's ``person_id`` from ``track_persons``
    (the whole-video grouping replaces the online one)."""
    rewritten = timeline.with_name(timeline.name + ".persons")
    try:
        with open(timeline, encoding="utf-8") as src, open(rewritten, "w", encoding="utf-8") as dst:
            for line in src:
                record = json.loads(line)
                for face in record["faces"]:
                    face.pop("person_id", None)
                    if face.get("track_id") in track_persons:
                        face["person_id"] = track_persons[face["track_id"]]
                dst.write(json.dumps(record, separators=(",", ":")) + "\n")
        os.replace(rewritten, timeline)
    finally:
        rewritten.unlink(missing_ok=True)


def can_identify(analyzer: Any) -> bool:
    """Whether ``analyzer`` can embed faces (``embed`` and ``embedding_threshold``), so
    that a server's video jobs and camera streams join tracks into persons."""
    return callable(getattr(analyzer, "embed", None)) and hasattr(analyzer, "embedding_threshold")
