"""HTTP API of ``faceattrs serve`` with FastAPI's TestClient.

Most tests use a fake analyzer (attribute quality is irrelevant here) and, for video
jobs, either the real video code or a controllable processor; a few use the real
pipeline (real detector, random attribute model).
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from model_helpers import random_model_path  # noqa: F401 (fixture)

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("multipart", reason="the serve extra (python-multipart) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from faceattrs.cli import build_parser  # noqa: E402
from faceattrs.media import sniff_image  # noqa: E402
from faceattrs.results import Face  # noqa: E402
from faceattrs.server.app import create_app  # noqa: E402
from faceattrs.server.jobs import JobCancelled, JobOutputs  # noqa: E402
from faceattrs.server.settings import ServerSettings  # noqa: E402
from fakes import StepsFromAnalyze

VIDEOS = "/api/v1/videos"


class FakeAnalyzer(StepsFromAnalyze):
    """One face in the middle third of every image, with fixed attributes."""

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, bgr: np.ndarray) -> list[Face]:
        self.calls += 1
        h, w = bgr.shape[:2]
        return [
            Face(
                xyxy=(w / 3, h / 3, 2 * w / 3, 2 * h / 3),
                score=0.9,
                keypoints=(),
                age=30.0,
                age_interval=(25.0, 36.0),
                gender_probs={"male": 0.25, "female": 0.75},
                race_probs={"white": 0.1, "black": 0.2, "asian": 0.5, "indian": 0.1, "other": 0.1},
            )
        ]

    def analyze_batch(self, images) -> list[list[Face]]:
        return [self.analyze(image) for image in images]


class BlockingProcessor:
    """A video job that runs until released (or cancelled), then writes tiny outputs."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.cancelled = threading.Event()

    def __call__(self, src, out_dir, progress, cancelled, name=None):
        self.started.set()
        progress(1, 4)
        while not self.release.wait(0.01):
            if cancelled():
                self.cancelled.set()
                raise JobCancelled
        outputs = JobOutputs(out_dir / "a.webm", out_dir / "t.jsonl", out_dir / "s.json")
        for path in outputs.__dict__.values():
            path.write_bytes(b"{}")
        return outputs


def jpeg(width: int = 160, height: int = 120, fmt: str = ".jpg") -> bytes:
    bgr = np.zeros((height, width, 3), np.uint8)
    bgr[:, :, 1] = np.linspace(0, 255, width, dtype=np.uint8)
    return cv2.imencode(fmt, bgr)[1].tobytes()


