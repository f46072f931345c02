"""Every figure faceattrs quotes, in one table: accuracy, latency, throughput, video, server.

    python bench/run_all.py                # full run (a few minutes), writes reports/bench/latest.*
    python bench/run_all.py --quick        # short smoke run (about a minute)
    python bench/run_all.py --skip load video --out /tmp/bench

Sections (each also runs alone; this script runs them and reads their output):

* accuracy: the UTKFace test split metrics of the shipped model and of the seed
  baseline, read from the reports ``faceattrs evaluate`` and ``faceattrs baseline``
  wrote (``--evaluate`` recomputes the shipped model's instead, into a temp folder);
* analyze: ``bench/bench_analyze.py`` (latency per photo, attribute throughput, the whole
  CLI on 60 photos), for the packaged model and, in a full run, the default it replaced
  (read from git at ``PREVIOUS_MODEL_REV``), one after the other on the same machine, and
  ``bench/bench_cli_history.py`` (the whole CLI now against the CLI when #16 was filed);
* expression: ``bench/bench_expression.py`` (the expression head's cost per face and its
  share of ``analyze`` on the six-face photo);
* video: ``bench/bench_video.py`` (frames per second);
* identity: ``bench/bench_embedding.py`` (embedding time per face, ``people`` on 1,000
  FairFace images, video fps with re-identification on and off; needs ../shared/data);
* load: ``bench/load_test.py`` (16 image clients posting a one-face 640x480 photo and
  4 camera streams for 60 s: throughput, p99 latency, shed requests, 5xx, memory);
* batch: ``bench/bench_batch.py`` (images/s of ``analyze --format parquet``, local engine
  and Ray Data engine, Ray's start-up; the quick run skips Ray);
* browser: ``bench/bench_browser.py`` (the page's in-browser mode in headless Chromium,
  multi-threaded and single-threaded WebAssembly; skipped without Chromium);
* detection: ``bench/bench_detection_recall.py`` (detector recall on face crops at
  several sizes and on small pasted faces, false faces per 100 face-free images, time
  per 1280x720 photo; needs ../shared/data, skipped without it).

Writes ``OUT/latest.json`` (every figure, the machine, the commands and their raw
output) and ``OUT/latest.md`` (the table). Exit code 1 if a section failed.
Benchmarks measured while other work runs on the machine are slower; the load
average at the start is recorded.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import DEFAULT_PHOTO, MEDIA, machine  # noqa: E402
from run_all_reports import (  # noqa: E402
    ACCURATE_REPORT,
    BASELINE_COMMAND,
    BASELINE_REPORT,
    MODEL_PATH,
    OURS_COMMAND,
    OURS_REPORT,
    PREVIOUS_MODEL_REV,
    commit,
    digest,
    model_id,
    previous_model,
    read_cross,
    read_fer_metrics,
    read_metrics,
)
from run_all_table import markdown  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PACKAGED_MODEL = ROOT / MODEL_PATH
VIDEO = MEDIA / "facenet_pytorch" / "video.mp4"  # 1080p, 25 fps, people walking
SECTIONS = (
    "accuracy", "analyze", "expression", "video", "identity", "load", "batch", "browser",
    "detection",
)  # fmt: skip
QUICK_VIDEO_FRAMES = 25


def run(command: list[str], timeout_s: float) -> str:
    """Run a benchmark script; its stdout (raises with its last output on failure)."""
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"exit code {done.returncode}: {' | '.join(tail)}")
    return done.stdout


def figures_line(output: str) -> dict:
    """The JSON figures line of a benchmark's output (those scripts print it with the CPU
    first; other lines, such as a child command's, may come before or after it)."""
    return json.loads(next(line for line in output.splitlines() if line.startswith('{"cpu"')))


def shown(command: list[str]) -> str:
    """The command as a user would type it (paths relative to the repository)."""
    words = ["python" if word == sys.executable else word for word in command]
    if words[:3] == ["python", "-m", "faceattrs"]:
        words = ["faceattrs", *words[3:]]
    shared = str(ROOT.parent / "shared") + "/"
    return shlex.join(w.removeprefix(str(ROOT) + "/").replace(shared, "../shared/") for w in words)


def photo_args(args: argparse.Namespace) -> list[str]:
    return [] if args.photo == str(DEFAULT_PHOTO) else ["--photo", args.photo]


# ------------------------------------------------------------------ accuracy


