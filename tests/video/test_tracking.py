"""FaceTracker, smoothing, interpolation and summaries, on synthetic faces (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from faceattrs.results import Face
from faceattrs.video.tracking import (
    FaceTracker,
    FrameResult,
    box_iou,
    interpolate_faces,
    match_boxes,
    move_face,
)

FPS = 25.0


def make_face(
    cx: float,
    cy: float,
    size: float = 60.0,
    age: float = 30.0,
    female: float = 0.5,
    score: float = 0.9,
) -> Face:
    half = size / 2
    return Face(
        xyxy=(cx - half, cy - half, cx + half, cy + half),
        score=score,
        keypoints=((cx - 0.2 * size, cy - 0.1 * size), (cx + 0.2 * size, cy - 0.1 * size)),
        age=age,
        age_interval=(age - 5, age + 5),
        gender_probs={"female": female, "male": 1 - female},
        race_probs={"white": 0.4, "black": 0.3, "asian": 0.1, "indian": 0.1, "others": 0.1},
    )


def centre(face: Face) -> np.ndarray:
    x1, y1, x2, y2 = face.xyxy
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2])


def test_box_iou_and_greedy_matching_prefers_overlap():
    a = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    b = np.array([[21, 0, 31, 10], [1, 0, 11, 10]], float)
    iou = box_iou(a, b)
    assert iou.shape == (2, 2)
    assert iou[0, 1] == pytest.approx(90 / 110)
    assert iou[0, 0] == 0
    assert sorted(match_boxes(a, b)) == [(0, 1), (1, 0)]
    assert match_boxes(a, np.zeros((0, 4))) == []
    far = np.array([[500, 500, 510, 510]], float)
    assert match_boxes(a, far) == []


def test_centre_distance_fallback_matches_fast_motion_but_not_other_sizes():
    track = np.array([[0, 0, 100, 100]], float)
    moved = np.array([[60, 0, 160, 100]], float)  # IoU 0.25, centres 0.6 sizes apart
    assert box_iou(track, moved)[0, 0] < 0.3
    assert match_boxes(track, moved) == [(0, 0)]
    tiny = np.array([[40, 40, 60, 60]], float)  # same centre, 5x smaller
    assert match_boxes(track, tiny) == []


def test_ids_start_at_one_and_stay_with_crossing_faces():
    tracker = FaceTracker()
    seen = {}
    for i in range(50):
        t = i / FPS
        a = make_face(100 + 8 * i, 200, age=20)  # left to right
        b = make_face(500 - 8 * i, 230, age=60)  # right to left, crossing a around i = 25
        faces = tracker.update([a, b], t)
        for face in faces:
            going_right = face.age < 40
            seen.setdefault(face.track_id, set()).add(going_right)
    assert sorted(seen) == [1, 2]
    assert all(len(directions) == 1 for directions in seen.values())  # no swap


def test_occluded_face_keeps_its_id():
    tracker = FaceTracker(max_lost_s=1.0)
    ids_b = []
    for i in range(60):
        t = i / FPS
        a = make_face(100 + 8 * i, 200, size=80)
        b = make_face(450 - 4 * i, 210, size=60)
        hidden = 20 <= i < 35  # b behind a for 0.6 s
        faces = tracker.update([a] if hidden else [a, b], t)
        ids_b += [f.track_id for f in faces if abs(f.width - 60) < 1]
    assert set(ids_b) == {2}
    assert tracker.track_count == 2


def test_a_face_two_tracks_could_claim_starts_a_new_track():
    # a walks in front of b, which stands still; then one face is left between them, and
    # which of the two it is cannot be told from the boxes: its track is a new one
    tracker = FaceTracker()
    for i in range(10):
        out = tracker.update([make_face(200 + 8 * i, 205), make_face(300, 200)], i / FPS)
        assert sorted(f.track_id for f in out) == [1, 2]
    one = make_face(290, 202)
    # its track is new, so its attributes are due (the session describes it) however fresh
    # the winner track's were
    assert tracker.stale(np.array([one.xyxy]), 10 / FPS, max_age_s=60.0) == [True]
    ids = [f.track_id for i in range(10, 20) for f in tracker.update([one], i / FPS)]
    assert ids == [3] * 10
    assert tracker.track_count == 3


def test_a_track_lost_for_a_while_takes_no_face_that_only_turns_up_near_it():
    near = make_face(140, 110, size=90)  # IoU 0.22 with the track's box, centres 0.46 apart
    for lost_frames, expected in ((2, 1), (15, 2)):  # 0.08 s: a missed detection; 0.6 s
        tracker = FaceTracker()
        for i in range(5):
            tracker.update([make_face(100, 100)], i / FPS)
        for i in range(5, 5 + lost_frames):
            tracker.update([], i / FPS)
        start = 5 + lost_frames
        ids = [f.track_id for i in range(start, start + 4) for f in tracker.update([near], i / FPS)]
        assert ids and set(ids) == {expected}, lost_frames


def test_track_ends_after_max_lost_and_a_new_id_follows():
    tracker = FaceTracker(max_lost_s=0.5)
    for i in range(5):
        assert [f.track_id for f in tracker.update([make_face(100, 100)], i / FPS)] == [1]
    for i in range(5, 25):  # 0.8 s without the face
        assert tracker.update([], i / FPS) == []
    ids = [
        f.track_id for i in range(25, 28) for f in tracker.update([make_face(100, 100)], i / FPS)
    ]
    assert ids and set(ids) == {2}


def test_single_frame_false_positive_gets_no_id():
    tracker = FaceTracker(min_hits=2)
    for i in range(10):
        faces = [make_face(100, 100)]
        if i == 5:
            faces.append(make_face(400, 400))  # appears once
        out = tracker.update(faces, i / FPS)
        assert [f.track_id for f in out] == [1]
    assert tracker.track_count == 1


def test_faces_of_the_first_frames_are_reported_at_once():
    out = FaceTracker(min_hits=3).update([make_face(50, 50), make_face(300, 50)], 0.0)
    assert [f.track_id for f in out] == [1, 2]


def test_smoothing_removes_age_flicker_and_keeps_the_mean():
    tracker = FaceTracker(smooth_s=1.0)
    rng = np.random.default_rng(0)
    raw = 35 + rng.normal(0, 6, 100)
    smoothed = []
    for i, age in enumerate(raw):
        (face,) = tracker.update([make_face(200 + i, 200, age=float(age))], i / FPS)
        smoothed.append(face.age)
        assert face.age_interval[0] < face.age < face.age_interval[1]
    smoothed = np.array(smoothed)
    assert np.abs(np.diff(smoothed[25:])).mean() < 0.2 * np.abs(np.diff(raw[25:])).mean()
    assert abs(smoothed[25:].mean() - 35) < 2.0
    assert smoothed[0] == pytest.approx(raw[0])  # no bias towards zero at the start


def test_smoothing_of_probabilities_keeps_them_normalised():
    tracker = FaceTracker(smooth_s=0.5)
    for i in range(30):
        female = 0.9 if i % 2 else 0.2
        (face,) = tracker.update([make_face(100, 100, female=female)], i / FPS)
        assert sum(face.gender_probs.values()) == pytest.approx(1.0)
        assert sum(face.race_probs.values()) == pytest.approx(1.0)
        assert list(face.race_probs) == ["white", "black", "asian", "indian", "others"]
    assert 0.45 < face.gender_probs["female"] < 0.65


def test_no_smoothing_returns_raw_attributes():
    tracker = FaceTracker(smooth_s=0.0)
    for i, age in enumerate([20.0, 50.0, 30.0]):
        (face,) = tracker.update([make_face(100, 100, age=age, female=0.1 * i)], i / FPS)
        assert face.age == pytest.approx(age)
        assert face.gender_probs["female"] == pytest.approx(0.1 * i)


def test_predict_moves_faces_along_their_motion():
    tracker = FaceTracker()
    for i in range(5):
        tracker.update([make_face(100 + 10 * i, 100)], i / FPS)
    (face,) = tracker.predict(5 / FPS)
    assert centre(face) == pytest.approx([150, 100], abs=1)
    assert face.track_id == 1
    assert face.keypoints[0][0] == pytest.approx(150 - 12, abs=1)


def test_move_and_interpolate_faces():
    a = make_face(100, 100).with_track(1)
    b = make_face(200, 100, age=40).with_track(1)
    new = make_face(300, 300).with_track(2)  # only in the later frame
    before, after = FrameResult(0, 0.0, (a,)), FrameResult(4, 0.4, (b, new))
    (mid,) = interpolate_faces(before, after, 0.1)
    assert centre(mid) == pytest.approx([125, 100])
    assert mid.keypoints[0][0] == pytest.approx(125 - 12)
    assert mid.age == 40 and mid.track_id == 1
    moved = move_face(a, (0, 0, 120, 120))
    assert moved.width == 120
    assert moved.keypoints[0] == pytest.approx((0.3 * 120, 0.4 * 120))


def _with_expression(face: Face, happy: float) -> Face:
    from dataclasses import replace

    rest = (1 - happy) / 6
    probs = {k: rest for k in ("angry", "disgust", "fear", "neutral", "sad", "surprise")}
    return replace(face, expression_probs={**probs, "happy": happy})


def test_expression_follows_a_change_faster_than_age():
    tracker = FaceTracker(min_hits=1)
    out = []
    for i in range(50):  # 1 s of a neutral, 30 years old face, then 0.4 s happy and 50
        late = i >= 40
        face = make_face(100, 100, age=50.0 if late else 30.0)
        out = tracker.update([_with_expression(face, 0.9 if late else 0.0)], t=i / FPS)
    (face,) = out
    age_share = (face.age - 30) / 20
    happy_share = face.expression_probs["happy"] / 0.9
    assert happy_share > 0.6 and age_share < 0.4
    assert happy_share > age_share + 0.3
    assert sum(face.expression_probs.values()) == pytest.approx(1)


def test_summary_gives_expression_shares():
    from faceattrs.video.process import summarize_tracks

    tracker = FaceTracker(min_hits=1, expression_smooth_s=0)
    results = []
    for i in range(10):
        face = _with_expression(make_face(100, 100), 0.9 if i < 3 else 0.0)
        results.append(FrameResult(i, i / FPS, tuple(tracker.update([face], t=i / FPS))))
    (summary,) = summarize_tracks(results)
    assert summary.expression_shares["happy"] == pytest.approx(0.3)
    assert sum(summary.expression_shares.values()) == pytest.approx(1)
    assert summary.to_dict()["expression_shares"]["happy"] == pytest.approx(0.3)


def test_summary_means_are_over_the_frames_that_have_attributes():
    from dataclasses import replace

    from faceattrs.video.process import summarize_tracks

    face = make_face(100, 100, female=0.8).with_track(1)
    bare = replace(face, age=None, age_interval=None, gender_probs=None, race_probs=None)
    results = [FrameResult(i, i / FPS, (bare if i < 2 else face,)) for i in range(5)]
    (summary,) = summarize_tracks(results)
    assert summary.frames == 5
    assert summary.gender_probs["female"] == pytest.approx(0.8)
    assert sum(summary.race_probs.values()) == pytest.approx(1)
