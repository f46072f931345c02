"""The ``attributes`` option of the server (images, camera stream, video jobs): only the
heads asked for run, on the server's one analyzer, and the answers leave out the rest.

The analyzer is a real :class:`~faceattrs.FaceAnalyzer` whose detector and heads are
stand-ins that count their runs (``tests/fakes.py``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("multipart", reason="the serve extra (python-multipart) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from faceattrs import FaceAnalyzer  # noqa: E402
from faceattrs.server.app import create_app  # noqa: E402
from faceattrs.server.settings import ServerSettings  # noqa: E402
from fakes import AttributeHead, CentreDetector, ExpressionHead  # noqa: E402

IMAGES, VIDEOS, STREAM = "/api/v1/images", "/api/v1/videos", "/api/v1/stream"
AGE_FIELDS = {"age", "age_interval"}
GENDER_FIELDS = {"gender", "gender_probs"}
RACE_FIELDS = {"race", "race_probs"}
EXPRESSION_FIELDS = {"expression", "expression_probs"}


def jpeg(width: int = 160, height: int = 120) -> bytes:
    bgr = np.full((height, width, 3), 120, np.uint8)
    return cv2.imencode(".jpg", bgr)[1].tobytes()


@pytest.fixture()
def server(tmp_path):
    """(client, attribute head, expression head): one analyzer with both heads."""
    heads = AttributeHead(), ExpressionHead()
    analyzer = FaceAnalyzer(detector=CentreDetector(), model=heads[0], expression_model=heads[1])
    settings = ServerSettings(work_dir=str(tmp_path), allowed_hosts="testserver")
    with TestClient(create_app(settings, analyzer)) as client:
        yield client, *heads


def post_image(client, query: str = ""):
    return client.post(IMAGES + query, files={"files": ("a.jpg", jpeg())})


def fields(face: dict) -> set[str]:
    return set(face) - {"box", "score", "keypoints", "track_id", "person_id"}


def test_images_run_only_the_heads_asked_for(server):
    client, attributes, expression = server
    response = post_image(client, "?attributes=expression")
    assert response.status_code == 200, response.text
    (face,) = response.json()["images"][0]["faces"]
    assert fields(face) == EXPRESSION_FIELDS and face["expression"] == "happy"
    assert (attributes.calls, expression.calls) == (0, 1)

    (face,) = post_image(client, "?attributes=age,race").json()["images"][0]["faces"]
    assert fields(face) == AGE_FIELDS | RACE_FIELDS
    assert (attributes.calls, expression.calls) == (1, 1)

    (face,) = post_image(client).json()["images"][0]["faces"]  # default: every head
    assert fields(face) == AGE_FIELDS | GENDER_FIELDS | RACE_FIELDS | EXPRESSION_FIELDS
    assert (attributes.calls, expression.calls) == (2, 2)


def test_images_match_analyze_json_for_the_same_choice(server):
    client, *_ = server
    analyzer = client.app.state.analyzer
    bgr = cv2.imdecode(np.frombuffer(jpeg(), np.uint8), cv2.IMREAD_COLOR)
    expected = [f.to_dict() for f in analyzer.analyze(bgr, attributes="gender,expression")]
    got = post_image(client, "?attributes=expression,gender").json()["images"][0]["faces"]
    assert got == expected


@pytest.mark.parametrize(
    ("query", "words"),
    [("mood", ["mood", "choose from"]), ("age,,mood", ["mood"]), ("", ["no attributes"])],
)
def test_unknown_attributes_are_a_422_before_any_work(server, query, words):
    client, attributes, expression = server
    response = post_image(client, f"?attributes={query}")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_attributes"
    assert all(word in body["detail"] for word in words), body
    assert (attributes.calls, expression.calls) == (0, 0)


def test_a_head_the_server_did_not_load_is_a_422(tmp_path):
    analyzer = FaceAnalyzer(detector=CentreDetector(), model=AttributeHead(), attributes="age")
    settings = ServerSettings(work_dir=str(tmp_path), allowed_hosts="testserver")
    with TestClient(create_app(settings, analyzer)) as client:
        body = post_image(client, "?attributes=expression").json()
    assert body["error"] == "invalid_attributes" and "not available" in body["detail"]


def test_the_option_is_documented_in_the_openapi_schema(server):
    client, *_ = server
    paths = client.get("/openapi.json").json()["paths"]
    for path in (IMAGES, VIDEOS):
        (parameter,) = [p for p in paths[path]["post"]["parameters"] if p["name"] == "attributes"]
        assert parameter["in"] == "query" and not parameter.get("required")
        assert "age, gender, race, expression" in parameter["description"]


def test_health_lists_the_heads_a_client_may_choose(server):
    client, *_ = server
    assert client.get("/health").json()["attributes"] == ["age", "gender", "race", "expression"]


def test_the_analyzer_is_shared_not_rebuilt(server):
    client, *_ = server
    analyzer = client.app.state.analyzer
    post_image(client, "?attributes=age")
    post_image(client, "?attributes=expression")
    assert client.app.state.analyzer is analyzer


def test_camera_stream_takes_attributes_on_the_url_and_in_a_message(server):
    client, attributes, expression = server
    with client.websocket_connect(STREAM + "?attributes=age") as ws:
        ws.send_bytes(jpeg())
        (face,) = ws.receive_json()["faces"]
        assert fields(face) == AGE_FIELDS and expression.calls == 0
        ws.send_text(json.dumps({"attributes": "expression"}))
        assert ws.receive_json() == {"attributes": ["expression"]}
        calls = attributes.calls
        time.sleep(0.11)  # a track's attributes are described at most every 0.1 s
        ws.send_bytes(jpeg())
        (face,) = ws.receive_json()["faces"]
        assert EXPRESSION_FIELDS <= fields(face) and attributes.calls == calls
        ws.send_text(json.dumps({"attributes": "age,mood"}))
        reply = ws.receive_json()
        assert reply["error"] == "invalid_attributes" and "mood" in reply["detail"]
        ws.send_text(json.dumps({"attributes": None}))  # back to every head
        assert ws.receive_json() == {"attributes": ["age", "gender", "race", "expression"]}


def test_camera_stream_refuses_unknown_attributes_on_the_url(server):
    client, *_ = server
    with client.websocket_connect(STREAM + "?attributes=mood") as ws:
        reply = ws.receive_json()
    assert reply["error"] == "invalid_attributes"


def make_video(path: Path, frames: int = 8, size=(160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    for _ in range(frames):
        writer.write(np.full((size[1], size[0], 3), 120, np.uint8))
    writer.release()
    return path


def test_video_jobs_run_only_the_heads_asked_for(server, tmp_path):
    client, attributes, expression = server
    data = make_video(tmp_path / "clip.mp4").read_bytes()
    assert (
        client.post(VIDEOS + "?attributes=mood", files={"file": ("a.mp4", data)}).json()["error"]
        == "invalid_attributes"
    )
    job = client.post(VIDEOS + "?attributes=expression", files={"file": ("a.mp4", data)})
    assert job.status_code == 202, job.text
    assert job.json()["attributes"] == ["expression"]
    deadline = time.monotonic() + 60
    while (status := client.get(job.headers["location"]).json())["status"] not in (
        "done", "failed", "cancelled",
    ) and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.02)
    assert status["status"] == "done", status
    timeline = client.get(status["links"]["timeline"]).text.splitlines()
    faces = [face for line in timeline for face in json.loads(line)["faces"]]
    assert faces and all(fields(face) == EXPRESSION_FIELDS for face in faces)
    (track,) = client.get(status["links"]["summary"]).json()["tracks"]
    assert track["expression_shares"]["happy"] == 1.0
    assert not {"age", "gender", "race"} & set(track)
    assert attributes.calls == 0 and expression.calls > 0


def test_camera_frames_get_the_video_rules_for_their_size(tmp_path, monkeypatch):
    """The stream's frames are analysed with `faceattrs video`'s rules for their size
    (video.process.frame_analyzer), chosen again when the camera's size changes."""
    import faceattrs.video.process as process

    sizes, rules = [], process.frame_analyzer

    def spy(analyzer, width, height):
        sizes.append((width, height))
        twin = rules(analyzer, width, height)
        assert twin is not analyzer and twin.min_face == process.video_min_face(width, height)
        return twin

    monkeypatch.setattr(process, "frame_analyzer", spy)
    analyzer = FaceAnalyzer(detector=CentreDetector(), model=AttributeHead())
    settings = ServerSettings(work_dir=str(tmp_path), allowed_hosts="testserver")
    with TestClient(create_app(settings, analyzer)) as client:
        with client.websocket_connect(STREAM) as ws:
            for width, height in ((160, 120), (160, 120), (1920, 1080)):
                ws.send_bytes(jpeg(width, height))
                assert len(ws.receive_json()["faces"]) == 1
    assert sizes == [(160, 120), (1920, 1080)]