def accuracy(args: argparse.Namespace, tmp: Path) -> dict:
    model = Path(args.model) if args.model else PACKAGED_MODEL
    if args.evaluate:
        out = tmp / "eval"
        command = [sys.executable, "-m", "faceattrs", "evaluate", str(model)]
        command += ["--split", "test", "--out", str(out), "--quiet"]
        run(command, 3600)
        ours = read_metrics(out / "metrics.json", shown(command).replace(str(out), "TMP"))
    else:
        ours = read_metrics(OURS_REPORT, OURS_COMMAND)
        reported = ROOT / str(ours.get("model"))
        if model.is_file() and reported.is_file() and model.resolve() != reported.resolve():
            ours["warning"] = f"figures of {ours['model']}, not of {model}; use --evaluate"
        elif model.is_file() and OURS_REPORT.is_file():  # the report names its file's digest
            if (ours.get("model_sha256") or "")[:12] != digest(model):
                ours["warning"] = "not the model file this report measured: rerun the command"
    seed = read_metrics(BASELINE_REPORT, BASELINE_COMMAND)
    return {
        "ours": ours,
        "seed_baseline": seed,
        "expression": read_fer_metrics(),
        "versus_previous": read_cross(),
        "accurate_tier": read_cross(ACCURATE_REPORT, {"accurate": "accurate tier"}),
    }


# ------------------------------------------------------------------ analyze

_TIMED = re.compile(
    r"^(?P<indent>\s*)(?P<name>\S.*?)\s+median\s+(?P<median>[\d.]+) ms\s+p90\s+(?P<p90>[\d.]+)"
)
_RATE = re.compile(r"batch\s+(?P<batch>\d+):\s+(?P<rate>[\d.]+) faces/s")
_PHOTO = re.compile(r"^photo:\s+(?P<text>.*?(?P<faces>\d+) faces)")
_ACCURATE_EXTRA = re.compile(r"accurate extra per face .*?: (?P<ms>[\d.]+) ms")
_CLI = re.compile(r"whole CLI, (?P<photos>\d+) photos .*?: (?P<s>[\d.]+) s")


def analyze(args: argparse.Namespace, tmp: Path) -> dict:
    command = [sys.executable, str(BENCH / "bench_analyze.py"), *photo_args(args)]
    repeats = args.repeats or (5 if args.quick else None)  # None: the script's default
    command += ["--repeats", str(repeats)] if repeats else []
    command += ["--cli-photos", "0"] if args.quick else []
    figures = analyze_figures([*command, *(["--model", args.model] if args.model else [])])
    if args.model is None and not args.quick:  # the packaged model beside the one it replaced
        previous = previous_model(tmp)
        if previous is None:
            figures["previous_model"] = {"missing": f"git show {PREVIOUS_MODEL_REV}:{MODEL_PATH}"}
        else:
            found = analyze_figures([*command, "--model", str(previous)])
            found["command"] = found["command"].replace(str(previous), "PREVIOUS.onnx")
            found["model"] = f"{MODEL_PATH} at {PREVIOUS_MODEL_REV} (sha256 {digest(previous)})"
            figures["previous_model"] = found
        history = [sys.executable, str(BENCH / "bench_cli_history.py"), "--turns", "3"]
        lines = run(history, 900).splitlines()  # the CLI on the day issue #16 was filed
        figures["cli_history"] = {"runs": [s.strip() for s in lines if " s (" in s]}
        figures["cli_history"]["command"] = shown(history)
    return figures


def analyze_figures(command: list[str]) -> dict:
    """Run bench_analyze.py and read its figures."""
    output = run(command, 900)
    timings = {m["name"]: m.groupdict() for m in map(_TIMED.match, output.splitlines()) if m}
    rates = {int(m["batch"]): float(m["rate"]) for m in _RATE.finditer(output)}
    photo = next((m for m in map(_PHOTO.match, output.splitlines()) if m), None)
    stages = {name: float(t["median"]) for name, t in timings.items() if len(t["indent"]) > 2}
    latency = timings.get("analyze(bgr array)")
    extra = _ACCURATE_EXTRA.search(output)
    cli = _CLI.search(output)
    return {
        "photo": photo["text"] if photo else None,
        "faces": int(photo["faces"]) if photo else None,
        "latency_median_ms": float(latency["median"]) if latency else None,
        "latency_p90_ms": float(latency["p90"]) if latency else None,
        "latency_jpeg_median_ms": _median(timings.get("analyze(JPEG bytes)")),
        "latency_1_thread_median_ms": _median(timings.get("analyze(bgr, 1 thread)")),
        "stages_median_ms": stages,
        "faces_per_s_batch_1": rates.get(1),
        "faces_per_s_batch_32": rates.get(32),
        "accurate_latency_median_ms": _median(timings.get("accurate analyze(bgr)")),
        "accurate_extra_ms_per_face": float(extra["ms"]) if extra else None,
        "cli_photos": int(cli["photos"]) if cli else None,
        "cli_seconds": float(cli["s"]) if cli else None,
        "command": shown(command),
        "output": output,
    }


