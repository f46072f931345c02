"""The expression spec: JSON round trip, typed refusal of other specs, preprocessing."""

import numpy as np
import pytest

from faceattrs.spec import EXPRESSIONS, ExpressionSpec, ModelSpec


def test_round_trip():
    spec = ExpressionSpec(template=((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.5, 0.8)), mean=0.4)
    assert ExpressionSpec.from_json(spec.to_json()) == spec
    assert spec.labels == EXPRESSIONS


def test_attribute_spec_is_refused_both_ways():
    with pytest.raises(ValueError, match="not an expression model spec"):
        ExpressionSpec.from_json(ModelSpec().to_json())
    with pytest.raises(ValueError, match="unknown model spec fields"):
        ModelSpec.from_json(ExpressionSpec().to_json())


def test_preprocess_gray_and_bgr_agree():
    spec = ExpressionSpec(mean=0.5, std=0.25)
    gray = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    bgr = np.repeat(gray[..., None], 3, axis=-1)
    a, b = spec.preprocess(gray), spec.preprocess(bgr)
    assert a.shape == (2, 1, 48, 48) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(a[0, 0, 0, 0], (gray[0, 0, 0] / 255 - 0.5) / 0.25, atol=1e-5)
    with pytest.raises(ValueError, match="expected"):
        spec.preprocess(np.zeros((2, 48), np.uint8))
