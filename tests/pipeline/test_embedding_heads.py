"""The accurate tier: heads on the face embedding mixed with the fast model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from faceattrs.pipeline.analyzer import FaceAnalyzer
from faceattrs.pipeline.attributes import AttributeModel, postprocess
from faceattrs.pipeline.embedding import EmbeddingModel
from faceattrs.pipeline.embedding_heads import DEFAULT_HEADS_PATH, EmbeddingHeads
from faceattrs.pipeline.runtime import ModelLoadError
from faceattrs.spec import EmbeddingHeadsSpec


@pytest.fixture(scope="module")
def heads() -> EmbeddingHeads:
    return EmbeddingHeads(threads=1)


@pytest.fixture(scope="module")
def fast_spec():
    return AttributeModel(threads=1).spec


@pytest.fixture(scope="module")
def embedding_spec():
    return EmbeddingModel(threads=1).spec


def _inputs(n: int, features: int = 1024, seed: int = 1):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb, np.abs(rng.normal(size=(n, features))).astype(np.float32)  # after a ReLU


def _fast(spec, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    raw = [rng.random((n, w)) ** 4 for w in (spec.max_age + 1, len(spec.genders), len(spec.races))]
    return postprocess(spec, *raw)


def test_packaged_heads_carry_their_spec(heads, fast_spec, embedding_spec):
    spec = heads.spec
    assert DEFAULT_HEADS_PATH.is_file()
    assert spec.embedding_size == 128 and spec.embedding_model == "face_embedding.onnx"
    assert spec.features_size == embedding_spec.features_size == 1024
    assert embedding_spec.features_output == "features"
    assert (spec.genders, spec.races, spec.max_age) == (
        fast_spec.genders,
        fast_spec.races,
        fast_spec.max_age,
    )
    assert all(0.0 <= w <= 1.0 for w in spec.mix) and all(t > 0 for t in spec.temperatures)
    assert "command" in spec.extra  # how the file was made
    heads.check_compatible(fast_spec, embedding_spec)


def test_refine_gives_distributions_that_depend_on_both_inputs(heads, fast_spec):
    fast = _fast(fast_spec, 5)
    emb, feats = _inputs(5)
    out = heads.refine(fast_spec, fast, emb, feats)
    assert len(out) == 5
    for probs in (out.age_probs, out.gender_probs, out.race_probs):
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert np.all(out.age_interval[:, 0] <= out.age) and np.all(out.age <= out.age_interval[:, 1])
    other = heads.refine(fast_spec, fast, emb[::-1].copy(), feats[::-1].copy())  # other faces
    assert not np.allclose(other.age, out.age, atol=0.1)
    again = heads.refine(fast_spec, _fast(fast_spec, 5, seed=2), emb, feats)  # other fast model
    assert not np.allclose(again.age_probs, out.age_probs, atol=1e-4)
    empty = heads.refine(fast_spec, _fast(fast_spec, 0), *_inputs(0))
    assert len(empty) == 0
    with pytest.raises(ValueError, match="4 embeddings for 5 faces"):
        heads.refine(fast_spec, fast, emb[:4], feats[:4])
    with pytest.raises(ValueError, match="need the embedding network's features"):
        heads.refine(fast_spec, fast, emb)


def test_labels_that_do_not_fit_are_one_line_errors(heads, fast_spec, embedding_spec):
    with pytest.raises(ModelLoadError, match="expect labels"):
        heads.check_compatible(replace(fast_spec, races=("a", "b")), embedding_spec)
    with pytest.raises(ModelLoadError, match="the embedding model gives 512-D"):
        heads.check_compatible(fast_spec, replace(embedding_spec, embedding_size=512))
    with pytest.raises(ModelLoadError, match="and 0"):
        heads.check_compatible(fast_spec, replace(embedding_spec, features_size=0))


def test_another_model_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="not an accurate-tier heads model"):
        _ = EmbeddingHeads(AttributeModel(threads=1).path).spec


def test_spec_round_trips_and_refuses_other_tasks():
    spec = EmbeddingHeadsSpec(mix=(0.3, 0.6, 0.5), temperatures=(1.0, 0.75, 0.75))
    assert EmbeddingHeadsSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="not an embedding-heads spec"):
        EmbeddingHeadsSpec.from_json('{"task": "expression"}')


def test_a_zero_share_passes_the_fast_model_through(tmp_path, fast_spec):
    torch = pytest.importorskip("torch")
    from faceattrs.training.embedding_heads import export_heads, make_net

    torch.manual_seed(0)
    path = export_heads(make_net().eval(), EmbeddingHeadsSpec(mix=(0, 0, 0)), tmp_path / "h.onnx")
    fast = _fast(fast_spec, 3)
    out = EmbeddingHeads(path, threads=1).refine(fast_spec, fast, np.ones((3, 128), np.float32))
    np.testing.assert_allclose(out.race_probs, fast.race_probs, atol=1e-6)
    np.testing.assert_allclose(out.age, fast.age, atol=1e-4)
    sharp = EmbeddingHeadsSpec(mix=(0, 0, 0), temperatures=(1.0, 0.5, 1.0))
    path = export_heads(make_net().eval(), sharp, tmp_path / "t.onnx")
    out = EmbeddingHeads(path, threads=1).refine(fast_spec, fast, np.ones((3, 128), np.float32))
    expected = fast.gender_probs.astype(np.float64) ** 2
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(out.gender_probs, expected, atol=1e-5)


def test_features_are_standardised_inside_the_graph(tmp_path, fast_spec):
    torch = pytest.importorskip("torch")
    from faceattrs.training.embedding_heads import compose, export_heads, head_probs, make_net

    torch.manual_seed(0)
    net = make_net("mlp", 128 + 8).eval()
    spec = EmbeddingHeadsSpec(
        features_size=8, mix=(1, 1, 1),
        inputs=("embedding", "features", "fast_age_probs", "fast_gender_probs", "fast_race_probs"),
    )  # fmt: skip
    mean, std = torch.full((8,), 2.0), torch.full((8,), 3.0)
    path = export_heads(net, spec, tmp_path / "f.onnx", mean, std)
    emb, feats = _inputs(4, features=8)
    out = EmbeddingHeads(path, threads=1).refine(fast_spec, _fast(fast_spec, 4), emb, feats)
    expected = head_probs(net, compose(emb, feats, mean, std)).numpy()  # what training saw
    np.testing.assert_allclose(out.race_probs, expected[:, -5:], atol=1e-5)


def test_heads_of_several_seeds_export_as_their_mean(tmp_path, fast_spec):
    torch = pytest.importorskip("torch")
    from faceattrs.training.embedding_heads import (
        AveragedHeads,
        export_heads,
        head_probs,
        make_net,
    )  # fmt: skip

    torch.manual_seed(0)
    nets = [make_net().eval() for _ in range(3)]
    emb = torch.as_tensor(_inputs(5)[0])
    averaged = AveragedHeads(nets)
    expected = torch.stack([head_probs(net, emb) for net in nets]).mean(0)
    torch.testing.assert_close(head_probs(averaged, emb), expected, atol=1e-6, rtol=0)
    path = export_heads(averaged, EmbeddingHeadsSpec(mix=(1, 1, 1)), tmp_path / "a.onnx")
    out = EmbeddingHeads(path, threads=1).refine(fast_spec, _fast(fast_spec, 5), emb.numpy())
    np.testing.assert_allclose(out.gender_probs, expected[:, 101:103].numpy(), atol=1e-5)


def test_unknown_tier_is_refused():
    with pytest.raises(ValueError, match="unknown model tier 'best'"):
        FaceAnalyzer(tier="best")


@pytest.mark.shared
def test_accurate_tier_on_a_photo_keeps_no_embedding_unless_asked(shared_dir):
    photo = shared_dir / "media" / "deepface" / "couple.jpg"
    fast = FaceAnalyzer(threads=1, attributes="age,gender,race").analyze(photo)
    accurate = FaceAnalyzer(threads=1, tier="accurate", attributes="age,gender,race")
    faces = accurate.analyze(photo)
    assert [f.xyxy for f in faces] == [f.xyxy for f in fast] and len(faces) == 2
    assert all(f.embedding is None for f in faces)
    assert any(abs(a.age - b.age) > 0.1 for a, b in zip(faces, fast, strict=True))
    assert [f.gender for f in faces] == [f.gender for f in fast] == ["male", "female"]
    with_embeddings = FaceAnalyzer(threads=1, tier="accurate", embeddings=True)
    again = with_embeddings.analyze(photo, attributes="age,gender,race")
    assert [f.race_probs for f in again] == [f.race_probs for f in faces]
    detections = with_embeddings.detect(with_embeddings.load_image(photo))
    expected = with_embeddings.embed(with_embeddings.load_image(photo), detections)
    np.testing.assert_allclose(np.stack([f.embedding for f in again]), expected, atol=1e-6)
    assert FaceAnalyzer(tier="accurate", attributes="expression").embedding_heads is None
