"""Every file of the bad-input corpus (tests/bad_inputs.py) through every interface.

CLI (``faceattrs analyze`` and ``faceattrs video``), Python API (``FaceAnalyzer.analyze``,
``analyze_video``) and HTTP (``POST /api/v1/images``, ``POST /api/v1/videos``, the
camera WebSocket): a bad file gets a clear one-line error (non-zero exit, MediaError /
VideoError, 4xx JSON), valid-but-unusual files (CMYK, 16-bit, misleading names) are
analysed, decompression bombs are refused before decoding, and nothing is left behind.
Real detector, random attribute model.
"""

from __future__ import annotations

import json
import logging
import resource
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import pytest

from bad_inputs import NAMES, CorpusFile, write_corpus
from faceattrs.cli import main
from faceattrs.media import MediaError
from faceattrs.pipeline.analyzer import FaceAnalyzer
from faceattrs.video.io import VideoError
from faceattrs.video.process import analyze_video
from model_helpers import random_model_path  # noqa: F401 (fixture)

BOMBS = ("bomb.png", "bomb.jpg")
VIDEO_BOMBS = ("big_frame.avi",)  # a frame over the pixel limit, 750 kB of file
BOMB_RSS_LIMIT_MB = 64  # decoding either bomb would need gigabytes


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, CorpusFile]:
    files = write_corpus(tmp_path_factory.mktemp("corpus"))
    return {item.name: item for item in files}


