"""Measure where our detector's keypoints land in dlib's 150 px face chips.

dlib's face descriptor was trained on chips cut by ``dlib.get_face_chip`` from its
5-point landmarks (eye corners, nose base), padding 0.25. faceattrs aligns from the
BlazeFace keypoints instead, so it needs their place in those chips: for each face
found by both dlib's HOG detector and our ``FaceDetector``, the 5-point shape
predictor gives dlib's chip (``get_face_chip_details``), whose image-to-chip map
(dlib's ``get_mapping_to_chip``: the chip rectangle's corners, rotated by its angle,
onto the chip's corner pixels) carries our keypoints into the chip. The template is
the mean over all faces, as fractions of the chip (continuous coordinates: pixel
``i``'s centre is ``i + 0.5``); the per-point standard deviation is reported. The
map is checked by warping the image with it and comparing with dlib's own chip.

Faces: every photo under ``--media`` plus ``--n`` FairFace training images.
Needs dlib (``pip install dlib-bin``) and face_recognition_models. Run from the
repository root::

    OMP_NUM_THREADS=1 nice -n 10 python scripts/measure_embedding_template.py --n 1000

Writes src/faceattrs/models/embedding_template.json (read by
scripts/convert_dlib_resnet.py into the model's spec).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

from faceattrs.pipeline.detection import FaceDetector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from check_embedding_parity import CHIP_PADDING, CHIP_SIZE, model_file  # noqa: E402

POINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")


def chip_matrix(details) -> np.ndarray:
    """dlib's get_mapping_to_chip as a 2x3 matrix on pixel indices (image -> chip)."""
    rect = details.rect
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    cos, sin = np.cos(details.angle), np.sin(details.angle)

    def rotate(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - cx, y - cy
        return cx + cos * dx - sin * dy, cy + sin * dx + cos * dy

    src = np.float32([rotate(rect.left(), rect.top()), rotate(rect.right(), rect.top()),
                      rotate(rect.right(), rect.bottom())])  # fmt: skip
    last_c, last_r = details.cols - 1, details.rows - 1
    dst = np.float32([[0, 0], [last_c, 0], [last_c, last_r]])
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def to_chip_fractions(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Continuous image points (K, 2) -> fractions of the chip."""
    index = np.asarray(points, np.float64) - 0.5
    chip = index @ matrix[:, :2].T + matrix[:, 2]
    return (chip + 0.5) / CHIP_SIZE


def matched_faces(dlib, hog, shapes, detector, bgr: np.ndarray):
    """(shape, our keypoints (6, 2)) for each HOG face whose box holds exactly one of
    our detections' box centres."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    dets = detector.detect(bgr)
    centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    for rect in hog(rgb, 1):
        inside = [
            i for i, (x, y) in enumerate(centres)
            if rect.left() <= x <= rect.right() and rect.top() <= y <= rect.bottom()
        ]  # fmt: skip
        if len(inside) == 1:
            yield rgb, shapes(rgb, rect), dets.keypoints[inside[0]].astype(np.float64)


def image_paths(media: Path, fairface: Path, split: Path, n: int, seed: int) -> list[Path]:
    photos = sorted(p for p in media.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    names = [line.split("\t")[0] for line in split.read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(names), size=min(n, len(names)), replace=False))
    return photos + [fairface / names[i] for i in picked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media")
    parser.add_argument("--fairface", type=Path,
                        default=ROOT.parent / "shared" / "data" / "fairface")  # fmt: skip
    parser.add_argument("--split", type=Path, default=ROOT / "splits/fairface/train.txt")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "src/faceattrs/models/embedding_template.json")  # fmt: skip
    args = parser.parse_args()
    import dlib  # the reference; not a faceattrs dependency

    hog = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(model_file("shape_predictor_5_face_landmarks.dat"))
    detector = FaceDetector("full", threads=1)
    paths = image_paths(args.media, args.fairface, args.split, args.n, args.seed)
    fractions, warp_errors, n_photo = [], [], 0
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        for rgb, shape, keypoints in matched_faces(dlib, hog, shapes, detector, bgr):
            details = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
            matrix = chip_matrix(details)
            fractions.append(to_chip_fractions(matrix, keypoints))
            n_photo += path.is_relative_to(args.media)
            if len(warp_errors) < 200:  # the map must reproduce dlib's chip
                chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
                ours = cv2.warpAffine(rgb, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR)
                warp_errors.append(float(np.abs(ours.astype(float) - chip).mean()))
    pts = np.asarray(fractions)
    result = {
        "template": pts.mean(0).round(4).tolist(),
        "points": list(POINTS),
        "std": pts.std(0).round(4).tolist(),
        "faces": len(pts),
        "faces_in_media_photos": n_photo,
        "images": len(paths),
        "chip": {"size": CHIP_SIZE, "padding": CHIP_PADDING},
        "warp_check_mean_abs_pixel_diff": round(float(np.median(warp_errors)), 3),
        "command": "python scripts/measure_embedding_template.py " + shlex.join(sys.argv[1:]),
        "detector": "blazeface_full",
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
