"""Faces found in one image (:class:`Detections`) and how one detector's candidates
from several passes become one face each: weighted NMS as MediaPipe does it, then
:func:`drop_duplicates` for what NMS's IoU test lets through across pyramid scales."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceattrs.pipeline.boxes import areas, intersections

NUM_KEYPOINTS = 6
# Duplicates left by NMS across pyramid scales (see drop_duplicates): a box holding this
# share of two other faces' boxes spans several faces; two boxes overlapping by this share
# of the smaller one are one face.
SPAN_OVERLAP = 0.5
NESTED_OVERLAP = 0.8


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, in pixels of that image, best score first.

    ``keypoints`` (N, 6, 2): right eye, left eye, nose tip, mouth centre, right
    ear tragion, left ear tragion (MediaPipe order; the subject's right eye is
    the image-left one).
    """

    xyxy: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    keypoints: np.ndarray  # (N, 6, 2) float32

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index) -> Detections:
        """The detections selected by a numpy index (mask, indices or slice)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(self.xyxy[index], self.scores[index], self.keypoints[index])

    @classmethod
    def from_arrays(cls, xyxy, scores, keypoints) -> Detections:
        """Detections from any detector's array-likes (checked and made float32)."""
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        keypoints = np.asarray(keypoints, np.float32)
        if len(scores) == 0:
            keypoints = np.zeros((0, NUM_KEYPOINTS, 2), np.float32)
        else:
            keypoints = keypoints.reshape(len(keypoints), -1, 2)
        if len(xyxy) != len(scores) or len(keypoints) != len(scores):
            raise ValueError(
                f"detector returned {len(xyxy)} boxes, {len(scores)} scores "
                f"and {len(keypoints)} keypoint sets"
            )
        return cls(xyxy, scores, keypoints)

    @property
    def sides(self) -> np.ndarray:
        """Each box's larger side in pixels (N,)."""
        return np.maximum(self.xyxy[:, 2] - self.xyxy[:, 0], self.xyxy[:, 3] - self.xyxy[:, 1])

    def keep(self, score_threshold: float = 0.0, min_face: float = 0.0) -> Detections:
        """The faces scored at least ``score_threshold`` whose box side is at least
        ``min_face`` pixels: the one score / size filter of the package."""
        return self[(self.scores >= score_threshold) & (self.sides >= min_face)]

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
        )


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[np.ndarray]:
    """Greedy NMS; returns for each kept box the indices of the boxes it absorbed."""
    order = np.argsort(-scores)
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    groups = []
    while order.size:
        best, rest = order[0], order[1:]
        x0 = np.maximum(xyxy[best, 0], xyxy[rest, 0])
        y0 = np.maximum(xyxy[best, 1], xyxy[rest, 1])
        x1 = np.minimum(xyxy[best, 2], xyxy[rest, 2])
        y1 = np.minimum(xyxy[best, 3], xyxy[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-6)
        overlapping = iou > iou_threshold
        groups.append(np.concatenate([[best], rest[overlapping]]))
        order = rest[~overlapping]
    return groups


def weighted_nms(
    xyxy: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float
) -> Detections:
    """MediaPipe-style weighted NMS: each kept face averages the boxes and
    keypoints of the detections it suppresses, weighted by score."""
    if len(scores) == 0:
        return Detections.empty()
    out_box, out_score, out_kps = [], [], []
    for group in nms(xyxy, scores, iou_threshold):
        weights = scores[group][:, None]
        total = weights.sum()
        out_box.append((xyxy[group] * weights).sum(0) / total)
        out_kps.append((keypoints[group] * weights[:, :, None]).sum(0) / total)
        out_score.append(scores[group[0]])
    return Detections(
        np.asarray(out_box, np.float32),
        np.asarray(out_score, np.float32),
        np.asarray(out_kps, np.float32),
    )


def drop_duplicates(dets: Detections) -> Detections:
    """Remove what NMS's IoU test leaves when a face is found at two pyramid scales
    (seen in crowded video frames): first every box that holds ``SPAN_OVERLAP`` of two
    or more other faces' boxes (a coarse-scale box spanning neighbouring faces), then
    every box overlapping a better-scored one by ``NESTED_OVERLAP`` of the smaller box
    (the same face, framed larger or smaller). ``dets`` best score first."""
    xyxy = dets.xyxy
    box_areas = areas(xyxy)
    inter = intersections(xyxy, xyxy)
    held = inter >= SPAN_OVERLAP * box_areas[None, :]  # held[i, j]: box i holds most of box j
    np.fill_diagonal(held, False)
    spans = held.sum(axis=1) >= 2
    nested = inter >= NESTED_OVERLAP * np.minimum(box_areas[:, None], box_areas[None, :])
    keep: list[int] = []
    for i in np.flatnonzero(~spans):
        if not nested[i, keep].any():
            keep.append(int(i))
    return Detections(xyxy[keep], dets.scores[keep], dets.keypoints[keep])