def _median(timing: dict | None) -> float | None:
    return float(timing["median"]) if timing else None


# ------------------------------------------------------------------ video

_STAGE = re.compile(r"^(?P<stage>\S.*?)\s+(?P<fps>[\d.]+) fps\s+(?P<cpu>[\d.]+) CPU ms/frame")


def video(args: argparse.Namespace, tmp: Path) -> dict:
    source = Path(args.video)
    if args.quick:
        source = first_frames(source, tmp / f"first{QUICK_VIDEO_FRAMES}.mp4", QUICK_VIDEO_FRAMES)
    command = [sys.executable, str(BENCH / "bench_video.py"), str(source)]
    command += ["--every", "1"] if args.quick else []
    command += ["--model", args.model] if args.model else []
    output = run(command, 1200)
    stages = {
        m["stage"].strip(): {"fps": float(m["fps"]), "cpu_ms_per_frame": float(m["cpu"])}
        for m in map(_STAGE.match, output.splitlines())
        if m
    }
    main_stage = stages.get("analyse+track+write, every=1", {})
    header = re.match(r"video (?P<name>\S+): (?P<size>\S+) @ (?P<fps>\S+) fps, (?P<n>\d+) frames",
                      output)  # fmt: skip
    described = None
    if header:
        frames = f"first {header['n']} frames" if args.quick else f"{header['n']} frames"
        name = Path(args.video).name if args.quick else header["name"]
        described = f"{name}, {frames}, {header['size']} @ {header['fps']} fps"
    return {
        "video": described,
        "fps_every_frame": main_stage.get("fps"),
        "stages": stages,
        "command": shown(command).replace(str(tmp), "TMP"),
        "output": output,
    }


def first_frames(source: Path, out: Path, frames: int) -> Path:
    """The first ``frames`` frames of a video, re-encoded (for the quick run)."""
    from faceattrs.video.io import VideoReader, VideoWriter

    with VideoReader(source) as reader:
        writer = VideoWriter(out, reader.info.fps, (reader.info.width, reader.info.height))
        for index, _, bgr in reader:
            if index >= frames:
                break
            writer.write(bgr, ())
        writer.close()
    return out


# ------------------------------------------------------------------ expression


def expression(args: argparse.Namespace, tmp: Path) -> dict:
    """The expression head's cost per face (int8 and float) and its share of ``analyze``."""
    command = [sys.executable, str(BENCH / "bench_expression.py"), "--json", *photo_args(args)]
    command += ["--repeats", "5"] if args.quick else []
    return {**figures_line(run(command, 900)), "command": shown(command)}


# ------------------------------------------------------------------ identity


def identity(args: argparse.Namespace, tmp: Path) -> dict:
    """Embedding time per face, ``people`` on FairFace images, video fps with re-id on/off."""
    if not (ROOT.parent / "shared" / "data" / "fairface").is_dir():
        return {"skipped": "../shared/data/fairface not found"}
    source = Path(args.video)
    if args.quick:
        source = first_frames(source, tmp / f"first{QUICK_VIDEO_FRAMES}.mp4", QUICK_VIDEO_FRAMES)
    command = [sys.executable, str(BENCH / "bench_embedding.py"), "--video", str(source)]
    command += (
        ["--n", "20", "--people", "50", "--rounds", "1"] if args.quick else ["--people", "1000"]
    )
    return {**figures_line(run(command, 1800)), "command": shown(command).replace(str(tmp), "TMP")}


# ------------------------------------------------------------------ load


