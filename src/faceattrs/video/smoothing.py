"""Attributes smoothed over a track: exponentially weighted means over time.

A track's age, age interval and gender and race probabilities are averaged over
``time_constant`` seconds (1 by default in :class:`~faceattrs.video.tracking.FaceTracker`),
its expression probabilities over ``EXPRESSION_SMOOTH_S`` (expressions change faster);
each face weighs its detector score. ``web/inbrowser/tracking.js`` is the page's twin.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from faceattrs.results import Face

EXPRESSION_SMOOTH_S = 0.3  # expressions change within a second; age, gender, race do not


class Ewma:
    """Exponentially weighted mean of one vector over time (bias-corrected)."""

    def __init__(self) -> None:
        self.sums: np.ndarray | None = None
        self.weight = 0.0
        self.t: float | None = None

    def add(self, values: np.ndarray, weight: float, t: float, time_constant: float):
        if self.sums is None or self.t is None or time_constant <= 0:
            decay = 0.0
        else:
            decay = math.exp(-max(t - self.t, 0.0) / time_constant)
        self.sums = values * weight if self.sums is None else decay * self.sums + values * weight
        self.weight = decay * self.weight + weight
        self.t = t
        return self.sums / self.weight


class SmoothedAttributes:
    """One track's smoothed attributes: age and its interval, gender and race
    probabilities over ``time_constant`` seconds, expression probabilities over
    ``expression_s`` seconds (shorter); weights = detector score. Each attribute is
    smoothed on its own, so a face that carries only some (``attributes=`` chose the
    heads) smooths those; attributes a face lacks are left as they are."""

    def __init__(self) -> None:
        self.means: dict[str, Ewma] = {}
        self.t: float | None = None  # when attributes were last added

    def _mean(self, name: str, values, weight: float, t: float, time_constant: float):
        ewma = self.means.setdefault(name, Ewma())
        return ewma.add(np.asarray(values, np.float64), weight, t, time_constant)

    def add(
        self, face: Face, t: float, time_constant: float, expression_s: float = EXPRESSION_SMOOTH_S
    ) -> Face:
        weight = max(float(face.score), 1e-3)
        self.t = t
        changes: dict[str, Any] = {}
        if face.age is not None and face.age_interval is not None:
            mean = self._mean("age", [face.age, *face.age_interval], weight, t, time_constant)
            changes.update(age=float(mean[0]), age_interval=(float(mean[1]), float(mean[2])))
        for name, time_s in (
            ("gender_probs", time_constant),
            ("race_probs", time_constant),
            ("expression_probs", expression_s),
        ):
            probs = getattr(face, name)
            if probs:
                mean = self._mean(name, list(probs.values()), weight, t, time_s)
                changes[name] = _normalized(probs, mean)
        return replace(face, **changes) if changes else face


def _normalized(labels: dict[str, float], probs: np.ndarray) -> dict[str, float]:
    total = float(probs.sum()) or 1.0
    return {label: float(p) / total for label, p in zip(labels, probs, strict=True)}
