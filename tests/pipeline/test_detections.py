"""Merging a detector's candidates into faces: weighted NMS and duplicate removal."""

from __future__ import annotations

import numpy as np

from faceattrs.pipeline.detections import Detections, drop_duplicates, weighted_nms


def test_weighted_nms_merges_overlaps_only() -> None:
    xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    kps = np.repeat(xyxy[:, None, :2], 6, axis=1)
    dets = weighted_nms(xyxy, scores, kps, iou_threshold=0.3)
    assert len(dets) == 2
    np.testing.assert_allclose(dets.scores, [0.9, 0.7])
    np.testing.assert_allclose(dets.xyxy[0], [0.4, 0, 10.4, 10], atol=1e-5)  # score-weighted
    np.testing.assert_allclose(dets.xyxy[1], xyxy[2])


def _dets(boxes: list[list[float]], scores: list[float]) -> Detections:
    xyxy = np.array(boxes, np.float32)
    kps = np.repeat(xyxy[:, None, :2], 6, axis=1)
    return Detections(xyxy, np.array(scores, np.float32), kps)


def test_drop_duplicates_removes_a_box_spanning_two_faces():
    # video.mp4 frame 49: a coarse-scale box over two neighbouring faces scored above one of them
    dets = _dets(
        [[1122, 687, 1198, 763], [1079, 676, 1166, 764], [1079, 671, 1130, 721]], [0.76, 0.62, 0.59]
    )
    kept = drop_duplicates(dets)
    np.testing.assert_array_equal(kept.scores, np.float32([0.76, 0.59]))


def test_drop_duplicates_keeps_the_better_of_two_nested_boxes_and_separate_faces():
    # video.mp4 frame 12: one face framed twice (50 px and 92 px), another face apart
    dets = _dets(
        [[1096, 640, 1146, 690], [1337, 674, 1364, 701], [1066, 626, 1158, 718]], [0.86, 0.71, 0.56]
    )
    kept = drop_duplicates(dets)
    np.testing.assert_array_equal(kept.xyxy[:, 0], np.float32([1096, 1337]))
    # overlapping but not nested (two people side by side) stay
    pair = _dets([[0, 0, 100, 100], [60, 0, 160, 100]], [0.9, 0.8])
    assert len(drop_duplicates(pair)) == 2
    assert len(drop_duplicates(Detections.empty())) == 0
