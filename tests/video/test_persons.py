"""Re-identification: tracks joined into persons by face embedding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceattrs.results import Face
from faceattrs.video.persons import TrackPersons, add_person_ids, person_summaries, yaw
from faceattrs.video.tracking import FrameResult

FRONTAL = ((40.0, 40.0), (60.0, 40.0), (50.0, 52.0), (50.0, 62.0), (30.0, 45.0), (70.0, 45.0))
PROFILE = ((40.0, 40.0), (50.0, 40.0), (58.0, 52.0), (52.0, 62.0), (30.0, 45.0), (70.0, 45.0))


class FakeEmbedder:
    """The embedding of a face is its track's identity vector (by the image's value)."""

    threshold = 0.4

    def __init__(self, identities: dict[int, np.ndarray]) -> None:
        self.identities = identities
        self.calls = 0

    def embed(self, bgr: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        self.calls += len(keypoints)
        return np.stack([self.identities[int(bgr[0, 0, 0])]] * len(keypoints))


def _face(track_id: int, keypoints=FRONTAL, score: float = 0.9) -> Face:
    return Face((20.0, 20.0, 80.0, 80.0), score, keypoints, 30.0, (25.0, 35.0),
                {"male": 0.5, "female": 0.5}, {"white": 1.0}, track_id=track_id)  # fmt: skip


def _frame(t: float, faces, person: int) -> tuple[np.ndarray, FrameResult]:
    return np.full((4, 4, 3), person, np.uint8), FrameResult(int(t * 10), t, tuple(faces))


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_tracks_of_one_person_are_joined_and_tracks_seen_together_are_not():
    embedder = FakeEmbedder({1: _unit(1), 2: _unit(2)})
    persons = TrackPersons(embedder, per_track=2, interval_s=0.5)
    for t in np.arange(0, 2, 0.1):  # person 1 as track 1, then (after a cut) as track 3
        persons.observe(*_frame(t, [_face(1)], 1))
    for t in np.arange(3, 4, 0.1):
        persons.observe(*_frame(t, [_face(3)], 1))
    for t in np.arange(0, 4, 0.1):  # person 2 throughout, track 2
        persons.observe(*_frame(t, [_face(2)], 2))
    assert embedder.calls == 6  # two samples per track, not one per frame
    mapping = persons.assign()
    assert mapping[1] == mapping[3] != mapping[2]


def test_overlapping_tracks_stay_apart_even_when_alike():
    persons = TrackPersons(FakeEmbedder({1: _unit(1)}))
    for t in np.arange(0, 1, 0.1):
        persons.observe(*_frame(t, [_face(1), _face(2)], 1))
    mapping = persons.assign()
    assert mapping[1] != mapping[2]


def test_turned_small_and_unsure_faces_are_not_embedded():
    embedder = FakeEmbedder({1: _unit(1)})
    persons = TrackPersons(embedder)
    persons.observe(*_frame(0.0, [_face(1, PROFILE), _face(2, score=0.3)], 1))
    assert embedder.calls == 0
    assert sorted(persons.assign().values()) == [1, 2]  # unsampled tracks: one person each
    assert yaw(np.asarray(FRONTAL)) < 0.1 < 0.5 < yaw(np.asarray(PROFILE))


def test_person_summaries_and_timeline_ids(tmp_path):
    tracks = [
        {"track_id": 1, "first_time": 0.0, "last_time": 1.0, "frames": 10, "age": 30.0,
         "gender_probs": {"male": 1.0, "female": 0.0}, "race_probs": {"white": 1.0}},
        {"track_id": 2, "first_time": 2.0, "last_time": 3.0, "frames": 30, "age": 40.0,
         "gender_probs": {"male": 0.0, "female": 1.0}, "race_probs": {"white": 1.0}},
    ]  # fmt: skip
    (person,) = person_summaries(tracks, {1: 1, 2: 1})
    assert person["tracks"] == [1, 2] and person["frames"] == 40 and person["age"] == 40.0
    assert person["gender"] == "female" and person["gender_probs"]["female"] == 0.75
    timeline = tmp_path / "t.jsonl"
    timeline.write_text(json.dumps({"frame": 0, "faces": [{"track_id": 2}, {}]}) + "\n")
    add_person_ids(timeline, {2: 1})
    assert json.loads(timeline.read_text())["faces"] == [{"track_id": 2, "person_id": 1}, {}]


# ../shared/media/facenet_pytorch/video.mp4, read off its frames (see also test_video's
# WALKERS): a woman with curly hair and a red coat looks at the camera (frames 0-20, face
# centre near (881, 648) at frame 1), turns away, and looks back (frames 99-104, near
# (945, 705) at frame 104): one person, two tracks. The four walkers of test_video are
# four different people.
CURLY = {1: (881, 648), 104: (945, 705)}


@pytest.mark.shared
@pytest.mark.slow
def test_reid_joins_a_person_who_turns_away_and_merges_no_walkers(shared_dir, tmp_path):
    from test_video import WALKERS

    from faceattrs.video.process import process_video

    source = shared_dir / "media" / "facenet_pytorch" / "video.mp4"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    timeline = tmp_path / "t.jsonl"
    summary = process_video(source, timeline_out=timeline, reid=True)
    frames = [json.loads(line) for line in timeline.read_text().splitlines()]

    def near(index: int, x: float, y: float) -> dict | None:
        for face in frames[index]["faces"]:
            x1, y1, x2, y2 = face["box"]
            if abs((x1 + x2) / 2 - x) < (x2 - x1) / 2 and abs((y1 + y2) / 2 - y) < (x2 - x1) / 2:
                return face
        return None

    curly = [near(i, *xy) for i, xy in CURLY.items()]
    assert all(curly) and curly[0]["track_id"] != curly[1]["track_id"]
    assert curly[0]["person_id"] == curly[1]["person_id"]
    walkers = []
    for anchors in WALKERS.values():
        index, (x, y) = next(iter(anchors.items()))
        walkers.append(near(index, x, y))
    assert all(walkers) and len({w["person_id"] for w in walkers}) == len(WALKERS)
    for person in summary["persons"]:
        spans = sorted((t["first_time"], t["last_time"]) for t in summary["tracks"]
                       if t["track_id"] in person["tracks"])  # fmt: skip
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
