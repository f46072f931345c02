"""Load test of ``faceattrs serve`` on loopback: image clients and camera streams at once.

    python bench/load_test.py             # starts a server: 16 clients + 4 streams for 60 s
    python bench/load_test.py --clients 4 --streams 2 --duration 30 --json load.json
    python bench/load_test.py --url http://127.0.0.1:8000   # an already running server

C clients each POST a photo (by default one face, 640x480) to ``/api/v1/images`` in a
closed loop (next request when the reply is in; after a 429/503 the client waits its
Retry-After) and S WebSocket streams send camera frames to ``/api/v1/stream`` (one
frame in flight, like the web page) for T seconds, at most ``--max-requests`` images
in all. Reports throughput (requests/s, faces/s), p50/p99 latency of the answered
requests, the shed ones (429/503, counted apart), status codes, 5xx and dropped
connections, and the server process's resident memory sampled over the run (peak,
and at the start and end of the load). Only 127.0.0.1 / localhost URLs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_clients import load_frames, load_photo, run_load  # noqa: E402
from machine_info import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
DEFAULT_PHOTO = MEDIA / "face_recognition" / "obama.jpg"  # one face, fitted into 640x480
DEFAULT_VIDEO = MEDIA / "face_recognition" / "short_hamilton_clip.mp4"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STARTUP_S = 180.0  # model loading on a busy 2-core machine


class MemorySampler:
    """Samples a process's resident memory (VmRSS) every ``every_s`` in a thread."""

    def __init__(self, pid: int | None, every_s: float = 0.2) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float]] = []  # (time, MiB)
        self.hwm_mib: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def start(self) -> MemorySampler:
        if self.pid is not None:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.hwm_mib = proc_status_mib(self.pid, "VmHWM")  # while the process still runs

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = proc_status_mib(self.pid, "VmRSS")
            if rss is not None:
                self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.every_s)

    def summary(self) -> dict:
        if not self.samples:
            return {"sampled": False}
        values = [mib for _, mib in self.samples]
        tenth = max(1, len(values) // 10)
        return {
            "sampled": True,
            "samples": len(values),
            "peak_rss_mib": round(max(values), 1),
            "start_rss_mib": round(float(np.mean(values[:tenth])), 1),  # first tenth
            "end_rss_mib": round(float(np.mean(values[-tenth:])), 1),  # last tenth
            "vm_hwm_mib": self.hwm_mib,  # peak since the process began
            "rss_by_tenth_mib": [  # mean of each tenth of the run: flat means bounded
                round(float(np.mean(part)), 1) for part in np.array_split(values, 10) if len(part)
            ],
        }


def proc_status_mib(pid: int | None, key: str) -> float | None:
    """A memory figure (MiB) from /proc/PID/status (psutil is not needed)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, serve_args: list[str], log: Path) -> subprocess.Popen:
    """``faceattrs serve`` on 127.0.0.1:port in a subprocess (its output to ``log``)."""
    command = [sys.executable, "-m", "faceattrs", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), *serve_args]
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def wait_healthy(url: str, process: subprocess.Popen | None, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            response = httpx.get(url + "/health", timeout=2.0)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"no answer from {url}/health within {timeout_s:g} s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def check_loopback(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme != "http" or parsed.hostname not in LOOPBACK:
        raise SystemExit(f"load_test: only http://127.0.0.1 or localhost URLs, got {url}")
    return url.rstrip("/")


def machine() -> dict:
    """CPU model, cores and memory of this machine."""
    cpu = cpu_model()
    ram = None
    try:
        first = Path("/proc/meminfo").read_text().splitlines()[0]  # MemTotal: N kB
        ram = round(int(first.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": ram,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def print_table(result: dict) -> None:
    config = result["config"]
    print(
        f"\nload test: {config['clients']} image clients + {config['streams']} camera streams, "
        f"{result['seconds']:.1f} s, server {result['url']}"
    )
    print(f"photo: {result['photo']}; camera frames: {result['frames']}")
    print(f"{'':18s} {'requests':>8s} {'req/s':>7s} {'faces/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s}"
          f" {'shed':>5s} {'5xx':>4s} {'dropped':>7s}  statuses")  # fmt: skip
    for name in ("images", "streams"):
        row = result[name]
        print(
            f"{name:18s} {row['requests']:8d} {row['per_s']:7.2f} {row['faces_per_s']:8.1f} "
            f"{_ms(row['p50_ms'])} {_ms(row['p99_ms'])} {row['shed']:5d} {row['5xx']:4d} "
            f"{row['dropped']:7d}  "
            f"{row['statuses']}"
        )
    memory = result["server_memory"]
    if memory.get("sampled"):
        print(
            f"server memory: peak {memory['peak_rss_mib']} MiB RSS over the run "
            f"(start {memory['start_rss_mib']}, end {memory['end_rss_mib']}; "
            f"{memory['samples']} samples); VmHWM {memory['vm_hwm_mib']} MiB"
        )
        print(f"  RSS by tenth of the run (MiB): {memory['rss_by_tenth_mib']}")
    else:
        print("server memory: not sampled (server not started here, or no /proc)")
    for name in ("images", "streams"):
        for error in result[name]["errors"]:
            print(f"  {name} error: {error}")


def _ms(value: float | None) -> str:
    return f"{value:8.1f}" if value is not None else f"{'-':>8s}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="test this running server (loopback only) instead")
    parser.add_argument("--clients", type=int, default=16, help="concurrent image clients (16)")
    parser.add_argument("--streams", type=int, default=4, help="camera WebSocket streams (4)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--max-requests", type=int, default=5000, help="image requests, at most")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="seconds (60)")
    parser.add_argument("--photo", default=str(DEFAULT_PHOTO), help="photo the clients post")
    parser.add_argument(
        "--photo-size", default="640x480", help="fit the photo into WxH (640x480); 0: as is"
    )
    parser.add_argument("--photo-side", type=int, default=1280, help="longer side at most (1280)")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra faceattrs serve argument for the started server (repeat)",
    )
    parser.add_argument("--video", default=str(DEFAULT_VIDEO), help="camera frames from this")
    parser.add_argument("--frame-width", type=int, default=640, help="camera frame width (640)")
    parser.add_argument("--model", help="attribute model for the started server")
    parser.add_argument("--json", metavar="OUT", help="write the figures here")
    args = parser.parse_args(argv)
    if args.clients < 0 or args.streams < 0 or args.clients + args.streams == 0:
        parser.error("need at least one client or stream")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    canvas = None if args.photo_size == "0" else tuple(map(int, args.photo_size.split("x")))
    photo, photo_text = load_photo(args.photo, args.photo_side, canvas)
    frames, frames_text = load_frames(args.video, args.frame_width, 120, photo)
    process = None
    with tempfile.TemporaryDirectory(prefix="faceattrs-load-") as tmp:
        log = Path(tmp) / "server.log"
        if args.url:
            url = check_loopback(args.url)
        else:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            serve_args = ["--max-streams", str(max(4, args.streams))]
            serve_args += ["--model", args.model] if args.model else []
            serve_args += args.serve_arg
            process = start_server(port, serve_args, log)
        try:
            health = wait_healthy(url, process, STARTUP_S)
            sampler = MemorySampler(process.pid if process else None).start()
            try:
                images, streams, seconds = asyncio.run(run_load(url, photo, frames, args))
            finally:
                sampler.stop()
            alive = wait_healthy(url, process, 10.0)["status"] == "ok"
        except BaseException:
            if process is not None and log.is_file():
                sys.stderr.write(log.read_text(errors="replace")[-3000:])
            raise
        finally:
            if process is not None:
                stop_server(process)
    result = {
        "url": url,
        "started_server": process is not None,
        "server_version": health.get("version"),
        "config": {k: getattr(args, k) for k in ("clients", "streams", "duration", "max_requests")},
        "photo": photo_text,
        "frames": frames_text,
        "seconds": round(seconds, 2),
        "images": images.summary(seconds),
        "streams": streams.summary(seconds),
        "server_memory": sampler.summary(),
        "healthy_after": alive,
        "machine": machine(),
    }
    print_table(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    failures = result["images"]["5xx"] + result["images"]["dropped"] + result["streams"]["dropped"]
    return 1 if failures or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
