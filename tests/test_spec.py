import numpy as np
import pytest

from faceattrs.spec import ModelSpec


def test_json_round_trip_keeps_every_field():
    spec = ModelSpec(
        input_size=72,
        crop_box=(0.1, 0.1, 0.9, 0.9),
        mean=(0.4, 0.5, 0.6),
        template=((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.5, 0.75)),
    )
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="unknown"):
        ModelSpec.from_json('{"input_size": 64, "colour": "blue"}')


def test_preprocess_scales_normalises_and_transposes():
    spec = ModelSpec(input_size=2, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    rgb = np.zeros((1, 2, 2, 3), np.uint8)
    rgb[0, 0, 1] = (255, 0, 255)
    x = spec.preprocess(rgb)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    assert x[0, :, 0, 1].tolist() == [1.0, -1.0, 1.0]
    assert x[0, :, 1, 1].tolist() == [-1.0, -1.0, -1.0]


def test_preprocess_rejects_wrong_shape():
    with pytest.raises(ValueError):
        ModelSpec().preprocess(np.zeros((2, 64, 64), np.uint8))
