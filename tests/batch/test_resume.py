"""Resumable runs: atomic parts, the done-set, checks on the output folder, and a run
killed half way that resumes to exactly the full set of rows."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

NO_PYARROW = "pyarrow not installed: pip install 'faceattrs[parquet]'"
pa = pytest.importorskip("pyarrow", reason=NO_PYARROW)
pq = pytest.importorskip("pyarrow.parquet")

from batch_rows import assert_same_rows  # noqa: E402

from faceattrs.batch.parquet import PartWriter, committed_parts, read_rows  # noqa: E402
from faceattrs.batch.resume import DoneSet, OutputFolderError, prepare_folder  # noqa: E402
from faceattrs.batch.schema import AnalysedImage, face_schema  # noqa: E402
from faceattrs.cli import main  # noqa: E402
from faceattrs.spec import GENDERS, RACES  # noqa: E402
from model_helpers import random_model_path  # noqa: E402,F401 (fixture)

SRC = Path(__file__).resolve().parents[2] / "src"
SETTINGS = {"model_sha256": "x", "min_face": 20}


def _images(root: Path, n: int, size: int = 96) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{i:04d}.png")
    return root


def _write_parts(folder: Path, paths: list[str], per_part: int) -> list[Path]:
    schema = face_schema(GENDERS, RACES)
    with PartWriter(folder, schema, None, images_per_part=per_part) as writer:
        for path in paths:
            writer.add(AnalysedImage(path, [], None, 1, 1, 10, 20))
    return writer.parts


def test_parts_are_committed_whole_and_hold_the_resume_keys(tmp_path):
    parts = _write_parts(tmp_path, [f"{i}.jpg" for i in range(5)], per_part=2)
    assert [p.name for p in committed_parts(tmp_path)] == sorted(p.name for p in parts)
    assert len(parts) == 3 and not list(tmp_path.glob(".*"))  # no temporary file left
    done = DoneSet.from_parts(parts)
    assert len(done) == 5
    keys = [("0.jpg", 10, 20), ("0.jpg", 11, 20), ("0.jpg", 10, 21), ("9.jpg", 10, 20)]
    assert done.contains(keys).tolist() == [True, False, False, False]


def test_prepare_folder_refuses_before_any_work(tmp_path):
    with pytest.raises(OutputFolderError, match="parent folder does not exist"):
        prepare_folder(tmp_path / "missing" / "out", SETTINGS, resume=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError, match="not a folder"):
        prepare_folder(tmp_path / "file", SETTINGS, resume=False)
    out = tmp_path / "out"
    prepare_folder(out, SETTINGS, resume=False)  # created: the parent exists
    _write_parts(out, ["a.jpg"], 1)
    with pytest.raises(OutputFolderError, match="pass --resume"):
        prepare_folder(out, SETTINGS, resume=False)
    with pytest.raises(OutputFolderError, match=r"other settings \(min_face\)"):
        prepare_folder(out, {**SETTINGS, "min_face": 40}, resume=True)
    assert len(prepare_folder(out, SETTINGS, resume=True)) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_unwritable_folder_fails_fast(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(OutputFolderError, match="not writable"):
            prepare_folder(out, SETTINGS, resume=False)
    finally:
        out.chmod(0o700)


def test_resume_removes_temporary_files_and_sets_broken_parts_aside(tmp_path):
    out = tmp_path / "out"
    prepare_folder(out, SETTINGS, resume=False)
    good = _write_parts(out, ["a.jpg", "b.jpg"], 1)
    (out / ".part-x-000001.parquet.tmp").write_bytes(b"PAR1 half")  # killed mid-write
    cut = out / "part-zz-000000.parquet"  # written in place by another tool and cut short
    cut.write_bytes(good[0].read_bytes()[:40])
    done = prepare_folder(out, SETTINGS, resume=True)
    assert len(done) == 2
    assert not list(out.glob(".part-*")) and (out / "part-zz-000000.parquet.broken").exists()
    assert committed_parts(out) == sorted(good)


def test_missing_output_folder_fails_in_one_line(tmp_path, capsys):
    crops = _images(tmp_path / "crops", 1)
    out = tmp_path / "no" / "such" / "out"
    code = main(["analyze", str(crops), "--format", "parquet", "--resume", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "does not exist" in err


def test_resume_skips_recorded_inputs_and_redoes_changed_ones(tmp_path, random_model_path):  # noqa: F811
    crops = _images(tmp_path / "crops", 6)
    out = tmp_path / "out"
    args = ["analyze", str(crops), "--aligned", "--model", str(random_model_path), "-q",
            "--format", "parquet", "-o", f"{out}/", "--part-size", "4"]  # fmt: skip
    assert main(args) == 0
    first = read_rows(out)
    assert main([*args, "--resume"]) == 0  # nothing to do: no new part
    assert read_rows(out).num_rows == first.num_rows == 6
    edited = crops / "0002.png"
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 10**9))
    assert main([*args, "--resume"]) == 0
    rows = read_rows(out)
    assert rows.num_rows == 7  # the edited file again, with its new key
    assert rows.column("path").to_pylist().count(str(edited)) == 2


def _run_cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "faceattrs", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_resumes_to_exactly_the_full_set(tmp_path, random_model_path, sig):  # noqa: F811
    n = 150
    crops = _images(tmp_path / "crops", n)
    out = tmp_path / "out"
    args = [
        "analyze", str(crops), "--aligned", "--model", str(random_model_path), "-q",
        "--format", "parquet", "-o", f"{out}/", "--part-size", "3", "--threads", "1",
    ]  # fmt: skip
    run = _run_cli(args)
    deadline = time.monotonic() + 120
    while len(committed_parts(out)) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(sig)
    run.wait(timeout=60)
    assert run.returncode == -sig, run.stderr.read().decode()[-2000:]
    killed = committed_parts(out)
    assert killed, "no part was committed before the kill"
    for part in killed:  # every committed part is whole
        assert pq.read_metadata(part).num_rows > 0
    partial = read_rows(out)
    assert 0 < partial.num_rows < n, "the run was not killed half way"

    resumed = _run_cli([*args, "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    rows = read_rows(out)
    paths = rows.column("path").to_pylist()
    assert len(paths) == len(set(paths)) == n  # aligned: one row per image, none twice
    assert set(paths) == {str(p) for p in crops.iterdir()}
    assert rows.num_rows - partial.num_rows == n - partial.num_rows

    full = tmp_path / "full.parquet"
    one_go = ["analyze", str(crops), "--aligned", "--model", str(random_model_path), "-q"]
    assert main([*one_go, "--threads", "1", "-o", str(full)]) == 0
    assert_same_rows(rows, pq.read_table(full))
