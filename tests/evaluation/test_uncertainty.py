"""Intervals for accuracies and for the gap between groups."""

import numpy as np
import pytest

from faceattrs.evaluation.uncertainty import equal_accuracy_gaps, gap_interval, wilson_interval


def test_wilson_interval_matches_the_textbook_values():
    assert wilson_interval(0.5, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    low, high = wilson_interval(1.0, 10)  # all right: the upper end is 1, the lower is not
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0.9, 10_000)[1] - wilson_interval(0.9, 10_000)[0] < 0.012
    with pytest.raises(ValueError):
        wilson_interval(0.5, 0)


def test_equally_accurate_groups_still_show_a_gap_that_shrinks_with_their_size():
    small = equal_accuracy_gaps([400] * 5, 0.9)
    large = equal_accuracy_gaps([40_000] * 5, 0.9)
    assert small == equal_accuracy_gaps([400] * 5, 0.9)  # a fixed seed
    assert 0.02 < small[0] < small[1] < 0.06  # sd of one group 1.5 points
    assert large[1] < 0.006
    # the simulated mean agrees with a direct draw of the same model
    draws = np.random.default_rng(1).binomial(400, 0.9, (20_000, 5)) / 400
    assert small[0] == pytest.approx((draws.max(1) - draws.min(1)).mean(), abs=0.001)


def test_gap_interval_holds_the_measured_gap_and_is_zero_when_every_face_is_right():
    low, high = gap_interval([460, 430, 450], [500, 500, 500])
    assert low < 0.06 < high
    assert gap_interval([500, 500], [500, 500]) == (0.0, 0.0)
