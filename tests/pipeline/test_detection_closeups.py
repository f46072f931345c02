"""The detector's second looks (faceattrs.pipeline.face_checks): faces filling the frame
and tiny face crops are found once, crowds without double boxes, textures and patterns
are not faces, degenerate images give no face. Recall figures: bench/bench_detection_recall.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceattrs.pipeline import face_checks
from faceattrs.pipeline.boxes import box_iou
from faceattrs.pipeline.detection import FaceDetector
from faceattrs.pipeline.detections import Detections

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector("full")


@pytest.fixture(scope="module")
def face_crop(shared_dir: Path) -> np.ndarray:
    """obama.jpg cut to its face's box: the face fills the frame."""
    bgr = cv2.imread(str(shared_dir / "media" / "face_recognition" / "obama.jpg"))
    x0, y0, x1, y1 = FaceDetector("full").detect(bgr).xyxy[0].astype(int)
    return bgr[y0:y1, x0:x1]


def _one_centred_face(dets: Detections, shape: tuple[int, ...]) -> None:
    h, w = shape[:2]
    assert len(dets) == 1, dets.xyxy
    x0, y0, x1, y1 = dets.xyxy[0]
    assert x0 < w / 2 < x1 and y0 < h / 2 < y1
    assert max(x1 - x0, y1 - y0) > 0.5 * min(h, w)


@pytest.mark.shared
@pytest.mark.parametrize("side", [160, 224, 448, 896])
def test_a_face_filling_the_frame_is_found_at_every_size(
    detector: FaceDetector, face_crop: np.ndarray, side: int
) -> None:
    bgr = cv2.resize(face_crop, (side, side), interpolation=cv2.INTER_CUBIC)
    plain = FaceDetector("full", closeup=False, check=False).detect(bgr)
    assert face_checks.needs_closeup(plain.xyxy, plain.scores, side, side)
    _one_centred_face(detector.detect(bgr), bgr.shape)


@pytest.mark.shared
@pytest.mark.parametrize("side", [32, 48])
def test_a_tiny_face_crop_is_one_face(
    detector: FaceDetector, face_crop: np.ndarray, side: int
) -> None:
    bgr = cv2.resize(face_crop, (side, side), interpolation=cv2.INTER_AREA)
    _one_centred_face(FaceDetector("full", min_face=8).detect(bgr), bgr.shape)
    if side >= 48:
        _one_centred_face(detector.detect(bgr), bgr.shape)


@pytest.mark.shared
def test_fer_crops_are_found(detector: FaceDetector, shared_dir: Path) -> None:
    """FER-2013 val crops (48 px, the face is the whole image): the extreme close-up."""
    paths = sorted((shared_dir / "data" / "fer2013" / "val" / "neutral").glob("*.jpg"))[:25]
    if len(paths) < 25:
        pytest.skip("FER-2013 val crops not in ../shared/data")
    found = [len(detector.detect(cv2.imread(str(p)))) == 1 for p in paths]
    assert sum(found) >= 24, found


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "faces"),
    # selfie-many-people: 6 since the finer levels' border (the man cut by the right edge,
    # top right); the woman cut by the bottom-left corner is still missed
    [("deepface/selfie-many-people.jpg", 6), ("facenet_pytorch/multiface.jpg", 6)],
)
def test_crowds_have_every_clear_face_once(
    detector: FaceDetector, shared_dir: Path, name: str, faces: int
) -> None:
    dets = detector.detect(cv2.imread(str(shared_dir / "media" / name)))
    assert len(dets) == faces
    iou = box_iou(dets.xyxy, dets.xyxy)
    np.fill_diagonal(iou, 0)
    assert iou.max() < 0.2, "no double boxes"


@pytest.mark.shared
def test_faces_cut_by_the_frame_edge_are_found(detector: FaceDetector, shared_dir: Path) -> None:
    """Each face of the six-face photo, cut 25% and 35% of its width by the left and by the
    right frame edge: 24 crops, each face found at its edge (21 of 24 without the finer
    levels' black border, ``edge_margin=0``)."""
    bgr = cv2.imread(str(shared_dir / "media" / "facenet_pytorch" / "multiface.jpg"))
    missed = []
    for x0, y0, x1, y1 in detector.detect(bgr).xyxy:
        side = x1 - x0
        for cut in (0.25, 0.35):
            for edge, crop in (
                ("left", bgr[:, int(x0 + cut * side) :]),
                ("right", bgr[:, : int(x1 - cut * side)]),
            ):
                at_edge = 0 if edge == "left" else crop.shape[1]
                found = [
                    b for b in detector.detect(crop).xyxy
                    if abs(b[0 if edge == "left" else 2] - at_edge) <= 2
                    and b[1] < y0 + 0.3 * side and b[3] > y1 - 0.3 * side
                ]  # fmt: skip
                if not found:
                    missed.append((round(float(x0)), edge, cut))
    assert not missed


