from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import faceattrs.pipeline.attributes as attributes
from faceattrs import Face, FaceAnalyzer
from faceattrs.media import MediaError
from faceattrs.pipeline.attributes import AttributeModel, ModelNotFoundError, prepare_aligned
from faceattrs.spec import GENDERS, RACES, ModelSpec
from model_helpers import random_model_path, write_constant_model  # noqa: F401 (fixture)

pytest.importorskip("onnx", reason="onnx (dev extra) is needed to build test models")


def _detections(boxes, scores) -> SimpleNamespace:
    """Detector output for square boxes, with keypoints where a face's would be."""
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    template = np.array(
        [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.5, 0.75], [0.1, 0.5], [0.9, 0.5]], np.float32
    )
    size = (xyxy[:, 2:] - xyxy[:, :2])[:, None, :]
    keypoints = xyxy[:, None, :2] + template[None] * size
    return SimpleNamespace(xyxy=xyxy, scores=np.asarray(scores, np.float32), keypoints=keypoints)


class FakeDetector:
    """Returns the detections queued for each call, in order."""

    def __init__(self, *per_image):
        self.queue = list(per_image)
        self.seen = []

    def detect(self, bgr):
        self.seen.append(bgr.shape)
        return self.queue.pop(0)


def _image(seed: int, shape=(240, 320, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


TWO = ([[10, 20, 110, 120], [150, 40, 230, 120]], [0.9, 0.8])
THREE = ([[0, 0, 60, 60], [100, 100, 200, 200], [200, 10, 300, 110]], [0.95, 0.7, 0.6])
NONE = (np.zeros((0, 4)), [])


def test_analyze_builds_faces_from_detections(random_model_path):  # noqa: F811
    analyzer = FaceAnalyzer(random_model_path, detector=FakeDetector(_detections(*TWO)))
    faces = analyzer.analyze(_image(0))
    assert len(faces) == 2 and all(isinstance(f, Face) for f in faces)
    assert faces[0].xyxy == (10.0, 20.0, 110.0, 120.0)
    assert faces[1].score == pytest.approx(0.8)
    assert len(faces[0].keypoints) == 6
    for face in faces:
        assert list(face.gender_probs) == list(GENDERS)
        assert list(face.race_probs) == list(RACES)
        assert sum(face.race_probs.values()) == pytest.approx(1, abs=1e-5)
        assert face.age_interval[0] <= face.age <= face.age_interval[1]


def test_batch_matches_one_by_one(random_model_path):  # noqa: F811
    images = [_image(1), _image(2), _image(3)]
    dets = [_detections(*TWO), _detections(*NONE), _detections(*THREE)]
    batched = FaceAnalyzer(random_model_path, detector=FakeDetector(*dets)).analyze_batch(images)
    single = FaceAnalyzer(random_model_path, detector=FakeDetector(*dets))
    assert [len(f) for f in batched] == [2, 0, 3]
    for image, faces in zip(images, batched, strict=True):
        for a, b in zip(single.analyze(image), faces, strict=True):
            assert a.xyxy == b.xyxy
            assert a.age == pytest.approx(b.age, abs=1e-3)
            assert a.race_probs == pytest.approx(b.race_probs, abs=1e-5)


def test_score_threshold_and_min_face_filter(random_model_path):  # noqa: F811
    boxes = [[0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 15, 15]]
    detector = FakeDetector(_detections(boxes, [0.9, 0.4, 0.9]))
    analyzer = FaceAnalyzer(random_model_path, detector=detector, score_threshold=0.5, min_face=20)
    faces = analyzer.analyze(_image(0))
    assert [f.score for f in faces] == [pytest.approx(0.9)]


def test_labels_follow_the_probabilities(tmp_path):
    path = write_constant_model(
        tmp_path / "m.onnx", np.eye(101)[40], [0.3, 0.7], [0.1, 0.1, 0.1, 0.6, 0.1]
    )
    analyzer = FaceAnalyzer(path, detector=FakeDetector(_detections(*TWO)))
    face = analyzer.analyze(_image(0))[0]
    assert (face.gender, face.race) == ("female", "indian")
    assert face.age == pytest.approx(40, abs=1e-3) and face.age_interval == (40.0, 40.0)


def test_inputs_paths_bytes_gray_and_bgra(random_model_path, tmp_path):  # noqa: F811
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), _image(4))
    detector = FakeDetector(*[_detections(*NONE)] * 4)
    analyzer = FaceAnalyzer(random_model_path, detector=detector)
    assert analyzer.analyze(path) == []
    assert analyzer.analyze(path.read_bytes()) == []
    assert analyzer.analyze(_image(5, (50, 60))) == []
    assert analyzer.analyze(_image(6, (50, 60, 4))) == []
    assert detector.seen == [(240, 320, 3), (240, 320, 3), (50, 60, 3), (50, 60, 3)]


