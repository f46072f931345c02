"""The Ray Data engine: embedded Ray on loopback only, face rows from paths or images,
unreadable files as error rows, and the same rows as the local engine on ~50 photos."""

import time
from pathlib import Path

import numpy as np
import pytest

NO_RAY = "ray not installed: pip install 'faceattrs[ray]'"
pytest.importorskip("pyarrow", reason="pyarrow not installed: pip install 'faceattrs[parquet]'")
pytest.importorskip("ray.data", reason=NO_RAY)

import pyarrow.parquet as pq  # noqa: E402
from batch_rows import assert_same_rows  # noqa: E402

from faceattrs.batch import ray_engine  # noqa: E402
from faceattrs.batch.parquet import read_rows  # noqa: E402
from faceattrs.batch.schema import stat_key  # noqa: E402
from faceattrs.cli import main  # noqa: E402
from model_helpers import random_model_path  # noqa: E402,F401 (fixture)

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_local():
    """An embedded Ray on 2 CPUs, as the CLI starts it without --address."""
    ray = ray_engine.start_ray(num_cpus=2, quiet=True)
    yield ray
    ray.shutdown()


def _images(root: Path, n: int, size: int = 96) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for i in range(n):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{i:03d}.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (root / "notes.txt.png").write_text("not an image")
    return root


def test_default_actors_leave_a_cpu_for_reading():
    assert ray_engine.default_actors(2) == 1  # not 2: Ray issue #44687
    assert ray_engine.default_actors(1) == 1
    assert ray_engine.default_actors(16, threads_per_actor=2) == 7


def test_ray_sockets_listen_on_loopback_only(ray_local, tmp_path):
    psutil = pytest.importorskip("psutil", reason="psutil not installed (pip install psutil)")
    ray_local.data.range(8).map_batches(lambda batch: batch).take_all()  # workers up
    me = psutil.Process()
    listening, remote = [], []
    for process in [me, *me.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN:
                listening.append((process.name(), conn.laddr.ip, conn.laddr.port))
            elif conn.raddr:
                remote.append((process.name(), conn.raddr.ip, conn.raddr.port))
    assert any(name in ("gcs_server", "raylet") for name, _, _ in listening), listening
    assert [s for s in listening if s[1] not in LOOPBACK] == []
    assert [s for s in remote if s[1] not in LOOPBACK] == []


def test_paths_dataset_gives_the_local_rows_and_error_rows(
    ray_local,
    tmp_path,
    capsys,
    random_model_path,  # noqa: F811
):
    crops = _images(tmp_path / "crops", 20)
    paths = sorted(str(p) for p in crops.iterdir()) + [str(crops / "missing.png")]
    dataset = ray_engine.paths_dataset(paths, [stat_key(p) for p in paths], images_per_block=4)
    rows = ray_engine.analyze_dataset(
        dataset, analyzer_kwargs={"model_path": str(random_model_path)}, aligned=True
    )
    table = ray_engine.collect_rows(rows)
    errors = {r["path"]: r["error"] for r in table.to_pylist() if r["error"]}
    assert set(errors) == {str(crops / n) for n in ("broken.jpg", "notes.txt.png", "missing.png")}
    assert errors[str(crops / "missing.png")] == "no such file"
    local = tmp_path / "local.parquet"
    code = main(["analyze", *paths, "--aligned", "--model", str(random_model_path), "-q",
                 "-o", str(local)])  # fmt: skip
    assert code == 1  # some inputs failed
    assert_same_rows(table, pq.read_table(local))


@pytest.mark.parametrize("reader", ["read_images", "read_binary_files"])
def test_image_and_bytes_datasets_give_the_local_rows(ray_local, tmp_path, random_model_path,  # noqa: F811
                                                      reader):  # fmt: skip
    import ray.data

    crops = _images(tmp_path / "crops", 6)
    for bad in ("broken.jpg", "notes.txt.png"):
        (crops / bad).unlink()
    if reader == "read_images":  # decoded RGB arrays in an "image" column
        images = ray.data.read_images(str(crops), include_paths=True, mode="RGB")
    else:  # encoded files in a "bytes" column
        images = ray.data.read_binary_files(str(crops), include_paths=True)
    rows = ray_engine.analyze_dataset(
        images, analyzer_kwargs={"model_path": str(random_model_path)}, aligned=True
    )
    rows = ray_engine.collect_rows(rows)
    local = tmp_path / "local.parquet"
    assert main(["analyze", str(crops), "--aligned", "--model", str(random_model_path), "-q",
                 "-o", str(local)]) == 0  # fmt: skip
    by_name = {Path(r["path"]).name: r for r in pq.read_table(local).to_pylist()}
    got = rows.to_pylist()
    assert sorted(Path(r["path"]).name for r in got) == sorted(by_name)
    for row in got:
        expected = by_name[Path(row["path"]).name]
        assert row["age"] == pytest.approx(expected["age"], abs=1e-3)
        assert (row["gender"], row["race"]) == (expected["gender"], expected["race"])
        assert row["file_size"] is None  # not given: no resume key


def test_missing_output_folder_fails_fast_before_ray(tmp_path, capsys):
    crops = _images(tmp_path / "crops", 1)
    started = time.monotonic()
    code = main(["analyze", str(crops), "--engine", "ray", "--format", "parquet",
                 "-o", str(tmp_path / "no" / "out")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "does not exist" in err
    assert time.monotonic() - started < 10


@pytest.mark.shared
@pytest.mark.slow
def test_same_rows_from_local_and_ray_engines(ray_local, shared_dir, tmp_path):
    """~50 shared photos (the media photos, FairFace test images) and a non-image."""
    media = sorted(p for p in (shared_dir / "media").rglob("*.jpg"))
    fairface = (ROOT / "splits" / "fairface" / "test.txt").read_text().split()
    photos = [str(p) for p in media] + [
        str(shared_dir / "data" / "fairface" / name) for name in fairface[: 50 - len(media)]
    ]
    photos.append(str(next((shared_dir / "media").rglob("LICENSE"))))
    local, remote = tmp_path / "local.parquet", tmp_path / "ray"
    assert main(["analyze", *photos, "-q", "-o", str(local)]) == 1  # the LICENSE file
    assert main(["analyze", *photos, "-q", "--engine", "ray", "--format", "parquet",
                 "-o", str(remote)]) == 1  # fmt: skip
    expected, got = pq.read_table(local), read_rows(remote)
    assert expected.column("face_index").null_count < expected.num_rows  # faces were found
    assert len(set(got.column("path").to_pylist())) == len(photos)
    assert_same_rows(got, expected)
    # Ray's parts carry the resume keys: a resumed run (either engine) has nothing to do
    resumed = ["analyze", *photos, "-q", "--format", "parquet", "-o", str(remote), "--resume"]
    assert main(resumed) == 0
    assert read_rows(remote).num_rows == got.num_rows
