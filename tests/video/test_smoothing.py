"""Ewma and SmoothedAttributes: the arithmetic of a track's smoothed attributes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from faceattrs.results import Face
from faceattrs.video.smoothing import Ewma, SmoothedAttributes


def test_ewma_is_a_bias_corrected_weighted_mean():
    ewma = Ewma()
    assert ewma.add(np.array([1.0]), 1.0, t=0.0, time_constant=1.0) == pytest.approx([1.0])
    decay = math.exp(-1.0)
    expected = (decay * 1.0 + 2.0 * 3.0) / (decay + 2.0)  # second value weighs 2
    assert ewma.add(np.array([3.0]), 2.0, t=1.0, time_constant=1.0) == pytest.approx([expected])


def test_ewma_without_a_time_constant_returns_the_latest_value():
    ewma = Ewma()
    ewma.add(np.array([1.0, 2.0]), 1.0, t=0.0, time_constant=0.0)
    assert ewma.add(np.array([5.0, 6.0]), 0.5, t=0.1, time_constant=0.0) == pytest.approx([5, 6])


def test_a_time_going_back_counts_as_no_time():
    ewma = Ewma()
    ewma.add(np.array([1.0]), 1.0, t=2.0, time_constant=1.0)
    assert ewma.add(np.array([3.0]), 1.0, t=1.0, time_constant=1.0) == pytest.approx([2.0])


def _face(age: float | None, female: float | None, score: float = 1.0) -> Face:
    return Face(
        xyxy=(0.0, 0.0, 50.0, 50.0),
        score=score,
        keypoints=tuple((0.0, 0.0) for _ in range(6)),
        age=age,
        age_interval=None if age is None else (age - 5, age + 5),
        gender_probs=None if female is None else {"male": 1 - female, "female": female},
    )


def test_attributes_a_face_lacks_stay_as_they_are():
    smoothed = SmoothedAttributes()
    smoothed.add(_face(30.0, 0.2), t=0.0, time_constant=1.0)
    only_gender = smoothed.add(_face(None, 0.8), t=0.0, time_constant=1.0)
    assert only_gender.age is None and only_gender.age_interval is None
    assert only_gender.gender_probs["female"] == pytest.approx(0.5)  # equal weights, no time
    later = smoothed.add(_face(50.0, None), t=0.0, time_constant=1.0)
    assert later.age == pytest.approx(40.0) and later.age_interval == pytest.approx((35, 45))
    assert later.gender_probs is None


def test_scores_weigh_the_faces_and_probabilities_stay_normalised():
    smoothed = SmoothedAttributes()
    smoothed.add(_face(20.0, 0.0, score=0.9), t=0.0, time_constant=1.0)
    face = smoothed.add(_face(60.0, 1.0, score=0.1), t=0.0, time_constant=1.0)
    assert face.age == pytest.approx(24.0)
    assert face.gender_probs == pytest.approx({"male": 0.9, "female": 0.1})
    assert smoothed.t == 0.0
    unnormalised = replace(_face(20.0, None), gender_probs={"male": 2.0, "female": 2.0})
    assert SmoothedAttributes().add(unnormalised, 0.0, 1.0).gender_probs == {
        "male": 0.5,
        "female": 0.5,
    }
