"""Balancing: age cap, random down-sampling of cells, loss weights, counts before/after."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from utk_synth import make_samples

from faceattrs.data import balance as bal


def test_age_cap_drops_only_older_faces() -> None:
    samples = make_samples()
    result = bal.balance(samples, age_cap=80)
    kept = result.select(samples)
    assert all(s.age <= 80 for s in kept)
    assert len(kept) == sum(s.age <= 80 for s in samples)
    assert result.steps[0]["removed"] == sum(s.age > 80 for s in samples)
    assert bal.balance(samples, age_cap=None).indices == list(range(len(samples)))


def test_cap_per_cell_limits_every_cell_and_keeps_small_cells() -> None:
    samples = make_samples()
    result = bal.balance(samples, age_cap=None, cap_per_cell=15, by="age_band,race")
    kept = result.select(samples)
    after = Counter(bal.cell_key(s, ("age_band", "race")) for s in kept)
    before = Counter(bal.cell_key(s, ("age_band", "race")) for s in samples)
    assert max(after.values()) == 15
    for cell, n in before.items():
        assert after[cell] == min(n, 15)


def test_sequential_caps_like_the_seed() -> None:
    samples = make_samples()
    result = bal.balance(samples, age_cap=80, cap_per_cell={"age": 20, "race": 60})
    kept = result.select(samples)
    assert max(Counter(s.age for s in kept).values()) <= 20
    assert max(Counter(s.race for s in kept).values()) <= 60
    assert [s["step"] for s in result.steps] == [
        "age <= 80",
        "at most 20 per age",
        "at most 60 per race",
    ]
    assert sum(s["removed"] for s in result.steps) == len(samples) - len(kept)


def test_balance_is_deterministic_and_seeded() -> None:
    samples = make_samples()
    a = bal.balance(samples, cap_per_cell=10, seed=0).indices
    assert bal.balance(samples, cap_per_cell=10, seed=0).indices == a
    reordered = list(reversed(samples))
    same = bal.balance(reordered, cap_per_cell=10, seed=0).select(reordered)
    assert {s.path for s in same} == {samples[i].path for i in a}
    assert bal.balance(samples, cap_per_cell=10, seed=1).indices != a


def test_counts_before_and_after_match_the_samples() -> None:
    samples = make_samples()
    result = bal.balance(samples, age_cap=80, cap_per_cell=10)
    kept = result.select(samples)
    assert result.before["total"] == len(samples)
    assert result.after["total"] == len(kept)
    assert sum(result.after["race"].values()) == len(kept)
    assert result.after["race"]["white"] == sum(s.race == 0 for s in kept)
    assert result.before["gender"]["female"] == sum(s.gender == 1 for s in samples)
    text = bal.counts_markdown(result.before, result.after)
    assert f"total: {len(samples)} before, {len(kept)} after" in text


@pytest.mark.parametrize(
    "kwargs", [{"age_cap": -1}, {"cap_per_cell": 0}, {"cap_per_cell": 5, "by": "height"}]
)
def test_balance_rejects_bad_options(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        bal.balance(make_samples(), **kwargs)


def test_weights_equalise_cells() -> None:
    samples = make_samples()
    weights = bal.sample_weights(samples, by="race", max_weight=1e9)
    assert weights.dtype == np.float32 and weights.shape == (len(samples),)
    assert weights.mean() == pytest.approx(1.0, rel=1e-5)
    per_race = [weights[[s.race == r for s in samples]].sum() for r in range(5)]
    assert np.allclose(per_race, per_race[0], rtol=1e-4)


def test_weights_age_cap_power_and_clip() -> None:
    samples = make_samples()
    weights = bal.sample_weights(samples, age_cap=80, max_weight=3.0)
    old = np.array([s.age > 80 for s in samples])
    assert (weights[old] == 0).all() and (weights[~old] > 0).all()
    assert weights[~old].max() / weights[~old].min() == pytest.approx(3.0, rel=1e-4)
    flat = bal.sample_weights(samples, power=0.0)
    assert np.allclose(flat, 1.0)


def test_weighted_counts_sum_weights() -> None:
    samples = make_samples()
    weights = bal.sample_weights(samples, by="race", age_cap=80)
    counts = bal.weighted_counts(samples, weights)
    assert counts["total"] == pytest.approx(float(weights.sum()), abs=0.1)
    assert sum(counts["race"].values()) == pytest.approx(counts["total"], abs=1)
    with pytest.raises(ValueError, match="weights for"):
        bal.weighted_counts(samples, weights[:-1])
