"""The face embedding head: spec from the model, normalised embeddings, identity on photos."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from faceattrs.pipeline.alignment import estimate_transform
from faceattrs.pipeline.embedding import (
    DEFAULT_EMBEDDING_PATH,
    EmbeddingModel,
    EmbeddingSpec,
    distance,
    normalize,
    pairwise_distances,
    with_centroid,
)
from faceattrs.pipeline.runtime import ModelLoadError


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return EmbeddingModel(threads=1)


def test_spec_is_read_from_the_model(model):
    spec = model.spec
    assert spec.input_size == 150 and spec.embedding_size == 128
    points = dict(zip(spec.template_points, spec.template, strict=True))
    assert {"right_eye", "left_eye"} <= set(points)
    (rx, ry), (lx, ly) = points["right_eye"], points["left_eye"]
    assert rx < 0.5 < lx  # the subject's right eye is on the image's left
    assert all(y > max(ry, ly) for name, (_, y) in points.items() if "eye" not in name)
    assert 0 < spec.threshold < 2


def test_three_points_align_like_their_least_squares_fit():
    """The centroid added to a 3-point template leaves the similarity fit unchanged."""
    rng = np.random.default_rng(3)
    src, dst = rng.uniform(0, 100, (1, 3, 2)), rng.uniform(0, 100, (1, 3, 2))
    plain = estimate_transform(src[0], dst[0])
    padded = estimate_transform(with_centroid(src)[0], with_centroid(dst)[0])
    np.testing.assert_allclose(plain, padded, atol=1e-9)


def test_spec_rejects_missing_fields():
    with pytest.raises(ValueError, match="threshold"):
        EmbeddingSpec.from_json(
            json.dumps(
                {
                    "input_size": 150,
                    "mean": [0] * 3,
                    "std": [1] * 3,
                    "template": [],
                    "embedding_size": 128,
                }
            )
        )


def test_embed_chips_is_unit_length_and_batch_independent(model):
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 255, (3, 150, 150, 3), dtype=np.uint8)
    batch = model.embed_chips(chips)
    single = np.concatenate([model.embed_chips(chips[i : i + 1]) for i in range(3)])
    assert batch.shape == (3, 128) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_embed_chips_rejects_wrong_shapes(model):
    with pytest.raises(ValueError, match="expected chips"):
        model.embed_chips(np.zeros((1, 64, 64, 3), np.uint8))


def test_no_faces_gives_an_empty_array(model):
    assert model.embed(np.zeros((100, 100, 3), np.uint8), np.zeros((0, 6, 2))).shape == (0, 128)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        EmbeddingModel(tmp_path / "none.onnx")


def test_a_model_without_the_spec_is_refused():
    from faceattrs.resources import MODELS_DIR

    with pytest.raises(ModelLoadError, match="faceattrs_embedding_spec"):
        _ = EmbeddingModel(MODELS_DIR / "blazeface_short.onnx", threads=1).spec


def test_distance_helpers():
    a = normalize(np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_allclose(a[0], [0.6, 0.8])
    assert not a[1].any()
    d = pairwise_distances(a)
    assert d.shape == (3, 3) and np.allclose(np.diag(d), 0)
    assert d[0, 2] == pytest.approx(distance(a[0], a[2]), abs=1e-6)


@pytest.mark.shared
def test_same_person_is_closer_than_the_threshold(model, shared_dir):
    """Obama in two photos: same person; Obama and Biden: different people."""
    from faceattrs.pipeline.detection import FaceDetector

    media = shared_dir / "media" / "face_recognition"
    detector = FaceDetector("full", threads=1)

    def largest(name: str) -> np.ndarray:
        bgr = cv2.imread(str(media / name))
        dets = detector.detect(bgr)
        i = int(np.argmax(dets.xyxy[:, 2] - dets.xyxy[:, 0]))
        return model.embed(bgr, dets.keypoints[i : i + 1])[0]

    obama, biden = largest("obama.jpg"), largest("biden.jpg")
    both = cv2.imread(str(media / "obama_and_biden.jpg"))
    dets = detector.detect(both)
    pair = model.embed(both, dets.keypoints[dets.scores > 0.8])
    to_obama = [distance(obama, e) for e in pair]
    to_biden = [distance(biden, e) for e in pair]
    assert min(to_obama) < model.threshold < distance(obama, biden)
    assert min(to_biden) < model.threshold
    assert np.argmin(to_obama) != np.argmin(to_biden)


def test_packaged_model_is_small_enough():
    assert DEFAULT_EMBEDDING_PATH.stat().st_size < 25e6


@pytest.mark.shared
def test_analyzer_fills_embeddings_only_when_asked(model, shared_dir):
    from faceattrs.pipeline.analyzer import FaceAnalyzer

    photo = shared_dir / "media" / "face_recognition" / "two_people.jpg"
    plain = FaceAnalyzer(threads=1).analyze(photo)
    assert plain and all(face.embedding is None for face in plain)
    assert all("embedding" not in face.to_dict() for face in plain)
    faces = FaceAnalyzer(threads=1, embedder=model).analyze(photo)
    bgr = cv2.imread(str(photo))
    keypoints = np.asarray([face.keypoints for face in faces], np.float32)
    np.testing.assert_allclose(
        np.stack([face.embedding for face in faces]), model.embed(bgr, keypoints), atol=1e-5
    )
    assert len(faces[0].to_dict()["embedding"]) == 128