def test_bad_inputs_raise_clear_errors(random_model_path, tmp_path):  # noqa: F811
    analyzer = FaceAnalyzer(random_model_path, detector=FakeDetector())
    with pytest.raises(ValueError, match="uint8"):
        analyzer.analyze(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(MediaError, match="no such file"):
        analyzer.analyze(tmp_path / "missing.jpg")
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), _image(0, (100, 100, 3)))
    with pytest.raises(MediaError, match="too large"):
        FaceAnalyzer(random_model_path, detector=FakeDetector(), max_pixels=9_999).analyze(big)


def test_analyze_aligned_one_face_per_crop(random_model_path, tmp_path):  # noqa: F811
    crops = [_image(7, (200, 200, 3)), _image(8, (180, 180, 3))]
    path = tmp_path / "c.png"
    cv2.imwrite(str(path), crops[1])
    analyzer = FaceAnalyzer(random_model_path)
    faces = analyzer.analyze_aligned([crops[0], path])
    assert [f.xyxy for f in faces] == [(0.0, 0.0, 200.0, 200.0), (0.0, 0.0, 180.0, 180.0)]
    assert all(f.score == 1.0 and f.keypoints == () for f in faces)
    direct = AttributeModel(random_model_path).predict(prepare_aligned(crops, analyzer.spec))
    assert [f.age for f in faces] == pytest.approx(direct.age.tolist(), abs=1e-3)
    assert analyzer._detector is None, "no detector is created for aligned crops"
    assert analyzer.analyze_aligned([]) == []


def test_missing_default_model(monkeypatch, tmp_path):
    monkeypatch.setattr(attributes, "DEFAULT_MODEL_PATH", tmp_path / "attributes.onnx")
    with pytest.raises(ModelNotFoundError, match="not installed"):
        FaceAnalyzer()


def test_injected_model_is_used():
    spec = ModelSpec()

    class ConstantModel:
        def __init__(self):
            self.spec = spec

        def predict(self, crops):
            n = len(crops)
            return attributes.postprocess(
                spec,
                np.tile(np.eye(101)[20], (n, 1)),
                np.tile([1.0, 0.0], (n, 1)),
                np.tile(np.eye(5)[1], (n, 1)),
            )

    analyzer = FaceAnalyzer(detector=FakeDetector(_detections(*TWO)), model=ConstantModel())
    faces = analyzer.analyze(_image(0))
    assert [f.label for f in faces] == ["male, 20, black"] * 2


@pytest.mark.shared
def test_real_detector_on_a_photo(shared_dir, random_model_path):  # noqa: F811
    photo = shared_dir / "media" / "face_recognition" / "obama.jpg"
    faces = FaceAnalyzer(random_model_path).analyze(photo)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].xyxy
    assert 50 < x2 - x1 < 1000 and faces[0].score > 0.5
    right_eye, left_eye = faces[0].keypoints[:2]
    assert x1 < right_eye[0] < left_eye[0] < x2
