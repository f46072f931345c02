"""Benchmark: in-browser analysis speed (ONNX Runtime Web, one WebAssembly thread) in
headless Chromium, per camera frame.

Prints figures (not a test). The site from ``faceattrs export-web`` is served by
``python -m http.server`` on 127.0.0.1; Chromium's fake camera plays 640x480 frames
made from the shared test clip (faces in view). Three figures:

- pipeline: ms per camera frame through the in-page pipeline (grab the camera picture,
  detect, align, predict), measured inside the page over ``--frames`` frames;
- page loop: frames per second of the page's own camera loop (with drawing) over
  ``--seconds`` seconds;
- for reference, the Python pipeline (ONNX Runtime, one thread) on the same frames.

    python bench/bench_browser.py                 # about 60-90 s
    /work/notes/pause_training.sh python bench/bench_browser.py   # on the project machine
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "media" / "face_recognition" / "short_hamilton_clip.mp4"
CHROMIUM = Path(os.environ.get("FACEATTRS_CHROMIUM", "/usr/bin/chromium"))
SIZE = (640, 480)

PAGE_PIPELINE = """async (count) => {
  const m = await import('./inbrowser/analyzer.js');
  const t0 = performance.now();
  const analyzer = await m.createAnalyzer();
  const load = performance.now() - t0;
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { width: { ideal: 640 }, height: { ideal: 480 } } });
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  while (!video.videoWidth) await new Promise((r) => setTimeout(r, 20));
  const rows = [];
  for (let i = 0; i < count + 3; i += 1) {
    const start = performance.now();
    const image = m.toImageData(video, video.videoWidth, video.videoHeight, 640);
    const result = await analyzer.analyze(image);
    rows.push({ frame: performance.now() - start, ...result.ms, faces: result.faces.length });
    await new Promise((r) => setTimeout(r, 0));
  }
  stream.getTracks().forEach((t) => t.stop());
  return { load, width: video.videoWidth, height: video.videoHeight, rows: rows.slice(3) };
}"""


def camera_frames(count: int) -> list[np.ndarray]:
    """640x480 BGR frames of the shared clip (centre crop), or faceless synthetic ones."""
    frames = []
    if CLIP.is_file():
        cap = cv2.VideoCapture(str(CLIP))
        while len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            scale = max(SIZE[0] / w, SIZE[1] / h)
            size = (round(w * scale), round(h * scale))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            top, left = (bgr.shape[0] - SIZE[1]) // 2, (bgr.shape[1] - SIZE[0]) // 2
            frames.append(np.ascontiguousarray(bgr[top : top + SIZE[1], left : left + SIZE[0]]))
        cap.release()
    if not frames:
        print(f"note: {CLIP} not found; synthetic frames without faces")
        frames = [np.full((SIZE[1], SIZE[0], 3), 90 + i % 50, np.uint8) for i in range(count)]
    return frames


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 25) -> None:
    h, w = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())


def serve(site: Path) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "-d", str(site), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    match = re.search(r"port (\d+)", server.stdout.readline())
    if not match:
        server.terminate()
        raise SystemExit("the static file server did not start")
    return server, f"http://127.0.0.1:{match.group(1)}/"


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(values):6.1f}  p90 {p90:6.1f}"


def python_reference(frames: list[np.ndarray]) -> list[float]:
    from faceattrs.pipeline.analyzer import FaceAnalyzer

    analyzer = FaceAnalyzer(threads=1)
    analyzer.analyze(frames[0])
    times = []
    for bgr in frames:
        start = time.perf_counter()
        analyzer.analyze(bgr)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames through the pipeline")
    parser.add_argument("--seconds", type=float, default=10.0, help="page camera loop duration")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} not found")
    from playwright.sync_api import sync_playwright

    from faceattrs.server.site import export_web

    frames = camera_frames(75)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        export_web(site)
        camera = Path(tmp) / "camera.y4m"
        write_y4m(camera, frames)
        server, url = serve(site)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM),
                    headless=True,
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        "--use-fake-ui-for-media-stream",
                        "--use-fake-device-for-media-stream",
                        f"--use-file-for-fake-video-capture={camera}",
                    ],
                )
                version = browser.version
                context = browser.new_context()
                context.grant_permissions(["camera"], origin=url.rstrip("/"))
                page = context.new_page()
                page.set_default_timeout(120_000)
                page.goto(url)
                page.wait_for_selector("body[data-server=none]")
                result = page.evaluate(PAGE_PIPELINE, args.frames)
                page.click("#tab-camera")
                page.click("#camera-start")
                count = "Number(document.querySelector('#camera-stage').dataset.frames || 0)"
                page.wait_for_function(f"{count} >= 3")
                start_frames, start = page.evaluate(count), time.perf_counter()
                time.sleep(args.seconds)
                loop_frames = page.evaluate(count) - start_frames
                loop_fps = loop_frames / (time.perf_counter() - start)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    rows = result["rows"]
    faces = statistics.mean(r["faces"] for r in rows)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"chromium {version} (headless), onnxruntime-web, wasm, 1 thread")
    shape = f"{result['width']}x{result['height']}"
    print(f"camera {shape}, {len(rows)} frames, {faces:.1f} faces/frame")
    print(f"models loaded in {result['load']:.0f} ms")
    print(f"in-browser ms per camera frame: {summary([r['frame'] for r in rows])}")
    for stage in ("detect", "align", "predict"):
        print(f"  {stage:8s} {summary([r[stage] for r in rows])}")
    print(f"page camera loop (with drawing): {loop_fps:.1f} frames/s over {args.seconds:.0f} s")
    reference = python_reference(frames[: len(rows)])
    print(f"python pipeline, 1 thread, same frames: {summary(reference)} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
