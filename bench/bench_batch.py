"""Images per second of ``faceattrs analyze --format parquet``: the local engine and the
Ray Data engine on this machine, and Ray's start-up overhead.

    python bench/bench_batch.py                 # 200 FairFace test photos (../shared)
    python bench/bench_batch.py --images 50 --json OUT.json
    python bench/bench_batch.py --photo p.jpg   # without ../shared: copies of one photo

Prints one line per measurement (and ``--json`` writes them):

* ``local, 1 thread``: the local engine with one ONNX Runtime thread: the per-core rate;
* ``local, N threads``: the local engine with one thread per core (the default);
* ``ray start-up``: ``ray.init`` of an embedded local Ray (loopback only, no dashboard);
* ``ray, cold``: the first Ray run (actors start, each loads the models), then
  ``ray, warm``: the same images again on the running Ray, new actors, written parts.

Each engine writes Parquet into a temporary folder; the rate is images over wall time
of the analysis and the writing (the photos are read once before, so every run finds
them in the page cache). Run with nothing else busy on the machine: the load average
at the start is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FAIRFACE_TEST = ROOT / "splits" / "fairface" / "test.txt"


def photos(count: int, photo: str | None, folder: Path) -> tuple[list[str], str]:
    """``count`` photo paths and what they are: FairFace test photos, else copies."""
    if photo is None and FAIRFACE_TEST.is_file() and (SHARED / "data" / "fairface").is_dir():
        names = FAIRFACE_TEST.read_text().split()[:count]
        paths = [str(SHARED / "data" / "fairface" / name) for name in names]
        return paths, f"{len(paths)} FairFace test photos ({_size(paths[0])}, one face each)"
    if photo is None:
        photo = str(SHARED / "media" / "facenet_pytorch" / "multiface.jpg")
    if not Path(photo).is_file():
        raise SystemExit(f"bench_batch: no photos: {photo} missing and ../shared absent")
    paths = []
    for i in range(count):
        target = folder / f"{i:05d}{Path(photo).suffix}"
        shutil.copyfile(photo, target)
        paths.append(str(target))
    return paths, f"{count} copies of {Path(photo).name} ({_size(photo)})"


def _size(path: str) -> str:
    from PIL import Image

    with Image.open(path) as image:
        return f"{image.width}x{image.height}, {Path(path).stat().st_size // 1024} KB"


def run_local(paths: list[str], out: Path, threads: int, model: str | None) -> float:
    from faceattrs.cli import main

    args = ["analyze", *paths, "--format", "parquet", "-o", f"{out}/", "-q"]
    args += ["--threads", str(threads)] + (["--model", model] if model else [])
    started = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - started
    if code not in (0, 1):
        raise SystemExit(f"bench_batch: local run failed (exit code {code})")
    check_complete(out, paths)
    return seconds


def run_ray(paths: list[str], out: Path, threads: int, model: str | None) -> float:
    from faceattrs.batch import ray_engine
    from faceattrs.batch.parquet import new_run_id
    from faceattrs.batch.schema import stat_key

    out.mkdir()
    started = time.perf_counter()
    dataset = ray_engine.paths_dataset(paths, [stat_key(p) for p in paths], 16)
    kwargs = {"model_path": model} if model else {}
    rows = ray_engine.analyze_dataset(dataset, analyzer_kwargs=kwargs, threads_per_actor=threads)
    ray_engine.write_parts(rows, out, new_run_id())
    seconds = time.perf_counter() - started
    check_complete(out, paths)
    return seconds


def check_complete(out: Path, paths: list[str]) -> None:
    """Every photo has its rows in the output (a rate over missing rows means nothing)."""
    from faceattrs.batch.parquet import read_rows

    recorded = set(read_rows(out).column("path").to_pylist())
    if recorded != set(paths):
        raise SystemExit(f"bench_batch: {out}: {len(set(paths) - recorded)} photos missing")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200, help="photos per run (200)")
    parser.add_argument("--photo", help="use copies of this photo instead of FairFace")
    parser.add_argument("--model", help="attribute model (default: the packaged one)")
    parser.add_argument("--skip-ray", action="store_true", help="local engine only")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    figures: dict = {"cpu": cpu_model(), "cores": cores, "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="faceattrs-bench-batch-") as tmp:
        paths, what = photos(args.images, args.photo, Path(tmp))
        figures["photos"] = what
        for path in paths:  # into the page cache: every run reads warm files
            Path(path).read_bytes()
        print(f"bench_batch: {what}; {figures['cpu']}, {cores} cores, "
              f"load average {figures['load_average'][0]:.2f}")  # fmt: skip

        def report(name: str, seconds: float, images: int | None = len(paths)) -> None:
            rate = images / seconds if images else None
            figures[name] = {"seconds": round(seconds, 2), "images_per_s": rate and round(rate, 2)}
            text = f"{rate:8.2f} images/s" if rate else " " * 17
            print(f"{name:28s} {text}  ({seconds:.2f} s)", flush=True)

        report("local, 1 thread", run_local(paths, Path(tmp) / "l1", 1, args.model))
        report(f"local, {cores} threads", run_local(paths, Path(tmp) / "ln", cores, args.model))
        if args.skip_ray:
            figures["ray"] = "skipped (--skip-ray)"
        else:
            try:
                from faceattrs.batch import ray_engine
            except ImportError:
                figures["ray"] = "skipped: pip install 'faceattrs[ray]'"
            if "ray" not in figures:
                started = time.perf_counter()
                ray = ray_engine.start_ray(num_cpus=cores, quiet=True)
                report("ray start-up", time.perf_counter() - started, None)
                actors = ray_engine.default_actors(cores)
                figures["ray_actors"] = f"{actors} actor(s) x 1 thread on {cores} CPUs"
                print(f"ray: {figures['ray_actors']}")
                report("ray, cold", run_ray(paths, Path(tmp) / "r1", 1, args.model))
                report("ray, warm", run_ray(paths, Path(tmp) / "r2", 1, args.model))
                ray.shutdown()
    if "ray" in figures:
        print(f"ray: {figures['ray']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
