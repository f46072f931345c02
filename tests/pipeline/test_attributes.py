import dataclasses

import numpy as np
import pytest

import faceattrs.pipeline.attributes as attributes
from faceattrs.pipeline.attributes import (
    AttributeModel,
    ModelNotFoundError,
    normalize,
    postprocess,
    prepare_aligned,
)
from faceattrs.spec import GENDERS, RACES, ModelSpec
from model_helpers import (
    random_model_path,  # noqa: F401 (fixture)
    write_constant_model,
    write_model_without_spec,
)

pytest.importorskip("onnx", reason="onnx (dev extra) is needed to build test models")


def _crops(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_missing_default_model_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(attributes, "DEFAULT_MODEL_PATH", tmp_path / "models" / "attributes.onnx")
    with pytest.raises(ModelNotFoundError, match="default attribute model is not installed"):
        AttributeModel()
    with pytest.raises(FileNotFoundError, match="not found"):
        AttributeModel(tmp_path / "other.onnx")


def test_spec_comes_from_the_model_metadata(tmp_path):
    spec = ModelSpec(input_size=48, age_interval_coverage=0.5, max_age=90)
    uniform = np.full(91, 1 / 91)
    path = write_constant_model(tmp_path / "m.onnx", uniform, [0.5, 0.5], np.full(5, 0.2), spec)
    model = AttributeModel(path)
    assert model.spec == spec
    assert model.predict(_crops(2, 48)).age_probs.shape == (2, 91)


def test_predictions_are_distributions(random_model_path):  # noqa: F811
    model = AttributeModel(random_model_path, threads=1)
    out = model.predict(_crops(5))
    assert len(out) == 5
    for probs, width in ((out.age_probs, 101), (out.gender_probs, 2), (out.race_probs, 5)):
        assert probs.shape == (5, width) and probs.dtype == np.float32
        assert (probs >= 0).all()
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert out.age_interval.shape == (5, 2)
    assert (out.age_interval[:, 0] <= out.age).all() and (out.age <= out.age_interval[:, 1]).all()
    np.testing.assert_array_equal(out.age_interval, np.round(out.age_interval))
    np.testing.assert_allclose(out.age, out.age_probs @ np.arange(101), rtol=1e-5)


def test_batches_match_single_runs(random_model_path):  # noqa: F811
    crops = _crops(37, seed=1)
    batched = AttributeModel(random_model_path, batch_size=16).predict(crops)
    single = AttributeModel(random_model_path, batch_size=1)
    for i in (0, 15, 16, 36):
        one = single.predict(crops[i : i + 1])
        np.testing.assert_allclose(one.race_probs[0], batched.race_probs[i], atol=1e-5)
        np.testing.assert_allclose(one.age[0], batched.age[i], atol=1e-3)


def test_outputs_differ_between_inputs(random_model_path):  # noqa: F811
    out = AttributeModel(random_model_path).predict(_crops(4, seed=2))
    assert np.ptp(out.age) > 0 or np.ptp(out.race_probs[:, 0]) > 0


def test_empty_batch(random_model_path):  # noqa: F811
    out = AttributeModel(random_model_path).predict(np.zeros((0, 64, 64, 3), np.uint8))
    assert len(out) == 0 and out.race_probs.shape == (0, 5)


def test_session_is_created_lazily(random_model_path):  # noqa: F811
    model = AttributeModel(random_model_path, threads=1)
    assert not model.onnx.loaded
    model.predict(_crops(1))
    assert model.onnx.loaded


@pytest.mark.parametrize(
    "crops, message",
    [
        (np.zeros((2, 32, 32, 3), np.uint8), r"\(N, 64, 64, 3\)"),
        (np.zeros((64, 64, 3), np.uint8), r"\(N, 64, 64, 3\)"),
        (np.zeros((1, 64, 64, 3), np.float32), "uint8"),
    ],
)
def test_wrong_crops_are_rejected(random_model_path, crops, message):  # noqa: F811
    with pytest.raises(ValueError, match=message):
        AttributeModel(random_model_path).predict(crops)


def test_constant_model_age_and_interval(tmp_path):
    onehot = np.zeros(101)
    onehot[30] = 1.0
    path = write_constant_model(tmp_path / "m.onnx", onehot, [0.2, 0.8], np.eye(5)[2])
    out = AttributeModel(path).predict(_crops(3))
    np.testing.assert_allclose(out.age, 30.0, atol=1e-3)
    np.testing.assert_array_equal(out.age_interval, [[30, 30]] * 3)
    np.testing.assert_allclose(out.gender_probs, [[0.2, 0.8]] * 3, atol=1e-5)


@pytest.mark.parametrize("coverage, expected", [(0.8, (10, 90)), (0.5, (25, 75))])
def test_interval_is_the_central_coverage_of_the_cdf(coverage, expected):
    spec = ModelSpec(age_interval_coverage=coverage)
    uniform = np.full((1, 101), 1 / 101, np.float32)
    out = postprocess(spec, uniform, np.array([[0.5, 0.5]]), np.full((1, 5), 0.2))
    assert tuple(out.age_interval[0]) == expected
    np.testing.assert_allclose(out.age[0], 50.0, atol=1e-3)


def test_interval_for_a_skewed_distribution():
    probs = np.zeros((1, 101))
    probs[0, [20, 21, 60]] = [0.05, 0.5, 0.45]
    out = postprocess(ModelSpec(), probs, np.array([[1.0, 0.0]]), np.full((1, 5), 0.2))
    assert tuple(out.age_interval[0]) == (21, 60)


def test_normalize_repairs_float_noise_negatives_and_nans():
    raw = np.array([[0.3, 0.3, 0.3000004], [0.5, -1e-7, 0.5], [np.nan, np.nan, np.nan]])
    out = normalize(raw)
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-6)
    assert (out >= 0).all()
    np.testing.assert_allclose(out[2], 1 / 3)


def test_model_without_spec_metadata(tmp_path):
    path = write_model_without_spec(tmp_path / "plain.onnx")
    with pytest.raises(ValueError, match="not a faceattrs attribute model"):
        AttributeModel(path).predict(_crops(1))


def test_garbage_file_is_not_a_model(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"definitely not protobuf" * 10)
    with pytest.raises(ValueError, match="not a loadable ONNX model") as info:
        _ = AttributeModel(path).spec
    assert "\n" not in str(info.value)


def test_labels_are_the_agreed_ones():
    assert GENDERS == ("male", "female")
    assert RACES == ("white", "black", "asian", "indian", "other")


def test_prepare_aligned_takes_the_crop_box_and_resizes():
    spec = dataclasses.replace(ModelSpec(), input_size=16, crop_box=(0.25, 0.25, 0.75, 0.75))
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[50:150, 50:150] = 255  # exactly the crop box
    out = prepare_aligned([frame, frame[:100, :100].copy()], spec)
    assert out.shape == (2, 16, 16, 3)
    assert (out[0] == 255).all()
    assert out[1, 0, 0, 0] == 0 and out[1, -1, -1, 0] == 255


def test_prepare_aligned_pads_a_box_outside_the_frame_with_black():
    spec = dataclasses.replace(ModelSpec(), input_size=30, crop_box=(-0.5, 0.0, 1.0, 1.0))
    out = prepare_aligned([np.full((20, 20, 3), 90, np.uint8)], spec)
    assert out.shape == (1, 30, 30, 3)
    assert (out[0, :, :9] == 0).all() and (out[0, :, 11:] == 90).all()