@pytest.fixture(scope="module")
def analyzer(random_model_path) -> FaceAnalyzer:  # noqa: F811
    return FaceAnalyzer(model_path=random_model_path, threads=1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def assert_one_line(text: str, *, name: str) -> None:
    assert text and "\n" not in text.strip(), f"{name}: not one line: {text!r}"
    assert "Traceback" not in text, f"{name}: {text}"


def test_corpus_files_are_what_they_claim(corpus):
    from PIL import Image

    bomb = corpus["bomb.png"].path.read_bytes()
    assert len(bomb) < 2048 and bomb[12:16] == b"IHDR"
    assert struct.unpack(">II", bomb[16:24]) == (30_000, 30_000)
    assert zlib.crc32(bomb[12:29]) == struct.unpack(">I", bomb[29:33])[0]
    assert corpus["empty.jpg"].path.stat().st_size == 0
    with Image.open(corpus["cmyk.jpg"].path) as img:
        assert img.mode == "CMYK"
    with Image.open(corpus["gray16.png"].path) as img:
        assert img.mode.startswith("I")
    with Image.open(corpus["animated.gif"].path) as img:
        assert img.n_frames > 1


# ---------------------------------------------------------------- Python API


@pytest.mark.parametrize("name", NAMES)
def test_api_analyze(corpus, analyzer, name):
    item = corpus[name]
    for source in (item.path, item.path.read_bytes()):
        if item.image_ok:
            assert isinstance(analyzer.analyze(source), list)
            continue
        with pytest.raises(MediaError) as caught:
            analyzer.analyze(source)
        assert_one_line(str(caught.value), name=name)


@pytest.mark.parametrize("name", NAMES)
def test_api_analyze_shows_no_library_warnings(corpus, analyzer, name):
    """Pillow's warnings (damaged EXIF ...) name its source files: they are not shown."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        try:
            analyzer.analyze(corpus[name].path)
        except MediaError:
            pass
    assert [str(w.message) for w in shown] == []


@pytest.mark.parametrize("name", NAMES)
def test_api_analyze_video(corpus, analyzer, name):
    item = corpus[name]
    if item.video_ok:
        results = list(analyze_video(item.path, analyzer))
        assert len(results) > 1
        return
    with pytest.raises(VideoError) as caught:
        list(analyze_video(item.path, analyzer))
    assert_one_line(str(caught.value), name=name)
    assert item.name in str(caught.value)


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_refused_before_decoding(corpus, analyzer, name):
    before = peak_rss_mb()
    with pytest.raises(MediaError, match="too large"):
        analyzer.analyze(corpus[name].path)
    assert peak_rss_mb() - before < BOMB_RSS_LIMIT_MB


# ---------------------------------------------------------------- CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "faceattrs", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_cli_analyze_reports_each_bad_file_in_one_line(corpus, random_model_path, tmp_path):  # noqa: F811, E501
    paths = [str(item.path) for item in corpus.values()]
    annotated = tmp_path / "annotated"
    run = run_cli(
        "analyze", *paths, "--model", str(random_model_path), "--annotate", str(annotated)
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    records = {Path(r["path"]).name: r for r in map(json.loads, run.stdout.splitlines())}
    assert set(records) == set(corpus)
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("faceattrs: /")]
    for item in corpus.values():
        error = records[item.name]["error"]
        if item.image_ok:
            assert error is None, f"{item.name}: {error}"
        else:
            assert error and "\n" not in error, item.name
            assert sum(line.startswith(f"faceattrs: {item.path}:") for line in error_lines) == 1
    assert len(error_lines) == sum(not item.image_ok for item in corpus.values())
    copies = sorted(p.name for p in annotated.iterdir())  # no partial or hidden files
    assert copies == sorted(
        name if Path(name).suffix in (".jpg", ".png") else name + ".png"
        for name, item in corpus.items()
        if item.image_ok
    )


def test_cli_analyze_exit_code_zero_for_the_unusual_but_valid(corpus, random_model_path, capsys):  # noqa: F811, E501
    paths = [str(item.path) for item in corpus.values() if item.image_ok]
    assert main(["analyze", *paths, "--model", str(random_model_path), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert all(json.loads(line)["error"] is None for line in captured.out.splitlines())


@pytest.mark.parametrize("name", NAMES)
def test_cli_video(corpus, random_model_path, name, tmp_path, capsys):  # noqa: F811
    item = corpus[name]
    out = tmp_path / "out"
    out.mkdir()
    code = main(["video", str(item.path), "-q", "--model", str(random_model_path),
                 "-o", str(out / "a.mp4"), "--summary", str(out / "s.json")])  # fmt: skip
    stderr = capsys.readouterr().err  # Python's; FFmpeg's logs: see the test below
    if item.video_ok:
        assert code == 0, stderr
        assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "s.json"]
        return
    assert code != 0
    assert stderr.startswith("faceattrs: error: ") and item.name in stderr
    assert_one_line(stderr, name=name)
    assert list(out.iterdir()) == []  # no partial outputs


@pytest.mark.parametrize("name", ["random.jpg", "drawing.svg"])
def test_cli_video_error_is_one_line_in_a_real_process(corpus, name):
    """FFmpeg's and OpenCV's own messages are silenced (they would precede the error)."""
    run = run_cli("video", str(corpus[name].path))
    assert run.returncode != 0
    assert run.stderr.startswith("faceattrs: error: ")
    assert_one_line(run.stderr, name=name)


# ---------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def server(tmp_path_factory, analyzer):
    """A TestClient over the real app, its temporary files isolated in one folder."""
    pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
    pytest.importorskip("multipart", reason="the serve extra (python-multipart) is not installed")
    from fastapi.testclient import TestClient

    from faceattrs.server.app import create_app
    from faceattrs.server.settings import ServerSettings

    temp = tmp_path_factory.mktemp("server-temp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(temp))  # the server's uploads and job folders
        settings = ServerSettings(
            max_pixels=4_000_000, max_video_seconds=10, allowed_hosts="testserver"
        )
        app = create_app(settings, analyzer)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, temp, app.state.jobs.root
        assert list(temp.iterdir()) == [], "temporary files left after shutdown"


def leftovers(temp: Path, jobs_root: Path) -> list[str]:
    """Everything in the server's temp folder but its (empty) job folder."""
    found = [p for p in temp.rglob("*") if p != jobs_root]
    return sorted(str(p.relative_to(temp)) for p in found)


def assert_client_error(response, name: str) -> None:
    assert 400 <= response.status_code < 500, f"{name}: {response.status_code} {response.text}"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"], name
    assert_one_line(body["detail"], name=name)


@pytest.mark.parametrize("name", NAMES)
def test_http_images(server, corpus, name):
    client, temp, jobs_root = server
    item = corpus[name]
    files = {"files": (item.name, item.path.read_bytes(), "application/octet-stream")}
    response = client.post("/api/v1/images", files=files)
    if item.image_ok:
        assert response.status_code == 200, response.text
        assert response.json()["images"][0]["error"] is None
    else:
        assert_client_error(response, name)
    assert client.get("/health").status_code == 200
    assert leftovers(temp, jobs_root) == []


def finished_job(client, job: str) -> dict:
    deadline = time.monotonic() + 60
    while (status := client.get(job).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "video job did not finish"
        time.sleep(0.05)
    return status


@pytest.mark.parametrize("name", NAMES)
def test_http_videos(server, corpus, name):
    client, temp, jobs_root = server
    item = corpus[name]
    data = item.path.read_bytes()
    response = client.post("/api/v1/videos", files={"file": (item.name, data, "video/mp4")})
    if item.video_ok and data[4:8] == b"ftyp":  # by content, MP4/MOV/WebM/AVI only
        assert response.status_code == 202, response.text
        job = response.json()["links"]["self"]
        assert finished_job(client, job)["status"] == "done"
        assert client.get(job + "/summary").status_code == 200
        assert client.delete(job).status_code == 204
    elif response.status_code == 202:  # readable at first, broken part-way: the job fails
        status = finished_job(client, response.json()["links"]["self"])
        assert status["status"] == "failed", status
        assert_one_line(status["error"], name=name)
        assert str(temp) not in status["error"] and name in status["error"]  # no server path
        assert client.get(status["links"]["self"] + "/video").status_code == 409
    else:
        assert_client_error(response, name)
    assert client.get("/health").json()["video_jobs_active"] == 0
    assert leftovers(temp, jobs_root) == []


def test_http_stream_survives_every_bad_frame(server, corpus):
    client, temp, jobs_root = server
    with client.websocket_connect("/api/v1/stream") as ws:
        for index, item in enumerate(corpus.values()):
            ws.send_bytes(item.path.read_bytes())
            reply = ws.receive_json()
            assert reply["frame"] == index
            if item.image_ok:
                assert "faces" in reply and "error" not in reply, (item.name, reply)
            else:
                assert reply["error"] not in ("internal_error", None), (item.name, reply)
                assert_one_line(reply["detail"], name=item.name)
        ws.send_text("not a frame")
        assert ws.receive_json()["error"] == "invalid_frame"
        ws.send_bytes(corpus["control.jpg"].path.read_bytes())
        assert "faces" in ws.receive_json()
    assert client.get("/health").status_code == 200
    assert leftovers(temp, jobs_root) == []


@pytest.mark.parametrize("name", VIDEO_BOMBS)
def test_http_video_bombs_are_refused_before_decoding(server, corpus, name):
    client = server[0]
    before = peak_rss_mb()
    files = {"file": (name, corpus[name].path.read_bytes(), "video/avi")}
    response = client.post("/api/v1/videos", files=files)
    assert response.status_code == 413 and response.json()["error"] == "too_many_pixels"
    assert peak_rss_mb() - before < BOMB_RSS_LIMIT_MB


def test_server_log_under_the_corpus_holds_no_traceback(server, corpus, caplog):
    client = server[0]
    with caplog.at_level(logging.DEBUG):
        for item in corpus.values():
            data = item.path.read_bytes()
            client.post("/api/v1/images", files={"files": (item.name, data)})
            response = client.post("/api/v1/videos", files={"file": (item.name, data)})
            if response.status_code == 202:
                job = response.json()["links"]["self"]
                finished_job(client, job)
                client.delete(job)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text and "site-packages" not in caplog.text


@pytest.mark.parametrize("name", BOMBS)
def test_http_bombs_are_refused_before_decoding(server, corpus, name):
    client = server[0]
    before = peak_rss_mb()
    files = {"files": (name, corpus[name].path.read_bytes(), "image/png")}
    response = client.post("/api/v1/images", files=files)
    assert response.status_code == 413 and response.json()["error"] == "too_many_pixels"
    assert response.json()["detail"] == f"{name}: over the limit of 4,000,000 pixels"
    assert peak_rss_mb() - before < BOMB_RSS_LIMIT_MB
