"""The in-browser camera's fast path (camera_memory.js CameraMemory) and its frame loop
(inbrowser/live.js) in headless Chromium, on frames of the shared test clip.

The fast path is a camera-only trade-off (README, "In-browser camera"): one full-range pass
at the pyramid's finest level instead of three, between full passes a look only around the
faces of the frame before, and check verdicts kept while a face stays in view. Its first
frame is compared with the same rule run by the Python detector (only its finest level), to
the in-browser parity tolerances of test_inbrowser.py.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from test_inbrowser import MIN_IOU, iou

from conftest import clip_frames

MAX_SCORE_DIFF = 0.01
FRAMES = (0, 10, 20, 40, 60)  # clip frames with one or two faces, some of them unsure

# An RGBA image of a PNG data URL, as the camera grab makes it (toImageData).
LOAD = """async (url) => {
  const m = await import('./inbrowser/analyzer.js');
  const bitmap = await createImageBitmap(await (await fetch(url)).blob());
  return m.toImageData(bitmap, bitmap.width, bitmap.height);
}"""
DETECTOR = """async () => {
  const m = await import('./inbrowser/analyzer.js');
  globalThis.detector = (await m.createAnalyzer()).detector;
}"""


@pytest.fixture(scope="module")
def frames(shared_dir) -> list[np.ndarray]:
    frames = clip_frames(max(FRAMES) + 1)
    return [frames[i] for i in FRAMES]


def data_url(bgr: np.ndarray) -> str:
    import cv2

    ok, png = cv2.imencode(".png", bgr)
    assert ok
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()


def finest_level_only(detector):
    """The Python detector restricted to the fast path's one pass (its finest level)."""
    levels = detector.scales
    detector.scales = lambda height, width: levels(height, width)[-1:]
    return detector


def test_camera_fast_path_is_the_finest_pyramid_level(static_page, frames):
    """A fresh camera's first frame: the JS fast path finds what Python's detector finds
    with only its finest pyramid level (same faces, boxes and scores) in one full-range
    pass on the whole frame (the full path runs three), and here no face that the full
    path lacks."""
    from faceattrs.pipeline.detection import FaceDetector

    # the fast path's one pass goes without the border the full path puts around it
    fast_python = finest_level_only(FaceDetector("full", threads=1, edge_margin=0))
    full_python = FaceDetector("full", threads=1)
    found = 0
    static_page.evaluate(DETECTOR)
    for bgr in frames:
        got = static_page.evaluate(
            f"""async (url) => {{
                const image = await ({LOAD})(url);
                const {{ CameraMemory }} = await import('./inbrowser/camera_memory.js');
                const detector = globalThis.detector;
                const shapes = [];
                const run = detector.session.run.bind(detector.session);
                detector.session.run = (feeds) => {{
                    shapes.push(Object.values(feeds)[0].dims.join('x'));
                    return run(feeds);
                }};
                const faces = await detector.detect(image, {{ camera: new CameraMemory() }});
                detector.session.run = run;
                return {{ faces, shapes }};
            }}""",
            data_url(bgr),
        )
        expected = fast_python.detect(bgr)
        assert len(got["faces"]) == len(expected)
        for face, box, score in zip(got["faces"], expected.xyxy, expected.scores, strict=True):
            assert iou(face["xyxy"], box) >= MIN_IOU
            assert abs(face["score"] - float(score)) <= MAX_SCORE_DIFF
        # the full-range model ran once on the whole frame (the 320x256 finest level of a
        # 640x360 frame), then only on crops for the check (192x192)
        assert got["shapes"][0] == "1x3x192x320"
        assert all(shape.endswith("x3x192x192") for shape in got["shapes"][1:])
        full = full_python.detect(bgr)
        assert all(max(iou(b, f) for f in full.xyxy) >= 0.5 for b in expected.xyxy)
        found += len(expected)
    assert found >= len(frames) // 2  # the frames have faces


