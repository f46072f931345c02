"""The benchmark scripts run end to end in a tiny configuration (figures not checked:
speed is measured by the scripts, not asserted by tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bad_inputs import jpeg_bytes, mp4_bytes, picture_bgr
from model_helpers import write_constant_model

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("websockets", reason="the load test's WebSocket client is not installed")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A tiny fast model, a photo and a 10-frame video."""
    folder = tmp_path_factory.mktemp("bench")
    spec_sizes = {"age": 101, "gender": 2, "race": 5}
    probs = [np.full(n, 1.0 / n) for n in spec_sizes.values()]
    photo, video = folder / "photo.jpg", folder / "clip.mp4"
    photo.write_bytes(jpeg_bytes(picture_bgr(320, 240)))
    video.write_bytes(mp4_bytes(10))
    return {"model": write_constant_model(folder / "tiny.onnx", *probs), "photo": photo,
            "video": video, "folder": folder}  # fmt: skip


def test_run_all_quick_writes_every_section(tiny):
    out = tiny["folder"] / "report"
    command = [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--out", str(out),
               "--model", str(tiny["model"]), "--photo", str(tiny["photo"]),
               "--video", str(tiny["video"]), "--repeats", "2", "--load-seconds", "1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200)  # a hang guard
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads((out / "latest.json").read_text())
    assert figures["errors"] == {}
    assert figures["machine"]["cores"] >= 1 and figures["machine"]["cpu"]
    analyze = figures["analyze"]
    assert analyze["latency_median_ms"] > 0 and analyze["faces_per_s_batch_32"] > 0
    assert "detect" in analyze["stages_median_ms"]
    assert figures["video"]["fps_every_frame"] > 0
    load = figures["load"]
    assert load["images"]["requests"] >= 1 and load["streams"]["requests"] >= 1
    assert load["images"]["5xx"] == 0 and load["images"]["dropped"] == 0
    assert load["streams"]["dropped"] == 0 and load["healthy_after"]
    assert load["server_memory"]["peak_rss_mib"] > 0
    expression = figures["expression"]
    assert {"expression.onnx", "expression_fp32.onnx"} <= set(expression["models"])
    assert (
        expression["photo"]["with_cpu_ms"] > 0
        and "| expression head cost |" in (out / "latest.md").read_text()
    )
    identity = figures["identity"]
    if not identity.get("skipped"):  # needs ../shared/data/fairface
        assert identity["seconds"]["embed, batch 32 (per face)"][0] > 0
        assert identity["fps_reid_on_over_off"]["wall"] > 0
    in_browser = figures["browser"]
    if not in_browser.get("skipped"):  # without Chromium the section says so
        for mode in ("threaded", "single-thread"):
            assert in_browser[mode]["pipeline_fps"] > 0 and in_browser[mode]["threads"] >= 1
        assert in_browser["single-thread"]["threads"] == 1
    for key in ("ours", "seed_baseline"):
        assert "command" in figures["accuracy"][key]
    versus = figures["accuracy"]["versus_previous"]  # from the committed cross report
    assert set(versus["models"]) == {"this model", "previous model"}
    table = (out / "latest.md").read_text()
    assert "| both test splits through the detector, previous model |" in table
    assert "| what | figure | command |" in table and "server under load" in table
    assert "python bench/bench_analyze.py" in table
    if "skipped" not in figures["detection"]:  # needs ../shared/data
        assert set(figures["detection"]["sets"]) >= {"fairface 224px", "fer 48px"}
        assert "| face detector |" in table


def test_load_test_refuses_other_hosts():
    command = [sys.executable, str(ROOT / "bench" / "load_test.py"), "--url", "http://example.com"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "only http://127.0.0.1" in done.stderr


def test_the_previous_default_is_benched_beside_this_one(tmp_path, monkeypatch):
    """A full run times the default this model replaced (read from git) and the CLI of the
    day #16 was filed, and the table shows them; the quick run of the test above skips both."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run_all
    from run_all_table import cli_history_rows, previous_model_rows

    previous = run_all.previous_model(tmp_path)
    if previous is None:
        pytest.skip(f"no git history here ({run_all.PREVIOUS_MODEL_REV} not found)")
    from faceattrs.pipeline.attributes import AttributeModel

    assert AttributeModel(previous).spec.input_size == 64  # a loadable attribute model

    outputs = iter(["this", "previous"])
    commands = []

    def bench(command):
        commands.append(command)
        rate = {"this": 1400.0, "previous": 2100.0}[next(outputs)]
        return {"latency_median_ms": 35.0, "faces_per_s_batch_32": rate, "cli_photos": 60,
                "cli_seconds": 2.7, "command": run_all.shown(command)}  # fmt: skip

    monkeypatch.setattr(run_all, "analyze_figures", bench)
    history = "machine: X\n  then (35cd0ea: its code and models): 2.03 s (2.00-2.25), 1.00x then\n"
    monkeypatch.setattr(run_all, "run", lambda command, timeout_s: history)
    args = run_all.parse_args([])
    figures = run_all.analyze(args, tmp_path)
    assert "--model" not in commands[0] and commands[1][-2:] == ["--model", str(previous)]
    assert run_all.PREVIOUS_MODEL_REV in figures["previous_model"]["model"]
    [(what, text, command)] = previous_model_rows(figures["previous_model"], figures)
    assert what == "speed, previous model" and "PREVIOUS.onnx" in command
    assert "2100 faces/s at batch 32 (this model 1400: 0.67x)" in text
    assert "whole CLI on 60 photos 2.70 s (this model 2.70 s)" in text
    [(what, text, command)] = cli_history_rows(figures["cli_history"])
    assert what == "whole CLI since #16 was filed"
    assert text == "then (35cd0ea: its code and models): 2.03 s (2.00-2.25), 1.00x then"
    assert command == "python bench/bench_cli_history.py --turns 3"


@pytest.mark.shared
def test_the_cli_of_the_day_16_was_filed_runs_from_its_own_code(tmp_path, monkeypatch):
    """bench_cli_history.py times the CLI of FILED_REV from that commit's own src (checked
    to be what Python imports), beside this checkout's, on the same photos."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_cli_history as history

    try:
        src = history.extract_src(history.FILED_REV, tmp_path / "filed")
    except SystemExit as exc:
        pytest.skip(f"no git history here: {exc}")
    assert (src / "faceattrs" / "models" / "attributes.onnx").is_file()
    assert not (src / "faceattrs" / "pipeline").exists()  # the flat layout before #14
    assert history.source_env(src) == {"PYTHONPATH": str(src)}
    with pytest.raises(SystemExit, match="imported from"):
        history.source_env(tmp_path / "elsewhere")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_cli_history.py"), "--photos", "2",
         "--turns", "1"], capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    runs = [line for line in done.stdout.splitlines() if " s (" in line]
    assert len(runs) == 5 and runs[0].strip().startswith(f"then ({history.FILED_REV}")


def test_the_accuracy_row_warns_when_the_model_is_not_the_reported_file(tmp_path, monkeypatch):
    """run_all quotes the evaluation report's figures for the model only while the file is
    the one the report measured (its SHA-256), whatever the files' times say."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run_all

    from faceattrs.resources import file_sha256

    model, report = tmp_path / "model.onnx", tmp_path / "metrics.json"
    model.write_bytes(b"the measured model")
    report.write_text(json.dumps({"n": 1, "model": str(model), "model_sha256": file_sha256(model)}))
    monkeypatch.setattr(run_all, "OURS_REPORT", report)
    args = run_all.parse_args(["--model", str(model)])
    assert "warning" not in run_all.accuracy(args, tmp_path)["ours"]
    model.write_bytes(b"another model")
    assert "not the model file" in run_all.accuracy(args, tmp_path)["ours"]["warning"]
