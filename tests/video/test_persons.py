"""Persons across tracks: re-identification by embedding (a fake embedder here; the
shared clips with the real embedding model are checked in test_persons_shared)."""

from __future__ import annotations

import numpy as np
import pytest

from faceattrs.results import Face
from faceattrs.video.persons import PersonRegistry, summarize_persons
from faceattrs.video.process import summarize_tracks
from faceattrs.video.session import VideoSession
from fakes import StepsFromAnalyze

COLOURS = {"red": (0, 0, 230), "green": (0, 220, 0)}


class ColourAnalyzer(StepsFromAnalyze):
    """Finds coloured squares; a square's 'embedding' is its colour (plus noise)."""

    embedding_threshold = 0.5

    def __init__(self) -> None:
        self.embedded = 0
        self.rng = np.random.default_rng(0)

    def analyze(self, bgr: np.ndarray) -> list[Face]:
        faces = []
        for colour in COLOURS.values():
            ys, xs = np.nonzero(np.all(bgr == colour, axis=2))
            if len(xs) < 50:
                continue
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            faces.append(
                Face(box, 0.9, ((cx, cy),), 30.0, (25.0, 35.0), {"male": 0.6, "female": 0.4},
                     {"white": 1.0})
            )  # fmt: skip
        return faces

    def embed(self, bgr: np.ndarray, detections) -> np.ndarray:
        self.embedded += len(detections)
        out = []
        for x0, y0, x1, y1 in detections.xyxy.astype(int):
            mean = bgr[y0:y1, x0:x1].reshape(-1, 3).mean(0)
            vector = np.concatenate([mean / 255.0, self.rng.normal(0, 0.01, 5)])
            out.append(vector / np.linalg.norm(vector))
        return np.asarray(out, np.float32)


def frame(squares: dict[str, int], background: int = 40) -> np.ndarray:
    bgr = np.full((120, 200, 3), background, np.uint8)
    for name, x in squares.items():
        bgr[40:80, x : x + 40] = COLOURS[name]
    return bgr


def test_a_person_who_leaves_and_comes_back_keeps_their_person_id():
    analyzer = ColourAnalyzer()
    session = VideoSession(analyzer, persons=PersonRegistry(), cut_threshold=None)
    results = []
    for i in range(60):  # 10 fps: red in view 0-1.9 s, away 2-3.9 s, back 4-5.9 s
        squares = {"green": 150} if 20 <= i < 40 else {"red": 20 + i % 5, "green": 150}
        results.append(session.process(frame(squares), t=i / 10))
    first = [f for f in results[10].faces]
    last = [f for f in results[55].faces]
    ids = {f.xyxy[0] < 100: (f.track_id, f.person_id) for f in first}
    ids_after = {f.xyxy[0] < 100: (f.track_id, f.person_id) for f in last}
    assert ids[True][0] != ids_after[True][0]  # red got a new track after 2 s away
    assert ids[True][1] == ids_after[True][1]  # ... and the same person
    assert ids[False] == ids_after[False]  # green stayed: same track, same person
    assert ids[True][1] != ids[False][1]
    assert session.persons.person_count == 2
    assert analyzer.embedded <= 3 * 3  # a few embeddings per track, not one per frame


def test_two_faces_in_one_frame_are_two_people_even_when_they_look_alike():
    registry = PersonRegistry(threshold=0.5)
    a = Face((0, 0, 1, 1), 1, (), 1, (0, 1), {}, {}, track_id=1)
    b = Face((5, 0, 6, 1), 1, (), 1, (0, 1), {}, {}, track_id=2)
    assert registry.wanted([a, b], 0.0) == [0, 1]
    same = np.array([1.0, 0.0, 0.0], np.float32)
    assert registry.observe(1, same, 0.0) == 1
    assert registry.observe(2, same, 0.0) == 2  # seen together with track 1
    c = Face((0, 0, 1, 1), 1, (), 1, (0, 1), {}, {}, track_id=3)
    registry.wanted([c], 5.0)
    assert registry.observe(3, same + 0.01, 5.0) in (1, 2)  # alone later: an earlier person
    assert registry.wanted([c], 5.2) == []  # sampled at most every 0.3 s
    assert registry.wanted([c], 5.3) == [0]
    with pytest.raises(ValueError):
        PersonRegistry(threshold=0)