def make_video(path: Path, frames: int = 10, fps: float = 10.0, size=(64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):  # one shot: a small square moving over a fixed background
        bgr = np.full((size[1], size[0], 3), 90, np.uint8)
        bgr[10:20, 5 + 2 * i : 15 + 2 * i] = 220
        writer.write(bgr)
    writer.release()
    return path


@pytest.fixture()
def make_client(tmp_path):
    """make_client(analyzer=None, processor=None, **settings) -> a started TestClient."""
    clients = []

    def make(analyzer=None, processor=None, raise_server_exceptions=True, **settings):
        settings.setdefault("work_dir", str(tmp_path))
        settings.setdefault("allowed_hosts", "testserver")  # TestClient's host name
        app = create_app(ServerSettings(**settings), analyzer or FakeAnalyzer(), processor)
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture()
def client(make_client):
    return make_client()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4")


def wait_for(client, job_id: str, states=("done", "failed", "cancelled"), timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"{VIDEOS}/{job_id}").json()
        if status["status"] in states:
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still {status['status']}")


def job_dirs(client) -> list[Path]:
    return sorted(client.app.state.jobs.root.iterdir())


def assert_error(response, status: int, code: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert "\n" not in body["detail"]
    for word in words:
        assert word in body["detail"]
    return body


# ---------- settings, CLI, page ----------


def test_settings_defaults_env_and_overrides():
    assert ServerSettings().host == "127.0.0.1"
    env = {"FACEATTRS_MAX_PIXELS": "1234", "FACEATTRS_JOB_TTL_S": "2.5", "FACEATTRS_HOST": ""}
    settings = ServerSettings.from_env(env, max_video_jobs=3, port=None)
    assert (settings.max_pixels, settings.job_ttl_s, settings.max_video_jobs) == (1234, 2.5, 3)
    assert settings.port == ServerSettings().port and settings.host == "127.0.0.1"
    with pytest.raises(ValueError, match="FACEATTRS_MAX_PIXELS"):
        ServerSettings.from_env({"FACEATTRS_MAX_PIXELS": "lots"})
    with pytest.raises(ValueError, match="max_video_jobs"):
        ServerSettings.from_env({}, max_video_jobs=0)
    assert ServerSettings.from_env({"FACEATTRS_TIER": "accurate"}).tier == "accurate"
    with pytest.raises(ValueError, match="tier must be one of fast, accurate"):
        ServerSettings.from_env({}, tier="best")


def test_serve_is_registered_with_every_setting():
    args = build_parser().parse_args(
        ["serve", "--port", "9001", "--max-video-jobs", "3", "--max-video-seconds", "12.5"]
    )
    assert (args.port, args.max_video_jobs, args.max_video_seconds) == (9001, 3, 12.5)
    assert build_parser().parse_args(["serve", "--tier", "accurate"]).tier == "accurate"
    assert args.host is None  # not given: the env or the default (127.0.0.1) decides
    assert callable(args.func)


def test_health_reports_limits(make_client):
    client = make_client(max_pixels=5000, max_video_jobs=3)
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["limits"]["max_pixels"] == 5000 and body["limits"]["max_video_jobs"] == 3
    assert body["tier"] == "fast"


def test_page_and_docs_are_served_without_external_resources(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Nothing is stored" in page.text and "perceived" in page.text
    for asset in ("app.js", "style.css"):
        response = client.get(f"/{asset}")
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text
    assert 'src="http' not in page.text and 'href="http' not in page.text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/images", VIDEOS, VIDEOS + "/{job_id}", "/health"} <= set(paths)


def test_unknown_route_is_a_json_404(client):
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")


# ---------- images ----------


def test_images_return_faces_per_image_in_the_cli_schema(client):
    files = [("files", ("a.jpg", jpeg(160, 120), "image/jpeg")),
             ("files", ("b.png", jpeg(90, 60, ".png"), "image/png"))]  # fmt: skip
    response = client.post("/api/v1/images", files=files)
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    assert "not facts about a person" in response.json()["notice"]
    assert [(i["path"], i["width"], i["height"]) for i in images] == [
        ("a.jpg", 160, 120),
        ("b.png", 90, 60),
    ]
    face = images[0]["faces"][0]
    assert images[0]["error"] is None
    assert face["box"] == pytest.approx([53.3, 40.0, 106.7, 80.0], abs=0.1)
    assert face["gender"] == "female" and face["race"] == "asian"
    assert set(face) >= {"box", "score", "age", "age_interval", "gender_probs", "race_probs"}


def test_image_type_is_checked_by_content_not_name(client):
    ok = client.post("/api/v1/images", files={"files": ("notes.txt", jpeg(), "text/plain")})
    assert ok.status_code == 200
    bad = client.post("/api/v1/images", files={"files": ("photo.jpg", b"GIF89a....", "image/jpeg")})
    assert_error(bad, 415, "unsupported_type", "photo.jpg")
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert_error(
        client.post("/api/v1/images", files={"files": ("a.heic", heic)}),
        415,
        "unsupported_type",
        "a.heic",
    )


def test_avif_uploads_are_analysed(client):
    from PIL import Image, features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF plugin (its wheels have one since 11.3)")
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg())).save(buffer, format="AVIF", quality=90)
    response = client.post("/api/v1/images", files={"files": ("a.avif", buffer.getvalue())})
    assert response.status_code == 200, response.text
    image = response.json()["images"][0]
    assert image["error"] is None and (image["width"], image["height"]) == (160, 120)
    assert len(image["faces"]) == 1


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "empty_file"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, 422, "unreadable_image"),
        (jpeg()[: len(jpeg()) // 3], 422, "unreadable_image"),
    ],
    ids=["empty", "garbage-after-jpeg-magic", "truncated"],
)
def test_unreadable_images_are_clear_client_errors(client, data, status, code):
    response = client.post("/api/v1/images", files={"files": ("x.jpg", data, "image/jpeg")})
    assert_error(response, status, code, "x.jpg")


