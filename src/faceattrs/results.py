"""The one result type: a detected face with its perceived attributes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# Said wherever predictions are handed over as data (the server's answers, video summaries,
# Parquet files); pictures carry faceattrs.drawing.PERCEIVED.
NOTICE = (
    "Predictions are estimates of perceived attributes (how a face looks to a model), "
    "not facts about a person."
)


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
    """A face found in an image, with perceived (estimated) age, gender, race and
    facial expression.

    ``xyxy`` and ``keypoints`` are in pixels of the analysed image. Keypoints are
    the detector's: right eye, left eye, nose tip, mouth centre, right ear, left ear
    (empty for pre-aligned crops). Probabilities map label to probability and sum to 1.
    An attribute that was not asked for (``FaceAnalyzer(attributes=...)``) is None and
    left out of :meth:`to_dict`.
    ``embedding``: the identity embedding (float32, L2-normalised), only when asked for
    (biometric data; see :mod:`faceattrs.embedding`).
    """

    xyxy: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]
    age: float | None = None
    age_interval: tuple[float, float] | None = None
    gender_probs: dict[str, float] | None = None
    race_probs: dict[str, float] | None = None
    track_id: int | None = field(default=None, compare=False)
    expression_probs: dict[str, float] | None = None
    person_id: int | None = field(default=None, compare=False)  # videos with re-identification
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def gender(self) -> str | None:
        """The most probable perceived gender label (None when not asked for)."""
        return top_label(self.gender_probs) if self.gender_probs else None

    @property
    def race(self) -> str | None:
        """The most probable perceived race label (None when not asked for)."""
        return top_label(self.race_probs) if self.race_probs else None

    @property
    def expression(self) -> str | None:
        """The most probable facial expression label (None when not asked for)."""
        return top_label(self.expression_probs) if self.expression_probs else None

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def label(self) -> str:
        """A short human-readable label, e.g. ``"female, 27, asian, happy"`` (the
        attributes that were asked for)."""
        age = f"{self.age:.0f}" if self.age is not None else None
        parts = (self.gender, age, self.race, self.expression)
        return ", ".join(part for part in parts if part is not None)

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
        }
        if self.age is not None:
            out["age"] = _round(self.age, 1)
            if self.age_interval is not None:
                out["age_interval"] = [_whole_or_round(v) for v in self.age_interval]
        for name, probs in (
            ("gender", self.gender_probs),
            ("race", self.race_probs),
            ("expression", self.expression_probs),
        ):
            if probs:
                out[name] = top_label(probs)
                out[f"{name}_probs"] = {k: _round(v) for k, v in probs.items()}
        if self.track_id is not None:
            out["track_id"] = self.track_id
        if self.person_id is not None:
            out["person_id"] = self.person_id
        if self.embedding is not None:
            out["embedding"] = [round(float(v), 5) for v in self.embedding]
        return out
