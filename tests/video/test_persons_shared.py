"""Re-identification with the real embedding model on the shared clips.

facenet_pytorch/video.mp4, read off its frames (see also test_video's WALKERS): a woman with
curly hair and a red coat looks at the camera (face centre near (881, 648) at frame 1),
turns away, and looks back (near (945, 705) at frame 104): one person, two tracks. A
grey-haired man in side view at the right edge (near (1492, 560) at frame 0, (1567, 576) at
frame 2) is one person whose track breaks after the first frame. The four walkers of
test_video are four different people. Behind them, a white-haired man in a dark jacket
(near (1102, 640) at frame 0) is hidden by the walkers from frame 26 and seen again from
frame 57 (near (1112, 711)) and, after a man with glasses passes in front of him (the man
with glasses near (1158, 722) at frame 50 and (1202, 723) at frame 100), near (1138, 703) at
frame 100. Eight people in all, counted by eye on a contact sheet of every track's faces
(five crops along each track) and on frames 0, 25, 50, 75 and 100.

face_recognition/short_hamilton_clip.mp4 (4 shots, cuts after frames 19, 81, 210), counted by
eye on contact sheets of every track's largest face and on frames of each shot: the singer
(Lin-Manuel Miranda) on stage in shots 1 and 3; the pianist (Alex Lacamoire: curly hair,
beard, light-blue shirt, as in face_recognition/alex_lacamoire1.jpg) small at the piano in
shot 1 and in profile close-up in shot 2; in shot 4 Michelle Obama, a woman beside her,
Barack Obama and a woman in front: 6 people with detected faces (an audience face in shot 1
is never detected).
"""

from __future__ import annotations

import json

import pytest

from clip_anchors import CURLY, GLASSES, GREY_SIDE_VIEW, WALKERS, WHITE_HAIRED_MAN

SINGER = {5: (545, 72), 150: (249, 85)}
PIANIST = {10: (65, 204), 30: (341, 226)}
SHOT_4 = {240: [(403, 136), (74, 95), (343, 91), (183, 139)]}

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def _run(shared_dir, tmp_path, name: str):
    """(summary, track_near(frame, x, y) -> track id, person_of track id)."""
    from faceattrs.video.process import process_video

    source = shared_dir / "media" / name
    if not source.is_file():
        pytest.skip(f"{source} not found")
    timeline = tmp_path / "t.jsonl"
    summary = process_video(source, timeline_out=timeline, persons=True)
    frames = [json.loads(line) for line in timeline.read_text().splitlines()]
    person_of = {t["track_id"]: t["person_id"] for t in summary["tracks"]}

    def track_near(index: int, x: float, y: float) -> int | None:
        for face in frames[index]["faces"]:
            x1, y1, x2, y2 = face["box"]
            if abs((x1 + x2) / 2 - x) < (x2 - x1) / 2 and abs((y1 + y2) / 2 - y) < (x2 - x1) / 2:
                return face["track_id"]
        return None

    return summary, track_near, person_of


def _one_person_in_two_tracks(track_near, person_of, anchors: dict) -> int:
    tracks = [track_near(i, *xy) for i, xy in anchors.items()]
    assert all(tracks) and tracks[0] != tracks[1]
    assert person_of[tracks[0]] is not None and person_of[tracks[0]] == person_of[tracks[1]]
    return person_of[tracks[0]]


def test_reid_joins_a_person_who_turns_away_and_merges_no_walkers(shared_dir, tmp_path):
    summary, track_near, person_of = _run(shared_dir, tmp_path, "facenet_pytorch/video.mp4")
    curly = _one_person_in_two_tracks(track_near, person_of, CURLY)
    grey = _one_person_in_two_tracks(track_near, person_of, GREY_SIDE_VIEW)  # never frontal
    assert curly != grey
    walkers = []
    for anchors in WALKERS.values():
        index, (x, y) = next(iter(anchors.items()))
        walkers.append(person_of.get(track_near(index, x, y)))
    assert None not in walkers and len(set(walkers)) == len(WALKERS)
    # the man hidden behind the walkers and then behind the man with glasses: one person, and
    # no track of his is ever on the man with glasses (the tracker hands no face over)
    white = {person_of[track_near(i, *xy)] for i, xy in WHITE_HAIRED_MAN.items()}
    glasses = {person_of[track_near(i, *xy)] for i, xy in GLASSES.items()}
    assert len(white) == 1 and len(glasses) == 1 and not white & glasses
    assert len({curly, grey, *walkers, *white, *glasses}) == 8  # no one merged
    assert len(summary["persons"]) == 8  # as counted by eye
    for person in summary["persons"]:
        spans = sorted((t["first_time"], t["last_time"]) for t in summary["tracks"]
                       if t["track_id"] in person["tracks"])  # fmt: skip
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_reid_counts_the_people_of_the_hamilton_clip(shared_dir, tmp_path):
    name = "face_recognition/short_hamilton_clip.mp4"
    summary, track_near, person_of = _run(shared_dir, tmp_path, name)
    singer = _one_person_in_two_tracks(track_near, person_of, SINGER)
    pianist = _one_person_in_two_tracks(track_near, person_of, PIANIST)  # never frontal
    audience = [person_of.get(track_near(i, *xy)) for i, xys in SHOT_4.items() for xy in xys]
    assert None not in audience and len({singer, pianist, *audience}) == 6  # no one merged
    assert len(summary["persons"]) == 6  # as counted by eye