@pytest.mark.shared
def test_the_six_face_photo_needs_no_second_pass(detector: FaceDetector, shared_dir: Path) -> None:
    """The detector's time on group photos stays today's: no close-up pass, no check."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_analyze import cover

    photo = shared_dir / "media" / "facenet_pytorch" / "multiface.jpg"
    bgr = cover(cv2.imread(str(photo)), 1280, 720)
    plain = FaceDetector("full", closeup=False, check=False).detect(bgr)
    assert not face_checks.needs_closeup(plain.xyxy, plain.scores, 720, 1280)
    assert (plain.scores >= face_checks.CONFIDENT).all()
    np.testing.assert_array_equal(detector.detect(bgr).xyxy, plain.xyxy)


@pytest.mark.shared
def test_the_checkered_shirt_is_not_a_face(detector: FaceDetector, shared_dir: Path) -> None:
    bgr = cv2.imread(str(shared_dir / "media" / "deepface" / "img26.jpg"))
    assert len(FaceDetector("full", check=False).detect(bgr)) == 1
    # without the finer levels' border (video frames) the shirt fools the full-range model
    # alone, and the check removes it
    unchecked = FaceDetector("full", check=False, edge_margin=0).detect(bgr)
    assert len(unchecked) == 2, "the shirt fools the full-range model alone"
    assert len(FaceDetector("full", edge_margin=0).detect(bgr)) == 1
    dets = detector.detect(bgr)
    assert len(dets) == 1
    assert (dets.xyxy[0, 1] + dets.xyxy[0, 3]) / 2 < 0.45 * bgr.shape[0], "the face, not the shirt"


def _textures() -> dict[str, np.ndarray]:
    ys, xs = np.mgrid[0:480, 0:640]
    checker = (((ys // 24) + (xs // 24)) % 2 * 255).astype(np.uint8)
    stripes_x, stripes_y = (xs % 30) < 12, (ys % 30) < 12
    gingham = 230 - 80 * stripes_x.astype(np.uint8) - 80 * stripes_y.astype(np.uint8)
    dots = np.full((480, 640), 220, np.uint8)
    for y in range(15, 480, 40):
        for x in range(15, 640, 40):
            cv2.circle(dots, (x, y), 8, 30, -1, cv2.LINE_AA)
    text = np.full((480, 640), 255, np.uint8)
    for row, y in enumerate(range(40, 480, 50)):
        cv2.putText(text, f"faceattrs {row} OK oo 00", (10, y), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    grey = {"checkerboard": checker, "gingham": gingham, "dots": dots, "text": text}
    return {name: cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) for name, img in grey.items()}


@pytest.mark.parametrize("name", ["checkerboard", "gingham", "dots", "text"])
def test_textures_are_not_faces(detector: FaceDetector, name: str) -> None:
    bgr = _textures()[name]
    for image in (bgr, cv2.resize(bgr, (160, 120)), cv2.resize(bgr, (1280, 960))):
        assert len(detector.detect(image)) == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((1, 1, 3), np.uint8),
        lambda: np.full((10, 10000, 3), 128, np.uint8),
        lambda: np.full((10000, 10, 3), 128, np.uint8),
        lambda: np.zeros((720, 1280, 3), np.uint8),
        lambda: np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8),
        lambda: np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8),
    ],
    ids=["1x1", "10000x10", "10x10000", "black", "noise", "noise32"],
)
def test_degenerate_images_have_no_faces(detector: FaceDetector, make) -> None:
    assert len(detector.detect(make())) == 0


def test_closeup_layout_centres_the_image() -> None:
    for height, width in [(48, 48), (720, 1280), (10, 10000), (1, 1)]:
        scale, w, h, x0, y0 = face_checks.closeup_layout(height, width, 128)
        assert max(w, h) == round(face_checks.CLOSEUP_FACTOR * 128)
        assert abs(x0 - (128 - w - x0)) <= 1 and abs(y0 - (128 - h - y0)) <= 1
        assert scale == pytest.approx(max(w, h) / max(height, width), rel=0.1)


def test_check_layout_stays_inside_image_and_canvas() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = (int(v) for v in rng.integers(1, 2000, 2))
        x0, y0 = rng.uniform(-50, width), rng.uniform(-50, height)
        box = np.array([x0, y0, x0 + rng.uniform(1, 400), y0 + rng.uniform(1, 400)])
        for margin in face_checks.CHECK_MARGINS.values():
            (rx0, ry0, rx1, ry1), _, w, h, dx, dy = face_checks.check_layout(
                box, margin, height, width, 192
            )
            assert 0 <= rx0 < rx1 <= width and 0 <= ry0 < ry1 <= height
            assert 0 <= dx and dx + w <= 192 and 0 <= dy and dy + h <= 192


def test_needs_closeup_when_no_confident_or_a_large_face() -> None:
    small = np.array([[10, 10, 60, 60]], np.float32)
    large = np.array([[10, 10, 400, 400]], np.float32)
    sure = np.array([0.9], np.float32)
    assert face_checks.needs_closeup(np.zeros((0, 4)), np.zeros(0), 720, 1280)
    assert face_checks.needs_closeup(small, np.array([0.6], np.float32), 720, 1280)
    assert face_checks.needs_closeup(large, sure, 720, 1280)
    assert not face_checks.needs_closeup(small, sure, 720, 1280)
