"""Benchmark: the whole CLI now against the CLI on the day issue #16 was filed.

Issue #16 asks for "the whole CLI on 60 such photos no slower than today's", today being
the day it was filed: commit ``FILED_REV``, whose shipped model is the one the issue
quotes (FairFace test gender 88.9%, race 71.9%, age bin 56.2%). This runs ``faceattrs
analyze DIR -o out.jsonl`` on 60 JPEG copies of bench_analyze.py's photo (1280x720, six
faces), start-up included, in five variants:

- ``then``: the code and models of ``FILED_REV`` (``git archive``, its own CLI);
- ``now``: this checkout as shipped (age, gender, race and expression);
- ``now, no expression``: ``--attributes age,gender,race``, the heads the filing day had;
- the same with ``FILED_REV``'s attribute model, and with the default this checkout's
  model replaced (``PREVIOUS_MODEL_REV``): what the attribute model alone costs.

Each turn runs every variant once, in that order; the figures are medians over turns.
Needs the git history and ../shared. Prints figures (not a test); compare ratios within
one run, on an otherwise idle machine.

    python bench/bench_cli_history.py              # 5 turns, about 1 minute
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analyze import DEFAULT_PHOTO, cover  # noqa: E402
from machine_info import cpu_model  # noqa: E402
from run_all_reports import PREVIOUS_MODEL_REV, previous_model  # noqa: E402

from faceattrs.media import read_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FILED_REV = "35cd0ea"  # main when issue #16 was filed (2026-11-26)
ATTRIBUTES_ONLY = ["--attributes", "age,gender,race"]
# FILED_REV has no ``python -m faceattrs``: call its console script's function.
MAIN = "import sys; from faceattrs.cli import main; sys.exit(main())"


def git_bytes(*args: str) -> bytes:
    """stdout of ``git ARGS`` in the repository (a one-line error without the history)."""
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.decode().strip()}")
    return done.stdout


def extract_src(rev: str, target: Path) -> Path:
    """``rev``'s src/ (code and packaged models) under ``target``; its path."""
    with tarfile.open(fileobj=io.BytesIO(git_bytes("archive", rev, "src"))) as tar:
        # the "data" filter where this Python has it (3.11.4+): our own archive either way
        tar.extractall(target, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return target / "src"


def variants(tmp: Path, folder: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Name -> (command, extra environment) of each CLI run."""
    filed_src = extract_src(FILED_REV, tmp / "filed")
    filed_model = filed_src / "faceattrs" / "models" / "attributes.onnx"
    previous = previous_model(tmp)
    if previous is None:
        raise SystemExit(f"no git history here ({PREVIOUS_MODEL_REV} not found)")
    now = [sys.executable, "-c", MAIN, "analyze", str(folder), "-o", str(tmp / "out.jsonl")]
    then_env, now_env = source_env(filed_src), source_env(ROOT / "src")
    return {
        f"then ({FILED_REV}: its code and models)": (now, then_env),
        "now, as shipped": (now, now_env),
        "now, no expression": ([*now, *ATTRIBUTES_ONLY], now_env),
        f"now, no expression, {FILED_REV}'s attribute model": (
            [*now, *ATTRIBUTES_ONLY, "--model", str(filed_model)],
            now_env,
        ),
        f"now, no expression, the previous default ({PREVIOUS_MODEL_REV})": (
            [*now, *ATTRIBUTES_ONLY, "--model", str(previous)],
            now_env,
        ),
    }


def source_env(src: Path) -> dict[str, str]:
    """The environment that makes Python import faceattrs from ``src`` (checked: an
    installed faceattrs must not answer instead)."""
    env = {"PYTHONPATH": str(src)}
    check = [sys.executable, "-c", "import faceattrs; print(faceattrs.__file__)"]
    found = subprocess.run(check, capture_output=True, text=True, env={**os.environ, **env})
    if not Path(found.stdout.strip()).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"faceattrs is imported from {found.stdout.strip()}, not from {src}")
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds of one run (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **env})
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", default=str(DEFAULT_PHOTO), help="photo with several faces")
    parser.add_argument("--photos", type=int, default=60, help="JPEG copies in the folder")
    parser.add_argument("--turns", type=int, default=5, help="runs of every variant")
    args = parser.parse_args()

    encoded = cv2.imencode(
        ".jpg", cover(read_image(args.photo), 1280, 720), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )[1].tobytes()
    print(f"machine: {cpu_model()}")
    print(f"photos:  {args.photos} copies of {Path(args.photo).name} as 1280x720 JPEG")
    with tempfile.TemporaryDirectory(prefix="faceattrs-cli-history-") as name:
        tmp = Path(name)
        folder = tmp / "photos"
        folder.mkdir()
        for i in range(args.photos):
            (folder / f"photo_{i:03d}.jpg").write_bytes(encoded)
        runs = variants(tmp, folder)
        seconds: dict[str, list[float]] = {key: [] for key in runs}
        for _ in range(args.turns):
            for key, (command, env) in runs.items():
                seconds[key].append(timed(command, env))
    then = statistics.median(next(iter(seconds.values())))
    print(f"\nwhole CLI, faceattrs analyze DIR -o out.jsonl, median of {args.turns} turns:")
    for key, values in seconds.items():
        median = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {key}: {median:.2f} s ({spread}), {median / then:.2f}x then")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
