"""How much of a test figure is sampling noise: intervals for accuracies and for the gap
between the best and the worst group.

A test split of a few thousand faces measures an accuracy to about a point either way, and
the gap between the best and the worst of five groups of 400-800 faces is inflated by that
noise: even a model exactly as accurate for every group shows a gap of a few points.
:func:`equal_accuracy_gaps` gives that floor for the group sizes at hand, so a gap target
can be read against it. Simulations use a fixed seed: the same inputs give the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile
REPS = 20_000
SEED = 0


def wilson_interval(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of an accuracy measured on ``n`` items."""
    if n <= 0:
        raise ValueError("an interval needs at least one item")
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _gaps(hits: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    rates = hits / sizes
    return rates.max(axis=-1) - rates.min(axis=-1)


def gap_interval(
    hits: Sequence[int], sizes: Sequence[int], reps: int = REPS, seed: int = SEED
) -> tuple[float, float]:
    """95% interval of the best-minus-worst accuracy gap, each group's faces resampled
    (a parametric bootstrap: binomial draws at each group's measured accuracy)."""
    sizes_arr = np.asarray(sizes, np.int64)
    rates = np.asarray(hits, np.float64) / sizes_arr
    draws = np.random.default_rng(seed).binomial(sizes_arr, rates, (reps, len(sizes_arr)))
    low, high = np.quantile(_gaps(draws, sizes_arr), [0.025, 0.975])
    return float(low), float(high)


def equal_accuracy_gaps(
    sizes: Sequence[int], accuracy: float, reps: int = REPS, seed: int = SEED
) -> tuple[float, float]:
    """The gap a model with the same ``accuracy`` for every group would show on groups of
    these sizes: (mean, 95th percentile) over simulated test sets."""
    sizes_arr = np.asarray(sizes, np.int64)
    draws = np.random.default_rng(seed).binomial(sizes_arr, accuracy, (reps, len(sizes_arr)))
    gaps = _gaps(draws, sizes_arr)
    return float(gaps.mean()), float(np.quantile(gaps, 0.95))
