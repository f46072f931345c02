"""The server under hostile input: a memory/CPU budget, closed camera streams freeing
their slot at once, guards (hosts, origins, 405s, header timeout), video limits by
content, and errors that name no server file and log no traceback. Fake analyzer."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("multipart", reason="the serve extra (python-multipart) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from bad_inputs import jpeg_bytes, many_frames_avi, mp4_bytes, picture_bgr, png_bomb  # noqa: E402
from faceattrs.results import Face  # noqa: E402
from faceattrs.server.app import create_app  # noqa: E402
from faceattrs.server.budget import Admission  # noqa: E402
from faceattrs.server.errors import ApiError  # noqa: E402
from faceattrs.server.settings import ServerSettings  # noqa: E402
from fakes import StepsFromAnalyze  # noqa: E402

JPEG = jpeg_bytes(picture_bgr(160, 120))


class SlowAnalyzer(StepsFromAnalyze):
    """One face per image; ``detect`` waits for ``go`` when ``block`` is set."""

    def __init__(self, block: bool = False) -> None:
        self.go, self.entered = threading.Event(), threading.Event()
        self.block = block
        self.described = 0

    def detect(self, bgr):
        self.entered.set()
        if self.block:
            self.go.wait(10)
        return super().detect(bgr)

    def describe(self, bgr, detections):
        self.described += 1
        return super().describe(bgr, detections)

    def analyze(self, bgr: np.ndarray) -> list[Face]:
        h, w = bgr.shape[:2]
        probs = {"white": 0.2, "black": 0.2, "asian": 0.2, "indian": 0.2, "other": 0.2}
        return [Face((w / 3, h / 3, 2 * w / 3, 2 * h / 3), 0.9, (), 30.0, (25.0, 36.0),
                     {"male": 0.4, "female": 0.6}, probs)]  # fmt: skip

    def analyze_batch(self, images):
        return [self.describe(image, self.detect(image)) for image in images]


@pytest.fixture()
def make_client(tmp_path):
    clients = []

    def make(analyzer=None, **settings):
        settings.setdefault("work_dir", str(tmp_path))
        settings.setdefault("allowed_hosts", "testserver")
        app = create_app(ServerSettings(**settings), analyzer or SlowAnalyzer())
        client = TestClient(app, raise_server_exceptions=False).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def run_coroutine(coroutine):
    """``asyncio.run`` in a thread of its own: other tests (Playwright's sync API) may
    leave an event loop running in the main thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------- memory and CPU budget


def test_request_pixels_are_bounded_before_decoding(make_client):
    analyzer = SlowAnalyzer()
    client = make_client(analyzer, max_request_pixels=20_000_000)
    bomb = png_bomb(4000)  # 16 MP by its header, a few hundred bytes
    files = [("files", (f"b{i}.png", bomb, "image/png")) for i in range(4)]
    before = peak_rss_mb()
    response = client.post("/api/v1/images", files=files)
    assert response.status_code == 413 and response.json()["error"] == "too_many_pixels"
    assert "64,000,000 pixels in one request" in response.json()["detail"]
    assert peak_rss_mb() - before < 64 and analyzer.described == 0


def test_admission_waits_then_refuses_with_retry_after():
    async def scenario():
        admission = Admission(max_pixels=100, max_busy=1, max_waiting=1, wait_s=0.05)
        first = await admission.acquire(60)
        with pytest.raises(ApiError) as busy:  # the slot is taken
            await admission.acquire(10)
        assert busy.value.status == 429 and busy.value.headers["Retry-After"] == "1"
        second = await admission.acquire(10, slot=False)  # a slotless frame fits in pixels
        with pytest.raises(ApiError) as spent:
            await admission.acquire(50, slot=False)
        assert spent.value.status == 503 and "Retry-After" in spent.value.headers
        waiting = asyncio.ensure_future(admission.acquire(50, slot=False))
        await asyncio.sleep(0.01)
        admission.release(first)  # the waiting one gets in
        third = await waiting
        admission.release(second), admission.release(third)
        assert admission.status()["pixels_in_flight"] == 0 and admission.busy == 0
        with pytest.raises(ApiError, match="budget"):
            await admission.acquire(101)

    run_coroutine(scenario())


def test_busy_server_answers_429_at_once_instead_of_queueing(make_client):
    analyzer = SlowAnalyzer(block=True)
    client = make_client(analyzer, max_busy=1, max_waiting=0)
    files = {"files": ("a.jpg", JPEG, "image/jpeg")}
    first = threading.Thread(target=client.post, args=("/api/v1/images",), kwargs={"files": files})
    first.start()
    assert analyzer.entered.wait(10)
    started = time.monotonic()
    response = client.post("/api/v1/images", files=files)
    assert time.monotonic() - started < 2
    assert response.status_code == 429 and response.headers["retry-after"].isdigit()
    analyzer.go.set()
    first.join(10)
    assert client.post("/api/v1/images", files=files).status_code == 200


def test_a_closed_stream_frees_its_slot_at_once(make_client):
    analyzer = SlowAnalyzer(block=True)
    client = make_client(analyzer, max_streams=1)
    safety = threading.Timer(5, analyzer.go.set)  # old servers hang until the frame ends
    safety.start()
    try:
        started = time.monotonic()
        with client.websocket_connect("/api/v1/stream") as ws:
            ws.send_bytes(JPEG)
            assert analyzer.entered.wait(10)
        assert time.monotonic() - started < 2, "closing waited for the frame in progress"
        with client.websocket_connect("/api/v1/stream") as ws:
            analyzer.block = False
            analyzer.go.set()
            ws.send_bytes(JPEG)
            reply = ws.receive_json()
        assert "faces" in reply, reply
        assert analyzer.described == 1  # the closed stream's frame stopped after detection
    finally:
        safety.cancel()


# ---------- guards


def test_unknown_host_is_refused(make_client):
    client = make_client(allowed_hosts="")  # the default: this machine's names
    assert client.get("/health", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/health", headers={"host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/health", headers={"host": "localhost"}).status_code == 200


def test_cross_origin_posts_and_websockets_are_refused(make_client):
    client = make_client()
    files = {"files": ("a.jpg", JPEG, "image/jpeg")}
    evil = {"origin": "http://evil.example"}
    response = client.post("/api/v1/images", files=files, headers=evil)
    assert response.status_code == 403 and response.json()["error"] == "cross_origin"
    same = {"origin": "http://testserver"}
    assert client.post("/api/v1/images", files=files, headers=same).status_code == 200
    assert client.post("/api/v1/images", files=files).status_code == 200  # curl, scripts
    with pytest.raises(Exception), client.websocket_connect("/api/v1/stream", headers=evil):  # noqa: B017
        pass
    listed = make_client(allowed_origins="http://evil.example")
    assert listed.post("/api/v1/images", files=files, headers=evil).status_code == 200


def test_known_paths_answer_405_with_allow(make_client):
    client = make_client()
    for method, path, allow in (("GET", "/api/v1/images", "POST"), ("HEAD", "/health", "GET"),
                                ("PUT", "/api/v1/videos", "POST")):  # fmt: skip
        response = client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert allow in response.headers["allow"]
    assert client.get("/no/such/page").status_code == 404
    for method in ("GET", "POST", "PUT"):  # a mistyped endpoint is not there, whatever the method
        response = client.request(method, "/api/v1/faces")
        assert response.status_code == 404, method
        assert response.json()["error"] == "not_found" and "/docs" in response.json()["detail"]
    assert client.post("/index.html").status_code == 405  # the page's files are GET only


def test_api_docs_load_nothing_from_other_sites(make_client):
    import re

    client = make_client()
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        links = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert links and all(link.startswith("/") for link in links), (page, links)
        assert "googleapis" not in html and "cdn" not in html
        assert all(client.get(link).status_code == 200 for link in links)


def test_connections_without_request_headers_are_closed():
    uvicorn = pytest.importorskip("uvicorn")
    from faceattrs.server.guards import guarded_h11_protocol

    async def app(scope, receive, send):  # a minimal ASGI app: 204, or a WebSocket echo
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            while (message := await receive())["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": message.get("text") or "?"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            http=guarded_h11_protocol(0.5), lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never completed
            started = time.monotonic()
            assert idle.recv(100) == b""  # closed by the server
            assert time.monotonic() - started < 3
        from websockets.sync.client import connect

        with connect(f"ws://127.0.0.1:{port}/") as ws:  # a WebSocket outlives the timeout
            time.sleep(1.0)
            ws.send("still there")
            assert ws.recv(timeout=5) == "still there"
    finally:
        server.should_exit = True
        thread.join(10)


# ---------- videos


def wait_for(client, link: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while (status := client.get(link).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return status


def test_video_limits_count_content_not_the_claimed_duration(make_client):
    client = make_client(max_video_frames=20, max_video_seconds=10)
    data = many_frames_avi(60, fps=1000)  # 0.06 s by its headers, 60 frames
    response = client.post("/api/v1/videos", files={"file": ("fast.avi", data, "video/avi")})
    assert response.status_code == 202, response.text
    status = wait_for(client, response.json()["links"]["self"])
    assert status["status"] == "failed" and "more than 20 frames" in status["error"]
    assert "fast.avi" in status["error"]
    assert str(client.app.state.jobs.root) not in status["error"]


def test_video_summary_names_the_upload_with_whole_year_intervals(make_client):
    client = make_client()
    files = {"file": ("holiday.mp4", mp4_bytes(6, (96, 72)), "video/mp4")}
    job = client.post("/api/v1/videos", files=files).json()
    assert wait_for(client, job["links"]["self"])["status"] == "done"
    summary = client.get(job["links"]["self"] + "/summary").json()
    assert summary["source"] == "holiday.mp4"
    assert summary["tracks"] and all(
        isinstance(v, int) for t in summary["tracks"] for v in t["age_interval"]
    )


def test_aborted_upload_logs_one_line_without_traceback(make_client, caplog):
    client = make_client()
    app = client.app
    boundary = "xyz"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode()  # fmt: skip
    messages = [
        {"type": "http.request", "body": head + mp4_bytes()[:500], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/api/v1/videos", "raw_path": b"/api/v1/videos",
        "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
        "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"testserver"),
                    (b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
    }  # fmt: skip
    with caplog.at_level(logging.INFO, logger="faceattrs.server"):
        run_coroutine(app(scope, receive, send))
    records = [r for r in caplog.records if r.name.startswith("faceattrs")]
    assert records and all(r.exc_info is None for r in records), records
    assert any("aborted" in r.getMessage() for r in records)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
    assert json.loads(sent[-1]["body"] or b"{}").get("error") != "internal_error"
