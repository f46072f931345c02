"""Re-identification with the real embedding model on ../shared/media/facenet_pytorch/video.mp4.

What the clip shows, read off its frames (see also test_video's WALKERS): a woman with
curly hair and a red coat looks at the camera (face centre near (881, 648) at frame 1),
turns away, and looks back (near (945, 705) at frame 104): one person, two tracks. The
four walkers of test_video are four different people.
"""

from __future__ import annotations

import json

import pytest
from test_video import WALKERS

CURLY = {1: (881, 648), 104: (945, 705)}

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_reid_joins_a_person_who_turns_away_and_merges_no_walkers(shared_dir, tmp_path):
    from faceattrs.video.process import process_video

    source = shared_dir / "media" / "facenet_pytorch" / "video.mp4"
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

    curly = [track_near(i, *xy) for i, xy in CURLY.items()]
    assert all(curly) and curly[0] != curly[1]
    assert person_of[curly[0]] is not None and person_of[curly[0]] == person_of[curly[1]]
    walkers = []
    for anchors in WALKERS.values():
        index, (x, y) = next(iter(anchors.items()))
        walkers.append(person_of.get(track_near(index, x, y)))
    assert None not in walkers and len(set(walkers)) == len(WALKERS)
    for person in summary["persons"]:
        spans = sorted((t["first_time"], t["last_time"]) for t in summary["tracks"]
                       if t["track_id"] in person["tracks"])  # fmt: skip
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