def test_camera_memory_keeps_check_verdicts_while_a_face_stays(static_page, frames):
    """The same frame twice to one camera: the second time its unsure faces keep the
    check's verdicts (the same faces, fewer model passes); after RECHECK_FRAMES frames
    they are checked again."""
    result = static_page.evaluate(
        f"""async (urls) => {{
            const m = await import('./inbrowser/analyzer.js');
            const {{ CameraMemory }} = await import('./inbrowser/camera_memory.js');
            const detector = (await m.createAnalyzer()).detector;
            let runs = 0;
            for (const session of [detector.session, detector.helpers.short.session]) {{
                const run = session.run.bind(session);
                session.run = (feeds) => {{ runs += 1; return run(feeds); }};
            }}
            const out = [];
            for (const url of urls) {{
                const image = await ({LOAD})(url);
                const camera = new CameraMemory({{ fullEvery: 1 }}); // a full pass every frame
                const calls = [];
                for (let i = 0; i < 17; i += 1) {{
                    runs = 0;
                    const faces = await detector.detect(image, {{ camera }});
                    calls.push({{ runs, boxes: faces.map((f) => f.xyxy) }});
                }}
                out.push({{ calls, verdicts: camera.verdicts.length }});
            }}
            return out;
        }}""",
        [data_url(bgr) for bgr in frames],
    )
    reused = 0
    for frame in result:
        calls = frame["calls"]
        assert all(c["boxes"] == calls[0]["boxes"] for c in calls)
        if frame["verdicts"]:  # an unsure face was checked
            assert calls[1]["runs"] < calls[0]["runs"]
            assert max(c["runs"] for c in calls[1:15]) < calls[0]["runs"]
            assert calls[15]["runs"] == calls[0]["runs"]  # RECHECK_FRAMES later: again
            reused += 1
    assert reused, "the clip frames have unsure faces"


def test_camera_looks_around_known_faces_between_full_passes(static_page, shared_dir):
    """Between full passes (every ``fullEvery``-th frame of a camera) the fast path runs
    the models only on small regions around the faces of the frame before (none when there
    was none), never on the whole frame, and finds there the confident faces a full pass
    finds in the same frame."""
    clip = clip_frames(11)
    grey = np.full_like(clip[0], 128)  # no face: the looks find none, then look nowhere
    consecutive = clip[:6] + [grey] * 3 + clip[6:]
    result = static_page.evaluate(
        f"""async (urls) => {{
            const {{ CameraMemory }} = await import('./inbrowser/camera_memory.js');
            const m = await import('./inbrowser/analyzer.js');
            const detector = (await m.createAnalyzer()).detector;
            const sessions = [detector.session, detector.helpers.short.session];
            const runs = sessions.map((s) => s.run.bind(s));
            let shapes = [];
            sessions.forEach((s, i) => {{
                s.run = (feeds) => {{
                    shapes.push(Object.values(feeds)[0].dims.join('x'));
                    return runs[i](feeds);
                }};
            }});
            const camera = new CameraMemory();
            const out = [];
            for (const url of urls) {{
                const image = await ({LOAD})(url);
                shapes = [];
                const faces = await detector.detect(image, {{ camera }});
                const seen = shapes;
                shapes = [];
                const full = await detector.detect(image, {{ camera: new CameraMemory() }});
                out.push({{ shapes: seen, faces, full }});
            }}
            return {{ out, fullEvery: camera.fullEvery }};
        }}""",
        [data_url(bgr) for bgr in consecutive],
    )
    every = result["fullEvery"]
    assert every > 1
    full_pixels = 320 * 192  # the full pass's input: the frame at half size, on the 32 px grid
    confident = regions = since = nowhere = 0
    for i, frame in enumerate(result["out"]):
        before = result["out"][i - 1]["faces"] if i else []
        # the first frame, every fullEvery-th and one after more than two faces: full passes
        looks = i > 0 and since + 1 < every and len(before) * 128 * 128 <= full_pixels / 2
        if not looks:  # a full pass
            assert frame["shapes"][0] == "1x3x192x320"
            since = 0
            continue
        since += 1
        if not before:  # no face to look around: no model runs, no face
            assert frame["shapes"] == [] and frame["faces"] == []
            nowhere += 1
            continue
        regions += 1
        # regions of 128x128 (and the check's crops of 192x192): never the whole frame
        sizes = [tuple(int(v) for v in s.split("x")[2:]) for s in frame["shapes"]]
        assert sizes and all(size in {(128, 128), (192, 192)} for size in sizes)
        for face in frame["full"]:
            if face["score"] >= 0.7:
                confident += 1
                assert max(iou(face["xyxy"], f["xyxy"]) for f in frame["faces"]) >= 0.5
    assert regions >= 4 and confident >= 3 and nowhere >= 1  # faces to follow, then none