def test_pixel_limit(make_client):
    client = make_client(max_pixels=100 * 100)
    assert client.post("/api/v1/images", files={"files": ("s.jpg", jpeg(100, 100))}).is_success
    response = client.post("/api/v1/images", files={"files": ("big.jpg", jpeg(101, 100))})
    assert_error(response, 413, "too_many_pixels", "big.jpg", "101x100")


def test_upload_size_limit_with_and_without_content_length(make_client):
    client = make_client(max_upload_bytes=50_000)
    big = jpeg(20, 20) + b"\x00" * 60_000
    response = client.post("/api/v1/images", files={"files": ("big.jpg", big)})
    assert_error(response, 413, "upload_too_large", "50,000")
    # A chunked body (no Content-Length) is cut off while it streams in.
    body = b"--b\r\nContent-Disposition: form-data; name=files; filename=x.jpg\r\n\r\n" + big
    chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
    response = client.post(
        "/api/v1/images",
        content=chunks,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_error(response, 413, "upload_too_large")


def test_image_count_limit_and_missing_field(make_client):
    client = make_client(max_images=2)
    files = [("files", (f"{i}.jpg", jpeg(), "image/jpeg")) for i in range(3)]
    assert_error(client.post("/api/v1/images", files=files), 413, "too_many_images", "3")
    assert_error(client.post("/api/v1/images"), 422, "invalid_request", "files")


# ---------- videos ----------


def test_video_job_runs_to_results_and_cleans_up(client, clip):
    with open(clip, "rb") as f:
        response = client.post(VIDEOS, files={"file": ("holiday.mov", f, "video/quicktime")})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"{VIDEOS}/{job['id']}"
    assert job["frames_total"] == 10 and job["filename"] == "holiday.mov"
    status = wait_for(client, job["id"])
    assert status["status"] == "done" and status["progress"] == 1.0, status
    assert status["frames_done"] == 10 and status["expires_in_s"] > 0
    video = client.get(status["links"]["video"])
    assert video.headers["content-type"] == "video/webm"
    assert video.content[:4] == b"\x1a\x45\xdf\xa3"  # WebM (VP8), playable in browsers
    timeline = [json.loads(line) for line in client.get(status["links"]["timeline"]).text.split()]
    assert [frame["frame"] for frame in timeline] == list(range(10))
    assert all(frame["faces"][0]["track_id"] == 1 for frame in timeline)
    summary = client.get(status["links"]["summary"]).json()
    assert [track["track_id"] for track in summary["tracks"]] == [1]
    assert summary["tracks"][0]["frames"] == 10
    (folder,) = job_dirs(client)
    assert not list(folder.glob("input*")), "the upload is deleted once the job ends"
    assert client.delete(f"{VIDEOS}/{job['id']}").status_code == 204
    assert job_dirs(client) == []
    assert_error(client.get(f"{VIDEOS}/{job['id']}"), 404, "not_found")


def test_video_type_is_checked_by_content(client, clip):
    response = client.post(VIDEOS, files={"file": ("clip.mp4", b"just some text, really")})
    assert_error(response, 415, "unsupported_type", "clip.mp4")
    fake = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000
    assert_error(client.post(VIDEOS, files={"file": ("x.mp4", fake)}), 422, "unreadable_video")
    assert_error(client.post(VIDEOS, files={"nope": ("x.mp4", clip.read_bytes())}), 422,
                 "invalid_request", "file")  # fmt: skip
    assert job_dirs(client) == [], "rejected uploads leave no files"


def test_video_length_pixel_and_size_limits(make_client, clip):
    data = clip.read_bytes()  # 10 frames at 10 fps, 64x48
    client = make_client(max_video_seconds=0.5)
    assert_error(client.post(VIDEOS, files={"file": ("c.mp4", data)}), 413, "video_too_long")
    client = make_client(max_pixels=64 * 47)
    assert_error(client.post(VIDEOS, files={"file": ("c.mp4", data)}), 413, "too_many_pixels")
    client = make_client(max_upload_bytes=len(data) // 2)
    assert_error(client.post(VIDEOS, files={"file": ("c.mp4", data)}), 413, "upload_too_large")
    assert job_dirs(client) == []


def test_concurrent_job_limit_not_ready_and_cancel(make_client, clip):
    processor = BlockingProcessor()
    client = make_client(processor=processor, max_video_jobs=1)
    data = clip.read_bytes()
    first = client.post(VIDEOS, files={"file": ("a.mp4", data)}).json()
    assert processor.started.wait(10)
    assert_error(client.post(VIDEOS, files={"file": ("b.mp4", data)}), 429, "too_many_jobs")
    status = client.get(f"{VIDEOS}/{first['id']}").json()
    assert status["status"] == "running" and status["progress"] == 0.25
    for part in ("video", "timeline", "summary"):
        assert_error(client.get(f"{VIDEOS}/{first['id']}/{part}"), 409, "not_ready")
    assert client.delete(f"{VIDEOS}/{first['id']}").status_code == 204
    assert processor.cancelled.wait(10), "the running job saw the cancel flag"
    assert job_dirs(client) == []
    second = client.post(VIDEOS, files={"file": ("b.mp4", data)})
    assert second.status_code == 202, "a cancelled job frees its worker"
    assert_error(client.delete(f"{VIDEOS}/unknown"), 404, "not_found")


def test_finished_jobs_expire_and_shutdown_removes_everything(make_client, clip):
    processor = BlockingProcessor()
    processor.release.set()
    client = make_client(processor=processor, job_ttl_s=60)
    job = client.post(VIDEOS, files={"file": ("a.mp4", clip.read_bytes())}).json()
    assert wait_for(client, job["id"])["status"] == "done"
    jobs = client.app.state.jobs
    assert jobs.sweep(now=time.monotonic() + 30) == 0
    assert jobs.sweep(now=time.monotonic() + 61) == 1
    assert job_dirs(client) == []
    assert_error(client.get(f"{VIDEOS}/{job['id']}"), 404, "not_found")
    client.post(VIDEOS, files={"file": ("b.mp4", clip.read_bytes())})
    root = jobs.root
    client.__exit__(None, None, None)
    assert not root.exists()


def test_failed_job_reports_one_line_and_keeps_nothing(make_client, clip):
    def broken(src, out_dir, progress, cancelled, name=None):
        (out_dir / "partial.webm").write_bytes(b"x")
        raise ValueError("decoder exploded\nwith details")

    client = make_client(processor=broken)
    job = client.post(VIDEOS, files={"file": ("a.mp4", clip.read_bytes())}).json()
    status = wait_for(client, job["id"])
    assert status["status"] == "failed" and status["error"] == "decoder exploded"
    assert job_dirs(client) == []


# ---------- camera stream ----------


def test_stream_tracks_faces_across_frames(client):
    with client.websocket_connect("/api/v1/stream") as ws:
        replies = []
        for _ in range(3):
            ws.send_bytes(jpeg(320, 240))
            replies.append(ws.receive_json())
    assert [r["frame"] for r in replies] == [0, 1, 2]
    assert all(r["width"] == 320 and len(r["faces"]) == 1 for r in replies)
    assert {r["faces"][0]["track_id"] for r in replies} == {1}


class EmbeddingAnalyzer(FakeAnalyzer):
    """The fake's one face, with an embedding: the server joins its tracks into persons."""

    embedding_threshold = 0.5

    def embed(self, bgr, detections):
        return np.tile(np.eye(1, 8, dtype=np.float32), (len(detections), 1))


def test_stream_gives_person_ids_when_the_analyzer_can_embed(make_client):
    client = make_client(EmbeddingAnalyzer())
    with client.websocket_connect("/api/v1/stream") as ws:
        replies = []
        for _ in range(3):
            ws.send_bytes(jpeg(320, 240))
            replies.append(ws.receive_json())
    assert {r["faces"][0]["person_id"] for r in replies} == {1}
    assert all("embedding" not in r["faces"][0] for r in replies)  # never sent or kept


def test_stream_reports_bad_frames_and_goes_on(make_client):
    client = make_client(max_frame_bytes=20_000, max_pixels=400 * 300)
    with client.websocket_connect("/api/v1/stream") as ws:
        ws.send_text("hello")
        assert ws.receive_json()["error"] == "invalid_frame"
        ws.send_bytes(b"not a jpeg")
        assert ws.receive_json()["error"] == "unsupported_type"
        ws.send_bytes(jpeg(401, 300))
        assert ws.receive_json()["error"] == "too_many_pixels"
        ws.send_bytes(jpeg(20, 20) + b"\x00" * 20_000)
        assert ws.receive_json()["error"] == "frame_too_large"
        ws.send_bytes(jpeg(64, 48))
        reply = ws.receive_json()
    assert "error" not in reply and reply["faces"]


def test_stream_connection_limit(make_client):
    client = make_client(max_streams=1)
    with client.websocket_connect("/api/v1/stream") as first:
        with client.websocket_connect("/api/v1/stream") as second:
            assert second.receive_json()["error"] == "too_many_streams"
        first.send_bytes(jpeg())
        assert first.receive_json()["faces"]


class BrokenAnalyzer(FakeAnalyzer):
    """Fails on images 50 pixels wide: a bug in the pipeline, not a client error."""

    def analyze(self, bgr):
        if bgr.shape[1] == 50:
            raise RuntimeError("pipeline bug\nsecond line")
        return super().analyze(bgr)


def test_pipeline_bugs_are_json_500_and_do_not_end_the_stream(make_client):
    client = make_client(analyzer=BrokenAnalyzer(), raise_server_exceptions=False)
    response = client.post("/api/v1/images", files={"files": ("x.jpg", jpeg(50, 40))})
    assert_error(response, 500, "internal_error", "pipeline bug")
    with client.websocket_connect("/api/v1/stream") as ws:
        ws.send_bytes(jpeg(50, 40))
        reply = ws.receive_json()
        assert reply["frame"] == 0 and reply["error"] == "internal_error"
        assert reply["detail"] == "pipeline bug"
        ws.send_bytes(jpeg(64, 48))
        assert ws.receive_json()["faces"]


# ---------- helpers and the real pipeline ----------


def test_sniff_image_by_magic_bytes():
    assert sniff_image(jpeg()) == "jpeg"
    assert sniff_image(jpeg(fmt=".png")) == "png"
    assert sniff_image(jpeg(fmt=".bmp")) == "bmp"
    assert sniff_image(b"GIF89a") is None and sniff_image(b"") is None


def test_real_pipeline_finds_faces_in_a_photo(make_client, shared_dir, random_model_path):  # noqa: F811
    from faceattrs.pipeline.analyzer import FaceAnalyzer

    client = make_client(analyzer=FaceAnalyzer(model_path=random_model_path))
    photo = shared_dir / "media" / "face_recognition" / "obama_and_biden.jpg"
    response = client.post("/api/v1/images", files={"files": (photo.name, photo.read_bytes())})
    assert response.status_code == 200, response.text
    (image,) = response.json()["images"]
    assert len(image["faces"]) >= 2
    for face in image["faces"]:
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 <= image["width"] and 0 <= y1 < y2 <= image["height"]
        assert sum(face["race_probs"].values()) == pytest.approx(1, abs=1e-3)


def test_png_with_alpha_and_grayscale_are_accepted(client):
    from PIL import Image

    for mode in ("RGBA", "L"):
        buffer = io.BytesIO()
        Image.new(mode, (40, 30)).save(buffer, format="PNG")
        response = client.post("/api/v1/images", files={"files": ("x.png", buffer.getvalue())})
        assert response.json()["images"][0]["width"] == 40