def test_a_scene_cut_starts_new_tracks_but_the_same_person():
    analyzer = ColourAnalyzer()
    session = VideoSession(analyzer, persons=PersonRegistry())
    results = []
    for i in range(40):
        background = 40 if i < 20 else 200  # a hard cut at 2 s
        results.append(session.process(frame({"red": 60}, background), t=i / 10))
    before, after = results[15].faces[0], results[35].faces[0]
    assert before.track_id != after.track_id and before.person_id == after.person_id == 1
    summaries = summarize_tracks(results)
    persons = summarize_persons(summaries, session.persons.track_persons())
    assert len(persons) == 1 and persons[0]["tracks"] == [before.track_id, after.track_id]
    assert persons[0]["gender"] == "male" and persons[0]["frames"] == sum(
        s.frames for s in summaries
    )


FRONTAL = ((40.0, 40.0), (60.0, 40.0), (50.0, 52.0), (50.0, 62.0), (30.0, 45.0), (70.0, 45.0))
PROFILE = ((40.0, 40.0), (50.0, 40.0), (58.0, 52.0), (52.0, 62.0), (30.0, 45.0), (70.0, 45.0))


def _detected(keypoints=FRONTAL, score=0.9, side=60.0, track_id=1) -> Face:
    return Face((20.0, 20.0, 20.0 + side, 20.0 + side), score, keypoints, 30.0, (25.0, 35.0),
                {}, {}, track_id=track_id)  # fmt: skip


def test_only_confident_large_frontal_faces_are_sampled():
    from faceattrs.video.persons import embeddable

    assert embeddable(_detected())
    assert not embeddable(_detected(PROFILE))
    assert not embeddable(_detected(score=0.5))
    assert not embeddable(_detected(side=30.0))
    registry = PersonRegistry(threshold=0.5)
    frontal = _detected(track_id=2)
    registry.observe(1, np.array([1.0, 0, 0]), 0.0, _detected(PROFILE))  # a fallback sample
    registry.observe(2, np.array([0, 1.0, 0]), 0.0, frontal)
    # the frontal track's next sample waits 0.3 s; the profile one may take two more
    # fallback samples, and takes none once it has a frontal sample
    assert registry.wanted([_detected(PROFILE), frontal], 0.2) == [0]
    assert registry.wanted([_detected(PROFILE), frontal], 0.3) == [0, 1]
    registry.observe(1, np.array([1.0, 0, 0]), 0.3, _detected())
    assert registry.wanted([_detected(PROFILE), frontal], 0.3) == [1]


def _turned(yaw: float, track_id: int = 1) -> Face:
    """A detected face whose nose tip is ``yaw`` eye distances off the eyes' midpoint."""
    keypoints = ((40.0, 40.0), (60.0, 40.0), (50.0 + 20.0 * yaw, 52.0), *FRONTAL[3:])
    return _detected(keypoints, track_id=track_id)