def test_live_camera_describes_a_track_at_most_every_tenth_of_a_second(static_page, frames):
    """live.js (session.py's camera rule): a tracked face is described (attributes model)
    at most every 0.1 s; between, it keeps its track's smoothed attributes and its id."""
    result = static_page.evaluate(
        f"""async (url) => {{
            const image = await ({LOAD})(url);
            const m = await import('./inbrowser/analyzer.js');
            const {{ LiveCamera }} = await import('./inbrowser/live.js');
            const analyzer = await m.createAnalyzer();
            const live = new LiveCamera(analyzer);
            let described = 0;
            const predict = analyzer.model.predict.bind(analyzer.model);
            analyzer.model.predict = (crops) => {{
                described += crops.length;
                return predict(crops);
            }};
            const out = [];
            for (const t of [10.0, 10.04, 10.08, 10.1, 10.13, 10.25]) {{
                described = 0;
                const result = await live.frame(image, t);
                out.push({{ described, faces: result.faces }});
            }}
            return out;
        }}""",
        data_url(frames[0]),
    )
    count = len(result[0]["faces"])
    assert count >= 1
    assert [r["described"] for r in result] == [count, 0, 0, count, 0, count]
    ids = [f["track_id"] for f in result[0]["faces"]]
    for r in result:
        assert [f["track_id"] for f in r["faces"]] == ids
        for face in r["faces"]:
            assert face["age"] > 0 and abs(sum(face["race_probs"].values()) - 1) < 1e-6
    # not described at 10.04: the track's attributes as they were at 10.0
    assert result[1]["faces"][0]["age"] == result[0]["faces"][0]["age"]


def test_live_camera_describes_known_tracks_in_the_worker(static_page, frames):
    """With a HeadsWorker (what the page's camera uses), a new track is described on the
    page at once and a known track's later descriptions (at most every 0.1 s, one batch in
    flight) go to the worker, whose alignment and heads give the page's own numbers."""
    result = static_page.evaluate(
        f"""async (url) => {{
            const image = await ({LOAD})(url);
            const m = await import('./inbrowser/analyzer.js');
            const {{ CameraMemory }} = await import('./inbrowser/camera_memory.js');
            const {{ LiveCamera, HeadsWorker }} = await import('./inbrowser/live.js');
            const analyzer = await m.createAnalyzer();
            const heads = await HeadsWorker.start();
            let here = 0;
            let aside = 0;
            const answers = [];
            const predict = analyzer.model.predict.bind(analyzer.model);
            analyzer.model.predict = (crops) => {{
                here += crops.length;
                return predict(crops);
            }};
            const predictAside = heads.predict.bind(heads);
            heads.predict = (img, keypoints) => {{
                aside += keypoints.length;
                const answer = predictAside(img, keypoints);
                answer.then((r) => answers.push(r));
                return answer;
            }};
            const live = new LiveCamera(analyzer, {{ heads }});
            live.memory = new CameraMemory({{ fullEvery: 1 }}); // the faces a full pass finds
            const out = [];
            for (const t of [10.0, 10.04, 10.1, 10.13, 10.25]) {{
                here = 0;
                aside = 0;
                const result = await live.frame(image, t);
                out.push({{ here, aside, faces: result.faces }});
                await new Promise((resolve) => setTimeout(resolve, 500)); // the worker answers
            }}
            heads.terminate();
            analyzer.model.predict = predict;
            const direct = await analyzer.analyze(image, {{ camera: new CameraMemory() }});
            return {{ out, answers, direct: direct.faces }};
        }}""",
        data_url(frames[0]),
    )
    out = result["out"]
    count = len(out[0]["faces"])
    assert count >= 1
    assert [r["here"] for r in out] == [count, 0, 0, 0, 0]
    assert [r["aside"] for r in out] == [0, 0, count, 0, count]
    for r in out:
        for face in r["faces"]:
            assert face["age"] > 0 and abs(sum(face["expression_probs"].values()) - 1) < 1e-6
    assert len(result["answers"]) == 2
    for answer in result["answers"]:
        for got, face in zip(answer["attributes"], result["direct"], strict=True):
            assert abs(got["age"] - face["age"]) < 1e-3
            for label, p in face["gender_probs"].items():
                assert abs(got["gender_probs"][label] - p) < 1e-4
            for label, p in face["race_probs"].items():
                assert abs(got["race_probs"][label] - p) < 1e-4
        for got, face in zip(answer["expressions"], result["direct"], strict=True):
            for label, p in face["expression_probs"].items():
                assert abs(got["expression_probs"][label] - p) < 1e-4


