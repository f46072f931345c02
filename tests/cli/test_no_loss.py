"""``faceattrs analyze`` never destroys or loses: outputs that are inputs are refused,
unreadable folder entries become records with ``error``, any file name is written,
an interrupted run leaves no temporary file. Real detector, random attribute model."""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bad_inputs import cut_with_end_marker, jpeg_bytes, picture_bgr
from faceattrs.cli import main
from faceattrs.media import MediaError, read_image
from model_helpers import random_model_path  # noqa: F401 (fixture)

JPEG = jpeg_bytes(picture_bgr(96, 72))


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "faceattrs", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_output_equal_to_an_input_is_refused(tmp_path, random_model_path, capsys):  # noqa: F811
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(JPEG)
    model = ["--model", str(random_model_path)]
    assert main(["analyze", str(photo), "-o", str(photo), *model]) == 2
    assert "is an input" in capsys.readouterr().err
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(JPEG)
    (folder / "b.png").write_bytes(JPEG)
    args = ["analyze", str(folder), "-o", str(folder / "b.png"), "--format", "csv", *model]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is an input" in err
    assert photo.read_bytes() == JPEG and (folder / "b.png").read_bytes() == JPEG


def test_annotate_into_the_input_folder_is_refused(tmp_path, random_model_path, capsys):  # noqa: F811
    (tmp_path / "a.jpg").write_bytes(JPEG)
    args = ["analyze", str(tmp_path), "--annotate", str(tmp_path)]
    assert main([*args, "--model", str(random_model_path)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert (tmp_path / "a.jpg").read_bytes() == JPEG


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symbolic links")
def test_unreadable_folder_entries_become_records(tmp_path, random_model_path, capsys):  # noqa: F811
    (tmp_path / "good.jpg").write_bytes(JPEG)
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")  # a symbolic link loop
    (tmp_path / "gone.jpg").symlink_to("nowhere.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would block forever
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "cut.jpg").write_bytes(cut_with_end_marker(JPEG))
    code = main(["analyze", str(tmp_path), "-q", "--model", str(random_model_path)])
    out = capsys.readouterr().out
    records = {Path(r["path"]).name: r["error"] for r in map(json.loads, out.splitlines())}
    assert code == 1
    assert records["good.jpg"] is None
    assert "symbolic links" in records["loop.jpg"]
    assert "broken symbolic link" in records["gone.jpg"]
    assert "not a file" in records["pipe.jpg"]
    assert "truncated" in records["cut.jpg"]


def test_non_utf8_file_names_are_written_reversibly(tmp_path, random_model_path):  # noqa: F811
    folder = os.fsencode(tmp_path / "d")
    os.mkdir(folder)
    with open(os.path.join(folder, b"caf\xe9.jpg"), "wb") as file:  # Latin-1, not UTF-8
        file.write(JPEG)
    out_csv, out_json = tmp_path / "out.csv", tmp_path / "out.jsonl"
    for out in (out_csv, out_json):
        run = run_cli("analyze", str(tmp_path / "d"), "-o", str(out), "-q",
                      "--model", str(random_model_path))  # fmt: skip
        assert run.returncode == 0, run.stderr
    assert b"caf\xe9.jpg" in out_csv.read_bytes()  # the name's own bytes
    text = out_csv.read_text(encoding="utf-8", errors="surrogateescape")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert os.fsencode(rows[0]["path"]).endswith(b"caf\xe9.jpg")
    record = json.loads(out_json.read_text())
    assert os.fsencode(record["path"]).endswith(b"caf\xe9.jpg")


def test_error_line_of_a_name_with_a_newline_is_one_line(tmp_path, random_model_path):  # noqa: F811
    (tmp_path / "bad\nname.jpg").write_bytes(b"not an image")
    run = run_cli("analyze", str(tmp_path), "--model", str(random_model_path))
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.startswith("faceattrs: ")]
    assert any("bad\\nname.jpg: " in line for line in lines), run.stderr
    assert "faceattrs: 1 image, 0 faces, 1 failed" in run.stderr  # not "1 images"


def test_a_huge_file_is_refused_before_reading(tmp_path):
    sparse = tmp_path / "sparse.jpg"
    with open(sparse, "wb") as file:  # a valid JPEG extended to 1 GiB (no disk used)
        file.write(JPEG)
        file.truncate(2**30)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with pytest.raises(MediaError, match="file too large"):
        read_image(sparse)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before < 64


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_analyze_leaves_no_temporary_file(tmp_path, random_model_path, signum):  # noqa: F811
    images = tmp_path / "images"
    images.mkdir()
    for i in range(400):
        (images / f"{i:03d}.jpg").write_bytes(JPEG)
    out = tmp_path / "out" / "records.jsonl"
    command = [sys.executable, "-m", "faceattrs", "analyze", str(images), "-o", str(out),
               "-q", "--model", str(random_model_path), "--threads", "1"]  # fmt: skip
    # a shell's background jobs start with SIGINT ignored, and Python then keeps it ignored:
    # give the run the default disposition, as in a terminal, wherever the tests are started
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.parent.glob(".records.jsonl.*.tmp")):  # writing has begun
            assert process.poll() is None and time.monotonic() < deadline, "no temp file seen"
            time.sleep(0.02)
        process.send_signal(signum)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    assert "Traceback" not in process.stderr.read()
    assert list(out.parent.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_people_stopped_by_sigterm_exits_like_ctrl_c(tmp_path):
    """`people` treats SIGTERM as Ctrl-C (exit 130, one line, no output), as `analyze` and
    `video` do; it used to die of the signal (-15) wherever it was."""
    images = tmp_path / "images"
    images.mkdir()
    for i in range(1000):  # seconds of work once the handler is in place
        (images / f"{i:04d}.jpg").write_bytes(JPEG)
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "faceattrs", "people", str(images), "--threads", "1",
               "-o", str(out / "people.jsonl"), "--sheet", str(out / "people.png")]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not _catches(process.pid, signal.SIGTERM):  # its handler is in place
            assert process.poll() is None and time.monotonic() < deadline, "never handled"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read().decode()
    assert process.returncode == 130, stderr  # not -15 (died of it), nor -2 (the test below)
    assert stderr.count("faceattrs: interrupted") == 1 and "Traceback" not in stderr
    assert list(out.iterdir()) == []


def test_interrupt_inside_exec_of_a_string_still_exits_130(tmp_path):
    """One CI run ended `people` by SIGINT (-2) after its one line: the SIGTERM had landed in
    code run by ``exec`` of a string (as dataclasses define their methods, in a lazy import),
    which makes CPython end ``python -m`` by SIGINT whatever the exit code. Deterministic
    here: the subcommand raises KeyboardInterrupt inside ``exec``."""
    (tmp_path / "interrupted_cli.py").write_text(
        "import argparse, sys\n"
        "from faceattrs import cli\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.set_defaults(func=lambda args: exec('raise KeyboardInterrupt'))\n"
        "cli.build_parser = lambda: parser\n"
        "sys.exit(cli.main([]))\n"
    )
    process = subprocess.run([sys.executable, "-m", "interrupted_cli"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert process.returncode == 130, process.stderr
    assert process.stderr == "faceattrs: interrupted\n"


def _catches(pid: int, signum: int) -> bool:
    """Has process ``pid`` a handler for ``signum`` (Linux: SigCgt in /proc/PID/status)?"""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False