def test_tracks_never_embeddable_keep_their_least_turned_faces_for_regroup():
    from faceattrs.video.persons import FALLBACK_SAMPLES, yaw_offset

    assert yaw_offset(_turned(0.8)) == pytest.approx(0.8)
    registry = PersonRegistry(threshold=0.5)
    a, b = np.array([1.0, 0, 0], np.float32), np.array([0, 1.0, 0], np.float32)
    registry.wanted([_detected(track_id=1)], 0.0)
    registry.observe(1, a, 0.0, _detected(track_id=1))  # person 1, frontal
    offered = [0.9, 0.8, 0.7, 0.88, 0.5, 1.2]
    embedded = []
    for i, yaw in enumerate(offered):  # track 2: in profile all along, later alone
        face = _turned(yaw, track_id=2)
        if registry.wanted([face], 5.0 + i) == [0]:
            embedded.append(yaw)
            assert registry.observe(2, a + 0.02 * (yaw > 0.6), 5.0 + i, face) is None
    assert embedded == [0.9, 0.8, 0.7, 0.5]  # 0.88: not 0.05 better than the worst kept
    assert len(registry._samples[2].fallback) == FALLBACK_SAMPLES
    assert registry.track_persons() == {1: 1}  # fallback samples assign no person live
    registry.wanted([_turned(0.9, track_id=3)], 20.0)
    registry.observe(3, b, 20.0, _turned(0.9, track_id=3))  # someone else, in profile
    persons = registry.regroup()
    assert persons[2] == persons[1] and persons[3] != persons[1]


def test_regroup_clusters_whole_tracks_and_keeps_faces_of_one_frame_apart():
    registry = PersonRegistry(threshold=0.5)
    a, b = np.array([1.0, 0, 0], np.float32), np.array([0, 1.0, 0], np.float32)
    registry.wanted([_detected(track_id=1), _detected(track_id=2)], 0.0)  # seen together
    registry.observe(1, a, 0.0)
    registry.observe(2, a + 0.05, 0.0)  # alike, but in the same frame: someone else
    registry.wanted([_detected(track_id=3)], 5.0)
    registry.observe(3, b, 5.0)
    registry.wanted([_detected(track_id=4)], 9.0)
    registry.observe(4, a + 0.02, 9.0)
    persons = registry.regroup()
    assert persons[1] != persons[2] and persons[3] not in (persons[1], persons[2])
    assert persons[4] in (persons[1], persons[2])
    assert sorted(set(persons.values())) == [1, 2, 3]


def test_relabel_timeline_uses_the_final_grouping(tmp_path):
    import json

    from faceattrs.video.persons import relabel_timeline

    timeline = tmp_path / "t.jsonl"
    faces = [{"track_id": 2, "person_id": 5}, {"track_id": 7, "person_id": 1}, {}]
    timeline.write_text(json.dumps({"frame": 0, "faces": faces}) + "\n")
    relabel_timeline(timeline, {2: 1})
    assert json.loads(timeline.read_text())["faces"] == [
        {"track_id": 2, "person_id": 1}, {"track_id": 7}, {}
    ]  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]


def test_fallback_embeddings_per_track_are_capped():
    from faceattrs.video.persons import FALLBACK_TRIES

    registry = PersonRegistry(threshold=0.5)
    tried = 0
    for i in range(50):  # turning ever more to the front, but never embeddable
        face = _turned(2.0 - 0.1 * i if i < 17 else 0.4, track_id=1)
        if registry.wanted([face], i / 10) == [0]:
            tried += 1
            registry.observe(1, np.array([1.0, 0, 0]), i / 10, face)
    assert tried == FALLBACK_TRIES


def test_a_persons_expression_shares_weigh_its_tracks_by_frames():
    from faceattrs.video.process import TrackSummary

    def track(track_id, frames, shares):
        return TrackSummary(track_id, 0.0, 1.0, frames, 30.0, (25.0, 35.0), {"male": 1.0},
                            {"white": 1.0}, shares)  # fmt: skip

    tracks = [track(1, 30, {"happy": 1.0, "sad": 0.0}), track(2, 10, {"happy": 0.0, "sad": 1.0}),
              track(3, 5, None)]  # fmt: skip
    persons = summarize_persons(tracks, {1: 1, 2: 1, 3: 2})
    assert persons[0]["expression_shares"] == {"happy": 0.75, "sad": 0.25}
    assert "expression_shares" not in persons[1]  # the head did not run for that track
