"""The three distribution figures, before and after balancing."""

from __future__ import annotations

import numpy as np
from PIL import Image
from utk_synth import make_samples

from faceattrs.data import balance as bal
from faceattrs.data.plots import FIGURE_NAMES, plot_distributions


def _check_png(path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 5  # something was drawn


def test_plot_before_and_after_dropping(tmp_path) -> None:
    samples = make_samples()
    after = bal.balance(samples, age_cap=80, cap_per_cell=10).select(samples)
    paths = plot_distributions(samples, after, tmp_path / "figs")
    assert [p.name for p in paths] == list(FIGURE_NAMES)
    for path in paths:
        _check_png(path)


def test_plot_with_weights_and_validation(tmp_path) -> None:
    samples = make_samples()
    weights = bal.sample_weights(samples, age_cap=80)
    paths = plot_distributions(samples, samples, tmp_path, after_weights=weights)
    for path in paths:
        _check_png(path)
    try:
        plot_distributions(samples, samples, tmp_path, after_weights=weights[:3])
    except ValueError as exc:
        assert "weights for" in str(exc)
    else:
        raise AssertionError("mismatched weights accepted")
