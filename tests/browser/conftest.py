"""Fixtures for the browser tests: system Chromium driven by Playwright, a live server.

Skipped with a reason when /usr/bin/chromium or the playwright package is missing
(CI installs Debian's chromium; `playwright install` is never used).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from model_helpers import random_model_path  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("FACEATTRS_CHROMIUM", "/usr/bin/chromium"))
TEST_CLIP = ROOT.parent / "shared" / "media" / "face_recognition" / "short_hamilton_clip.mp4"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def pytest_collection_modifyitems(items):
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (apt-get install chromium); browser tests skipped"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "the playwright package is missing (pip install playwright); skipped"
    if reason:
        for item in items:
            if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item, for the page fixtures' teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@contextlib.contextmanager
def open_page(browser, origin: str, timeout_ms: int, request, artifacts: Path):
    """A page in a fresh context with the camera allowed for ``origin``. Its console messages
    and uncaught errors go to stdout, which pytest shows with a failing test (a camera test
    once waited 120 s for frames with nothing to read); after a failed test it prints the
    page's status lines and saves a screenshot in ``artifacts``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["camera"], origin=origin.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.on("console", lambda message: print(f"console.{message.type}: {message.text}"))
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        status = page.evaluate(
            "[...document.querySelectorAll('[id$=status]')].map(e => `${e.id}: ${e.textContent}`)"
        )
        print("page status lines:", *status, sep="\n  ")
        page.screenshot(path=artifacts / f"failed-{request.node.name}.png", full_page=True)
    context.close()


def clip_frames(count: int, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """BGR frames of the shared test clip, or synthetic ones when ../shared is absent."""
    import cv2

    frames = []
    if TEST_CLIP.is_file():
        cap = cv2.VideoCapture(str(TEST_CLIP))
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(bgr, size))
        cap.release()
    if not frames:  # a moving bright disc on a gradient: no faces, but a live picture
        w, h = size
        x = np.linspace(0, 255, w, dtype=np.float32)
        for i in range(count):
            bgr = np.dstack([np.tile(x, (h, 1))] * 3).astype(np.uint8)
            cv2.circle(bgr, (40 + (i * 9) % (w - 80), h // 2), 40, (40, 200, 240), -1)
            frames.append(bgr)
    return frames


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """A YUV4MPEG2 (I420) file for Chromium's --use-file-for-fake-video-capture."""
    import cv2

    h, w = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory) -> Path:
    return write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", clip_frames(75))


@pytest.fixture(scope="session")
def browser(fake_camera):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={fake_camera}"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def analyzer(random_model_path):  # noqa: F811
    """The real pipeline with the models the page loads: the packaged float attribute
    model when present (see site.WEB_MODEL), else a random one, and the float expression
    model (site.WEB_EXPRESSION_MODEL)."""
    from faceattrs.pipeline.analyzer import FaceAnalyzer
    from faceattrs.server.site import WEB_EXPRESSION_MODEL

    packaged = ROOT / "src" / "faceattrs" / "models" / "attributes_fp32.onnx"
    return FaceAnalyzer(
        model_path=packaged if packaged.is_file() else random_model_path,
        expression_model_path=WEB_EXPRESSION_MODEL,
    )


@pytest.fixture(scope="session")
def live_server(analyzer, tmp_path_factory):
    """The app served by uvicorn in a thread on 127.0.0.1 and a free port; yields its URL."""
    import uvicorn

    from faceattrs.server.app import create_app
    from faceattrs.server.settings import ServerSettings

    settings = ServerSettings(work_dir=str(tmp_path_factory.mktemp("jobs")))
    app = create_app(settings, analyzer=analyzer)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture()
def page(browser, live_server, request, artifacts):
    with open_page(browser, live_server, 60_000, request, artifacts) as page:
        yield page


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory) -> Path:
    """A two-second MP4 made from the test clip (or synthetic frames)."""
    import cv2

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for bgr in clip_frames(50):
        writer.write(bgr)
    writer.release()
    return path


@pytest.fixture(scope="session")
def static_site(tmp_path_factory):
    """The exported site served by ``python -m http.server`` on 127.0.0.1; yields its URL."""
    from faceattrs.server.site import export_web

    site = tmp_path_factory.mktemp("static") / "site"
    export_web(site)
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "-d", str(site), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://...) ..."
        match = re.search(r"port (\d+)", line)
        if not match:
            pytest.fail(f"the static file server did not start: {line!r}")
        url = f"http://127.0.0.1:{match.group(1)}/"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "index.html", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the static file server does not answer")
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


@pytest.fixture()
def static_page(browser, static_site, request, artifacts):
    with open_page(browser, static_site, 120_000, request, artifacts) as page:
        page.requests = []
        page.on("request", lambda req: page.requests.append((req.method, req.url)))
        page.goto(static_site)
        page.wait_for_selector("body[data-server=none]")
        yield page
