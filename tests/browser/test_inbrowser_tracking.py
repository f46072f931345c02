"""The page's tracker (inbrowser/tracking.js) gives the ids faceattrs/video/tracking.py
gives (FaceTracker with min_hits=1, the camera's, and 3, the video walk's and tracking.py's
default), frame by frame, on scripted
scenes that exercise its rules: motion prediction, the centre-distance fallback (fast faces,
low frame rates) and its limit for tracks lost a while, a face that two tracks could claim
(one person hiding another), second detections of a tracked face, tracks ending after
max_lost_s, and a scene cut."""

from __future__ import annotations

import numpy as np
import pytest

FRAMES = 150  # at 25 fps, then as many again at 5 fps after a cut


def scene(seed: int) -> list[dict]:
    """Per frame: time, cut (bool) and boxes; people walk, cross, hide one another, are
    missed now and then, and are sometimes detected twice."""
    rng = np.random.default_rng(seed)
    people = [
        {
            "xy": rng.uniform([50, 50], [590, 310]),
            "v": rng.uniform(-240, 240, 2),
            "size": rng.uniform(30, 110),
            "away": rng.uniform(0.5, 5.5, 2).tolist(),  # out of view between these seconds
        }
        for _ in range(5)
    ]
    # two of them walk into one another: the faster one ends in front of the other
    people[0].update(xy=np.array([100.0, 180.0]), v=np.array([160.0, 0.0]), size=70.0)
    people[1].update(xy=np.array([420.0, 185.0]), v=np.array([-20.0, 0.0]), size=64.0)
    frames, t = [], 0.0
    for i in range(2 * FRAMES):
        dt = 0.04 if i < FRAMES else 0.2
        boxes = []
        for person in people:
            person["xy"] = person["xy"] + person["v"] * dt
            for k in (0, 1):  # bounce off the frame's edges
                if not 0 < person["xy"][k] < (640, 360)[k]:
                    person["v"][k] *= -1
            start, end = sorted(person["away"])
            if start <= t % 6 < end or rng.random() < 0.1:
                continue
            x, y = person["xy"] + rng.normal(0, 2, 2)
            half = person["size"] / 2
            boxes.append([x - half, y - half, x + half, y + half])
            if rng.random() < 0.05:  # a second detection of the same face
                shift = 0.35 * person["size"]
                boxes.append([x - half + shift, y - half, x + half + shift, y + half])
        kept = []
        for box in boxes:  # a face hidden behind a larger one is not detected
            if not any(_iou(box, other) > 0.3 and _side(other) > _side(box) for other in boxes):
                kept.append(box)
        frames.append({"t": t, "cut": i == FRAMES, "boxes": kept})
        t += dt
    return frames


def _side(box) -> float:
    return box[2] - box[0]


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = _side(a) * (a[3] - a[1]) + _side(b) * (b[3] - b[1]) - w * h
    return w * h / union


def python_ids(frames: list[dict], min_hits: int) -> list[list[int | None]]:
    from faceattrs.results import Face
    from faceattrs.video.tracking import FaceTracker

    tracker = FaceTracker(min_hits=min_hits)
    out = []
    for frame in frames:
        if frame["cut"]:
            tracker.reset()
        faces = [
            Face(tuple(box), 0.9, (), 30.0, (25.0, 35.0), {"male": 0.5, "female": 0.5}, {})
            for box in frame["boxes"]
        ]
        tracked = {f.xyxy: f.track_id for f in tracker.update(faces, frame["t"])}
        out.append([tracked.get(f.xyxy) for f in faces])
    return out


@pytest.mark.parametrize("min_hits", [1, 3])
def test_page_tracker_gives_the_ids_of_tracking_py(static_page, min_hits):
    for seed in (0, 1, 2):
        frames = scene(seed)
        expected = python_ids(frames, min_hits)
        got = static_page.evaluate(
            """async ([frames, minHits]) => {
                const m = await import('./inbrowser/tracking.js');
                const tracker = new m.FaceTracker({ minHits });
                return frames.map((frame) => {
                    if (frame.cut) tracker.cut();
                    return tracker.assign(frame.boxes, frame.t);
                });
            }""",
            [frames, min_hits],
        )
        assert got == expected, (seed, min_hits)
        flat = [i for ids in expected for i in ids]
        # the scenes exercise the rules: second detections dropped, tracks ended and new ones
        assert None in flat and len(set(flat) - {None}) > 10, seed