def test_live_camera_joins_persons_with_the_workers_embeddings(static_page, frames):
    """The heads' worker embeds faces as the page does (embedding.js, within 1e-4; the same
    threshold), and a LiveCamera whose persons use it (the page's camera) gives a face seen
    again after its track ended its person id back, from a few embeddings per track."""
    result = static_page.evaluate(
        f"""async (url) => {{
            const image = await ({LOAD})(url);
            const m = await import('./inbrowser/analyzer.js');
            const {{ loadEmbeddingModel }} = await import('./inbrowser/embedding.js');
            const {{ LiveCamera, HeadsWorker }} = await import('./inbrowser/live.js');
            const analyzer = await m.createAnalyzer();
            const heads = await HeadsWorker.start();
            const aside = await heads.embedder();
            const here = await loadEmbeddingModel();
            const {{ faces: found }} = await analyzer.analyze(image);
            const faces = found.map((f) => ({{ keypoints: f.keypoints }}));
            const fromWorker = (await aside.embed(image, faces)).map((v) => Array.from(v));
            const fromPage = (await here.embed(image, faces)).map((v) => Array.from(v));
            let embedded = 0;
            const embed = aside.embed;
            aside.embed = (img, list) => {{
                embedded += list.length;
                return embed(img, list);
            }};
            const {{ CameraMemory }} = await import('./inbrowser/camera_memory.js');
            const live = new LiveCamera(analyzer, {{ heads }});
            // a full pass every frame: the same boxes each time, so the count below is the
            // persons' rule alone (regions move a face's keypoints, and its fallback samples)
            live.memory = new CameraMemory({{ fullEvery: 1 }});
            live.usePersons(aside);
            const out = [];
            for (const t of [10.0, 10.5, 11.1, 11.5, 12.2, 12.5, 30.0, 30.5, 31.1]) {{
                const result = await live.frame(image, t);
                out.push({{ t, faces: result.faces.map((f) => [f.track_id, f.person_id]) }});
                await new Promise((resolve) => setTimeout(resolve, 1000)); // the worker answers
            }}
            heads.terminate();
            return {{ out, embedded, fromWorker, fromPage,
                      thresholds: [aside.threshold, here.threshold] }};
        }}""",
        data_url(frames[0]),
    )
    assert result["thresholds"][0] == result["thresholds"][1]
    worker, page = np.asarray(result["fromWorker"]), np.asarray(result["fromPage"])
    assert worker.shape == page.shape and len(worker) >= 1
    assert np.abs(worker - page).max() < 1e-4
    out = result["out"]
    first, back = out[1]["faces"], out[7]["faces"]  # after the worker's first answers
    assert first and len(first) == len(back)
    identified = [person for _, person in first if person is not None]
    assert identified  # the frontal, confident face
    assert {t for t, _ in back}.isdisjoint({t for t, _ in first})  # the tracks ended at the gap
    assert sorted(p for _, p in back if p is not None) == sorted(identified)  # the same persons
    assert result["embedded"] <= 2 * 3 * len(first)


def test_heads_worker_that_cannot_start_or_fails_says_so(static_page):
    """HeadsWorker.start rejects (the camera then describes on the page) when the worker
    cannot run, and a worker that failed later refuses every question at once, instead of
    leaving the camera waiting."""
    messages = static_page.evaluate(
        """async () => {
            const { HeadsWorker } = await import('./inbrowser/live.js');
            const said = (promise) => promise.then(() => null, (e) => String(e.message || e));
            const start = await said(
                HeadsWorker.start(new URL('./inbrowser/no_such_worker.js', location.href)));
            const heads = await HeadsWorker.start();
            heads.worker.onerror({ message: 'the worker crashed' });
            const pixel = { width: 1, height: 1, data: [0, 0, 0, 0] };
            const later = await said(heads.predict(pixel, []));
            heads.terminate();
            return [start, later];
        }"""
    )
    assert messages[0]
    assert messages[1] == "the worker crashed"


def test_live_camera_keeps_the_person_when_a_face_comes_back(static_page, frames):
    """With the embedding model (usePersons), a face seen again after its track ended (a new
    track id) gets its person id back, and only a few embeddings per track are computed."""
    result = static_page.evaluate(
        f"""async (url) => {{
            const image = await ({LOAD})(url);
            const m = await import('./inbrowser/analyzer.js');
            const {{ loadEmbeddingModel }} = await import('./inbrowser/embedding.js');
            const {{ LiveCamera }} = await import('./inbrowser/live.js');
            const live = new LiveCamera(await m.createAnalyzer());
            const embedder = await loadEmbeddingModel();
            let embedded = 0;
            const embed = embedder.embed.bind(embedder);
            embedder.embed = (img, faces) => {{
                embedded += faces.length;
                return embed(img, faces);
            }};
            live.usePersons(embedder);
            const out = [];
            for (const t of [10.0, 10.5, 11.1, 11.5, 12.2, 12.5, 30.0, 30.5]) {{
                const result = await live.frame(image, t);
                out.push({{ t, faces: result.faces.map((f) => [f.track_id, f.person_id]) }});
            }}
            return {{ out, embedded }};
        }}""",
        data_url(frames[0]),
    )
    first, back = result["out"][0]["faces"], result["out"][6]["faces"]
    assert first and len(first) == len(back)
    identified = [person for _, person in first if person is not None]
    assert identified  # the frontal, confident face; an unsure one gets no live person
    assert {t for t, _ in back}.isdisjoint({t for t, _ in first})  # the tracks ended at the gap
    assert sorted(p for _, p in back if p is not None) == sorted(identified)  # the same persons
    # three samples per track at most (1 s apart), the same for the tracks after the gap
    assert result["embedded"] <= 2 * 3 * len(first)
