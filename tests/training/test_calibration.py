"""Temperature scaling: the fitted temperature undoes a known miscalibration."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from faceattrs.spec import ModelSpec  # noqa: E402
from faceattrs.training.calibration import (  # noqa: E402
    fit_age_temperature,
    fit_class_temperature,
    interval_coverage,
    probabilities,
)
from faceattrs.training.config import NetConfig  # noqa: E402
from faceattrs.training.model import FaceAttrNet, ProbabilityModel  # noqa: E402


def test_class_temperature_recovers_the_scale_the_labels_were_drawn_with():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(20000, 5, generator=gen) * 3
    true_t = 1.7
    labels = torch.multinomial((logits / true_t).softmax(1), 1, generator=gen)[:, 0]
    fitted = fit_class_temperature(logits[..., None], labels)
    assert abs(fitted - true_t) < 0.1


def test_age_temperature_makes_the_interval_cover_its_nominal_share():
    spec = ModelSpec()
    gen = torch.Generator().manual_seed(0)
    n = 3000
    ages = torch.randint(10, 80, (n,), generator=gen).float()
    centre = ages + torch.randn(n, generator=gen) * 3  # the net's guesses miss by ~3 years
    bins = torch.arange(101).float()
    logits = -0.5 * ((bins[None] - centre[:, None]) / 1.5) ** 2  # but claim +-1.5 years
    before = interval_coverage(spec, probabilities(logits[..., None], 1.0), ages.numpy())
    t = fit_age_temperature(spec, logits[..., None], ages, ages)
    after = interval_coverage(spec, probabilities(logits[..., None], t), ages.numpy())
    assert before < 0.7
    assert abs(after - 0.8) < 0.03
    assert 2.5 < t < 4.5  # sigma 1.5 -> 3: t = 4 (less: whole-year interval ends)


def test_exported_probabilities_use_the_temperatures():
    net = FaceAttrNet(NetConfig(widths=(8,), depths=(1,), stem_width=8)).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        logits = net(x)
        scaled = ProbabilityModel(net, flip=False, temperatures=(1.0, 2.0, 0.5))(x)
    for z, t, p in zip(logits, (1.0, 2.0, 0.5), scaled, strict=True):
        np.testing.assert_allclose(p.numpy(), (z / t).softmax(1).numpy(), atol=1e-6)
