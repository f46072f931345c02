from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceattrs.pipeline.detection import (
    MODELS_DIR,
    FaceDetector,
    anchor_centers,
    to_input,
)
from faceattrs.pipeline.detections import Detections


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector("full")


def _check_valid(dets: Detections, shape: tuple[int, ...]) -> None:
    n = len(dets)
    assert dets.xyxy.shape == (n, 4) and dets.xyxy.dtype == np.float32
    assert dets.scores.shape == (n,) and dets.scores.dtype == np.float32
    assert dets.keypoints.shape == (n, 6, 2) and dets.keypoints.dtype == np.float32
    h, w = shape[:2]
    assert (dets.xyxy[:, 0] >= 0).all() and (dets.xyxy[:, 2] <= w).all()
    assert (dets.xyxy[:, 1] >= 0).all() and (dets.xyxy[:, 3] <= h).all()
    assert (dets.xyxy[:, 2] > dets.xyxy[:, 0]).all() and (dets.xyxy[:, 3] > dets.xyxy[:, 1]).all()
    assert (np.diff(dets.scores) <= 0).all(), "best score first"


def _read(shared_dir: Path, name: str) -> np.ndarray:
    bgr = cv2.imread(str(shared_dir / "media" / name))
    assert bgr is not None, name
    return bgr


@pytest.mark.parametrize("shape", [(480, 640, 3), (50, 3000, 3), (1, 1, 3), (0, 10, 3)])
def test_blank_images_have_no_faces(detector: FaceDetector, shape: tuple[int, ...]) -> None:
    for value in (0, 255):
        dets = detector.detect(np.full(shape, value, np.uint8))
        assert len(dets) == 0
        _check_valid(dets, shape)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        "image.jpg",
    ],
)
def test_bad_input_raises_value_error(detector: FaceDetector, bad) -> None:
    with pytest.raises(ValueError):
        detector.detect(bad)


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="unknown detector model"):
        FaceDetector("huge")


@pytest.mark.parametrize("model", ["full", "short"])
def test_anchors_match_model_outputs_at_any_size(model: str) -> None:
    det = FaceDetector(model)
    for h, w in [(det.config.native, det.config.native), (64, 160), (256, 96)]:
        x = np.zeros((1, 3, h, w), np.float32)
        boxes, scores = det.onnx.run(None, {det.onnx.input_names()[0]: x})
        anchors = anchor_centers(det.config, h, w)
        assert boxes.shape == (1, len(anchors), 16) and scores.shape == (1, len(anchors), 1)
        assert anchors[:, 0].min() > 0 and anchors[:, 0].max() < w
        assert anchors[:, 1].min() > 0 and anchors[:, 1].max() < h


def test_pyramid_levels_reach_min_face() -> None:
    det = FaceDetector("full", min_face=20)
    levels = det.scales(3000, 4000)
    scales = sorted(s for s, _ in levels)
    assert scales[-1] == pytest.approx(det.config.min_px / 20)
    steps = np.array(scales[1:]) / np.array(scales[:-1])
    assert (steps <= det.config.level_ratio + 1e-6).all()
    assert len(FaceDetector("full", pyramid=False).scales(3000, 4000)) == 2
    assert sorted(FaceDetector("full", min_face=200).scales(3000, 4000))[-1][0] < 0.1


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "faces"),
    [
        ("facenet_pytorch/multiface.jpg", 6),
        ("face_recognition/obama.jpg", 1),
        ("face_recognition/two_people.jpg", 2),
        ("deepface/couple.jpg", 2),
    ],
)
def test_finds_the_faces_in_photos(
    detector: FaceDetector, shared_dir: Path, name: str, faces: int
) -> None:
    bgr = _read(shared_dir, name)
    dets = detector.detect(bgr)
    _check_valid(dets, bgr.shape)
    assert len(dets) == faces
    assert (dets.scores > 0.7).all()
    x0, y0, x1, y1 = (dets.xyxy[:, i, None] for i in range(4))
    kx, ky = dets.keypoints[:, :4, 0], dets.keypoints[:, :4, 1]
    assert ((kx > x0) & (kx < x1) & (ky > y0) & (ky < y1)).all(), "eyes/nose/mouth inside box"
    # MediaPipe order: the subject's right eye (image left) first; mouth below the eyes
    assert (kx[:, 0] < kx[:, 1]).all()
    assert (ky[:, 3] > ky[:, :2].max(axis=1)).all()


@pytest.mark.shared
def test_short_range_model_finds_a_close_face(shared_dir: Path) -> None:
    bgr = _read(shared_dir, "face_recognition/obama.jpg")
    full = FaceDetector("full").detect(bgr)
    short = FaceDetector("short").detect(bgr)
    assert len(short) == 1
    iou_x = min(full.xyxy[0, 2], short.xyxy[0, 2]) - max(full.xyxy[0, 0], short.xyxy[0, 0])
    assert iou_x > 0.7 * (full.xyxy[0, 2] - full.xyxy[0, 0])


@pytest.mark.shared
@pytest.mark.parametrize("tile_pixels", [1024 * 1024, 512 * 512])
def test_small_faces_in_a_large_photo(shared_dir: Path, tile_pixels: int) -> None:
    """The group photo pasted small into a big canvas: faces of ~30 px are lost by
    the single 192 px pass and found by the pyramid (in one pass or in tiles)."""
    bgr = _read(shared_dir, "facenet_pytorch/multiface.jpg")
    reference = FaceDetector("full").detect(bgr)
    scale = 0.45  # faces ~70 px -> ~30 px
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((2400, 3200, 3), 90, np.uint8)
    y0, x0 = 1500, 2000
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small

    single = FaceDetector("full", pyramid=False).detect(canvas)
    tiled = FaceDetector("full", tile_pixels=tile_pixels).detect(canvas)
    _check_valid(tiled, canvas.shape)
    assert len(single) < len(reference)
    assert len(tiled) == len(reference)
    expected = reference.xyxy * scale + [x0, y0, x0, y0]
    for box in expected:
        err = np.abs(tiled.xyxy - box).max(axis=1).min()
        assert err < 0.2 * (box[2] - box[0]), "every reference face found at its place"


def test_padded_model_computes_the_same_function() -> None:
    """blazeface_full_padded.onnx (zero-padded bottlenecks, for speed) matches the
    converted original up to float rounding."""
    import onnxruntime as ort

    assert FaceDetector("full").config.file == "blazeface_full_padded.onnx"
    original, padded = (
        ort.InferenceSession(str(MODELS_DIR / name), providers=["CPUExecutionProvider"])
        for name in ("blazeface_full.onnx", "blazeface_full_padded.onnx")
    )
    rng = np.random.default_rng(0)
    for shape in [(2, 3, 192, 192), (1, 3, 96, 160)]:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        outputs = original.run(None, {"input": x}), padded.run(None, {"input": x})
        for want, got in zip(*outputs, strict=True):
            assert want.shape == got.shape
            np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-4)


def test_input_is_rgb_scaled_to_minus_one_one() -> None:
    bgr = np.random.default_rng(1).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    x = to_input(bgr)
    reference = bgr[..., ::-1].astype(np.float32) * (2.0 / 255.0) - 1.0
    assert x.shape == (2, 3, 64, 96) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, reference.transpose(0, 3, 1, 2))
