"""The one result type: a detected face with its perceived attributes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def _whole_or_round(value: float) -> int | float:
    """Whole numbers as ints (age intervals are whole years), others to 0.1."""
    value = float(value)
    return int(value) if value.is_integer() else round(value, 1)


def top_label(probs: dict[str, float]) -> str:
    """The label with the highest probability."""
    return max(probs, key=probs.__getitem__)


@dataclass(frozen=True)
class Face:
    """A face found in an image, with perceived (estimated) age, gender and race.

    ``xyxy`` and ``keypoints`` are in pixels of the analysed image. Keypoints are
    the detector's: right eye, left eye, nose tip, mouth centre, right ear, left ear
    (empty for pre-aligned crops). Probabilities map label to probability and sum to 1.
    ``embedding``: the identity embedding (float32, L2-normalised), only when asked for
    (biometric data; see :mod:`faceattrs.embedding`).
    """

    xyxy: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]
    age: float
    age_interval: tuple[float, float]
    gender_probs: dict[str, float]
    race_probs: dict[str, float]
    track_id: int | None = field(default=None, compare=False)
    person_id: int | None = field(default=None, compare=False)  # videos with re-identification
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def gender(self) -> str:
        """The most probable perceived gender label."""
        return top_label(self.gender_probs)

    @property
    def race(self) -> str:
        """The most probable perceived race label."""
        return top_label(self.race_probs)

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def label(self) -> str:
        """A short human-readable label, e.g. ``"female, 27, asian"``."""
        return f"{self.gender}, {self.age:.0f}, {self.race}"

    def with_track(self, track_id: int | None) -> Face:
        return replace(self, track_id=track_id)

    def with_embedding(self, embedding: np.ndarray | None) -> Face:
        return replace(self, embedding=embedding)

    def to_dict(self) -> dict[str, Any]:
        """The JSON schema used by the CLI and the HTTP API."""
        out: dict[str, Any] = {
            "box": [_round(v, 1) for v in self.xyxy],
            "score": _round(self.score),
            "keypoints": [[_round(x, 1), _round(y, 1)] for x, y in self.keypoints],
            "age": _round(self.age, 1),
            "age_interval": [_whole_or_round(v) for v in self.age_interval],
            "gender": self.gender,
            "gender_probs": {k: _round(v) for k, v in self.gender_probs.items()},
            "race": self.race,
            "race_probs": {k: _round(v) for k, v in self.race_probs.items()},
        }
        if self.track_id is not None:
            out["track_id"] = self.track_id
        if self.person_id is not None:
            out["person_id"] = self.person_id
        if self.embedding is not None:
            out["embedding"] = [round(float(v), 5) for v in self.embedding]
        return out