def load(args: argparse.Namespace, tmp: Path) -> dict:
    out = tmp / "load.json"
    seconds = args.load_seconds or (5 if args.quick else 60)
    clients, streams = (2, 1) if args.quick else (16, 4)
    command = [sys.executable, str(BENCH / "load_test.py"), "--duration", str(seconds)]
    command += ["--clients", str(clients), "--streams", str(streams), "--json", str(out)]
    command += ["--model", args.model] if args.model else []  # its one-face 640x480 photo
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 600)
    if not out.is_file():  # exit code 1 with a JSON file: the run had 5xx or drops
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"exit code {done.returncode}: {' | '.join(tail)}")
    result = json.loads(out.read_text())
    result.pop("machine", None)
    return {**result, "command": shown(command).replace(str(out), "OUT.json")}


# ------------------------------------------------------------------ batch


def batch(args: argparse.Namespace, tmp: Path) -> dict:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return {"skipped": "pyarrow not installed: pip install 'faceattrs[parquet]'"}
    out = tmp / "batch.json"
    command = [sys.executable, str(BENCH / "bench_batch.py"), "--json", str(out)]
    command += ["--images", "30", "--skip-ray"] if args.quick else []
    command += ["--model", args.model] if args.model else []
    output = run(command, 1800)
    result = json.loads(out.read_text())
    return {**result, "command": shown(command).replace(str(out), "OUT.json"), "output": output}


# ------------------------------------------------------------------ browser


def browser(args: argparse.Namespace, tmp: Path) -> dict:
    out = tmp / "browser.json"
    command = [sys.executable, str(BENCH / "bench_browser.py"), "--json", str(out)]
    if args.quick:  # two of the three modes, each briefly: about 40 s less than all three
        command += ["--frames", "3", "--seconds", "1", "--compare-frames", "4"]
        command += ["--modes", "threaded,single"]
    command += photo_args(args)
    output = run(command, 1200)
    return {**json.loads(out.read_text()), "command": shown(command).replace(str(out), "OUT.json"),
            "output": output}  # fmt: skip


# ------------------------------------------------------------------ detection


def detection(args: argparse.Namespace, tmp: Path) -> dict:
    data = ROOT.parent / "shared" / "data"
    if not data.is_dir():
        return {"skipped": f"{data} not found"}
    command = [sys.executable, str(BENCH / "bench_detection_recall.py"), "--out", str(tmp)]
    if args.quick:
        command += ["--limit", "20", "--scenes", "3", "--edges", "20", "--face-free", "30"]
        command += ["--repeats", "3"]
    run(command, 3600)
    result = json.loads((tmp / "detection_recall.json").read_text())
    return {**result, "command": shown(command).replace(str(tmp), "TMP")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench"), help="output folder")
    parser.add_argument("--skip", nargs="+", default=[], choices=SECTIONS, help="sections to skip")
    parser.add_argument("--model", help="attribute model (default: the packaged one)")
    parser.add_argument("--photo", default=str(DEFAULT_PHOTO), help="photo with several faces")
    parser.add_argument("--video", default=str(VIDEO), help="video for the fps figures")
    parser.add_argument("--evaluate", action="store_true", help="recompute our accuracy")
    parser.add_argument("--repeats", type=int, help="bench_analyze repeats (30; quick 5)")
    parser.add_argument("--load-seconds", type=float, help="load duration (30; quick 5)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    figures: dict = {
        "quick": args.quick,
        "command": shown([sys.executable, "bench/run_all.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "commit": commit(),
        "model": model_id(Path(args.model) if args.model else PACKAGED_MODEL),
        "errors": {},
    }
    steps = {"accuracy": accuracy, "analyze": analyze, "expression": expression, "video": video,
             "identity": identity, "load": load, "batch": batch, "browser": browser,
             "detection": detection}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="faceattrs-bench-") as tmp:
        for name, step in steps.items():
            if name in args.skip:
                continue
            print(f"run_all: {name} ...", file=sys.stderr, flush=True)
            try:
                figures[name] = step(args, Path(tmp))
            except Exception as exc:  # one section failing must not lose the others
                figures["errors"][name] = " ".join(str(exc).split()) or type(exc).__name__
    figures["seconds"] = round(time.monotonic() - started, 1)
    figures["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(figures, indent=2) + "\n")
    table = markdown(figures)
    (out / "latest.md").write_text(table)
    print(table)
    print(f"run_all: wrote {out / 'latest.json'} and {out / 'latest.md'}", file=sys.stderr)
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
