"""The expression head: loading through the model base, predictions, choice of heads."""

from types import SimpleNamespace

import numpy as np
import pytest

from faceattrs import FaceAnalyzer
from faceattrs.pipeline.expression import DEFAULT_EXPRESSION_MODEL, ExpressionModel
from faceattrs.pipeline.runtime import ModelLoadError
from faceattrs.resources import MODELS_DIR
from faceattrs.spec import ATTRIBUTES, EXPRESSIONS, ExpressionSpec, ModelSpec, parse_attributes

pytest.importorskip("onnx", reason="onnx (dev extra) is needed to build test models")


def _detections(n: int = 2) -> SimpleNamespace:
    xyxy = np.array([[10, 20, 110, 120], [150, 40, 230, 120]][:n], np.float32)
    template = np.array(
        [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.5, 0.75], [0.1, 0.5], [0.9, 0.5]], np.float32
    )
    keypoints = xyxy[:, None, :2] + template[None] * (xyxy[:, 2:] - xyxy[:, :2])[:, None, :]
    return SimpleNamespace(xyxy=xyxy, scores=np.full(n, 0.9, np.float32), keypoints=keypoints)


class OneShotDetector:
    def __init__(self, found):
        self.found = found

    def detect(self, bgr):
        return self.found


class RefusingModel:
    """An attribute model that must not run (its spec frames aligned crops)."""

    spec = ModelSpec()

    def predict(self, crops):
        raise AssertionError("the attribute model ran although not asked for")


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)


def test_packaged_model_carries_its_spec():
    model = ExpressionModel()
    assert model.path == DEFAULT_EXPRESSION_MODEL
    spec = model.spec
    assert spec.labels == EXPRESSIONS and spec.channel_order == "GRAY"
    assert len(spec.template) == 4
    probs = model.predict(np.random.default_rng(1).integers(0, 256, (3, 48, 48), np.uint8))
    assert probs.shape == (3, len(EXPRESSIONS))
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert model.predict(np.zeros((0, 48, 48, 3), np.uint8)).shape == (0, len(EXPRESSIONS))
    with pytest.raises(ValueError, match="48x48"):
        model.predict(np.zeros((1, 64, 64, 3), np.uint8))


def test_float_and_int8_models_agree():
    crops = np.random.default_rng(2).integers(0, 256, (16, 48, 48), np.uint8)
    fp32 = ExpressionModel(MODELS_DIR / "expression_fp32.onnx").predict(crops)
    int8 = ExpressionModel(MODELS_DIR / "expression.onnx").predict(crops)
    assert np.abs(fp32 - int8).max() < 0.1


def test_an_attribute_model_is_not_an_expression_model():
    model = ExpressionModel(MODELS_DIR / "attributes.onnx")
    with pytest.raises(ModelLoadError, match="not an expression model"):
        _ = model.spec


def test_parse_attributes():
    assert parse_attributes(None) == ATTRIBUTES
    assert parse_attributes("expression, age") == ("age", "expression")
    assert parse_attributes(["race"]) == ("race",)
    with pytest.raises(ValueError, match="unknown attributes"):
        parse_attributes("age,mood")
    with pytest.raises(ValueError, match="no attributes"):
        parse_attributes(" , ")


def test_expression_only_skips_the_attribute_model():
    analyzer = FaceAnalyzer(
        detector=OneShotDetector(_detections()), model=RefusingModel(), attributes="expression"
    )
    faces = analyzer.analyze(_image())
    assert len(faces) == 2
    for face in faces:
        assert face.age is None and face.gender_probs is None and face.race_probs is None
        assert list(face.expression_probs) == list(EXPRESSIONS)
        assert face.expression in EXPRESSIONS
        assert sum(face.expression_probs.values()) == pytest.approx(1, abs=1e-5)


def test_expression_probs_match_the_head_on_aligned_crops():
    from faceattrs.pipeline.alignment import align

    found = _detections()
    bgr = _image()
    analyzer = FaceAnalyzer(
        detector=OneShotDetector(found), model=RefusingModel(), attributes=["expression"]
    )
    faces = analyzer.analyze(bgr)
    head = ExpressionModel()
    direct = head.predict(align(bgr, found.keypoints, head.spec))
    got = np.array([[f.expression_probs[k] for k in EXPRESSIONS] for f in faces])
    np.testing.assert_allclose(got, direct, atol=1e-5)


def test_without_expression_no_expression_model_is_made():
    analyzer = FaceAnalyzer(
        detector=OneShotDetector(_detections()), attributes="age,gender,race",
        expression_model_path="/nonexistent.onnx",
    )  # fmt: skip
    assert analyzer.expression_model is None
    assert all(f.expression_probs is None for f in analyzer.analyze(_image()))


def test_aligned_crops_get_an_expression():
    crops = [np.random.default_rng(i).integers(0, 255, (200, 200, 3), np.uint8) for i in range(2)]
    faces = FaceAnalyzer(model=RefusingModel(), attributes="expression").analyze_aligned(crops)
    assert [f.expression in EXPRESSIONS for f in faces] == [True, True]


def test_spec_round_trip_of_the_packaged_template():
    spec = ExpressionModel().spec
    assert ExpressionSpec.from_json(spec.to_json()) == spec


def test_each_call_may_ask_for_fewer_heads():
    from fakes import AttributeHead, CentreDetector, ExpressionHead

    attributes, expression = AttributeHead(), ExpressionHead()
    analyzer = FaceAnalyzer(
        detector=CentreDetector(), model=attributes, expression_model=expression
    )
    (face,) = analyzer.analyze(_image(), attributes="expression")
    assert face.age is None and face.gender_probs is None and face.expression == "happy"
    assert (attributes.calls, expression.calls) == (0, 1)
    bgr = _image()
    (face,) = analyzer.describe(bgr, analyzer.detect(bgr), attributes=["gender"])
    assert face.gender == "female" and face.age is None and face.race_probs is None
    assert face.expression_probs is None and (attributes.calls, expression.calls) == (1, 1)
    (face,) = analyzer.analyze(bgr)  # the analyzer's own heads: all
    assert None not in (face.age, face.race, face.expression)
    with pytest.raises(ValueError, match="unknown attributes"):
        analyzer.analyze(bgr, attributes="mood")
    narrow = FaceAnalyzer(detector=CentreDetector(), model=attributes, attributes="age")
    with pytest.raises(ValueError, match="not loaded by this analyzer"):
        narrow.analyze(bgr, attributes="expression")


def test_expression_alone_does_not_load_the_attribute_model():
    class Unloadable:
        @property
        def spec(self):
            raise AssertionError("the attribute model was loaded although not asked for")

        def predict(self, crops):
            raise AssertionError("the attribute model ran although not asked for")

    from fakes import CentreDetector, ExpressionHead

    analyzer = FaceAnalyzer(
        detector=CentreDetector(), model=Unloadable(), expression_model=ExpressionHead()
    )
    (face,) = analyzer.analyze(_image(), attributes="expression")
    assert face.expression == "happy"
    only = FaceAnalyzer(
        model=Unloadable(), expression_model=ExpressionHead(), attributes="expression"
    )
    only.load_heads()  # the expression model only
