"""Benchmark: in-browser analysis speed (ONNX Runtime Web, WebAssembly; ``--backend webgpu``
on a machine with a GPU) in headless Chromium, multi-threaded and single-threaded, and what
the camera's fast path finds.

Prints figures (not a test). The site from ``faceattrs export-web`` is served on
127.0.0.1 three times, by a static file server like ``python -m http.server``: twice with
the cross-origin isolation headers (COOP/COEP, as ``faceattrs serve`` sends them), once
with the page asked for one WebAssembly thread per core (``?threads=N``, at least 2, at
most 4) and once with the page's own choice (half the cores, at most 4: one thread on 2
cores), and once without the headers (one thread). Chromium's fake
camera plays 640x480 frames made from the shared test clip (faces in view). Per mode:

- camera pipeline: ms per camera frame through the page's camera pipeline
  (inbrowser/live.js: grab the camera picture, detect on the camera's fast path (a full
  pass, or between full passes a look around the faces of the frame before), track,
  align and predict for the faces whose track needs it: a new track's on the page, a known
  track's in the heads' worker while the next frame is detected), measured inside the page
  over ``--frames`` frames back to back; the same pictures then go the full path (what
  images get), for comparison;
- page loop: frames per second of the page's own camera loop (with drawing) over
  ``--seconds`` seconds;
- first image: seconds from choosing a photo to its result on a new visit, the models
  coming from the browser's cache;
- for reference, the Python pipeline (ONNX Runtime, one thread) on the same frames.

Then (one thread) the camera's fast path against the full detection path (what images
and video files get, equal to Python's) on the shared videos' frames at 640 px wide as the
camera grabs them (the short clip at 15 fps, the 1080p walk at 25 fps): faces each
finds, faces of the full path the fast one misses, its extra faces, and the ms of each.

    python bench/bench_browser.py                 # about 5-6 minutes
    python bench/bench_browser.py --json out.json # also the figures as JSON (run_all.py)
    # one person in front of the camera (a photo drifting slowly), the rest as above
    python bench/bench_browser.py --compare-frames 0 \
        --camera-photo ../shared/media/face_recognition/alex_lacamoire1.jpg
    # on a machine with a GPU: the same on WebGPU (the page's choice there)
    python bench/bench_browser.py --backend webgpu --compare-frames 0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import cpu_model  # noqa: E402

from faceattrs.pipeline.boxes import box_iou  # noqa: E402
from faceattrs.server.site import ISOLATION_HEADERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIP = MEDIA / "face_recognition" / "short_hamilton_clip.mp4"
# the shared videos, and the step between the frames compared (camera rates)
VIDEOS = {
    "short_hamilton_clip": (CLIP, 2),
    "facenet_pytorch video": (MEDIA / "facenet_pytorch" / "video.mp4", 1),
}
CHROMIUM = Path(os.environ.get("FACEATTRS_CHROMIUM", "/usr/bin/chromium"))
PHOTO = MEDIA / "face_recognition" / "two_people.jpg"
ORT_VERSION = (ROOT / "src" / "faceattrs" / "web" / "vendor" / "VERSION").read_text().split()[-1]
SIZE = (640, 480)

PAGE_PIPELINE = """async (count) => {
  const m = await import('./inbrowser/analyzer.js');
  const { LiveCamera, HeadsWorker } = await import('./inbrowser/live.js');
  const t0 = performance.now();
  const analyzer = await m.createAnalyzer();
  const load = performance.now() - t0;
  const heads = await HeadsWorker.start();  // as the page's camera describes known tracks
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { width: { ideal: 640 }, height: { ideal: 480 } } });
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  while (!video.videoWidth) await new Promise((r) => setTimeout(r, 20));
  const run = async (live) => {  // frames back to back, as the page's loop runs them
    const rows = [];
    const images = [];
    for (let i = 0; i < count + 3; i += 1) {
      const start = performance.now();
      const image = m.toImageData(video, video.videoWidth, video.videoHeight, 640);
      const result = await live.frame(image, start / 1000);
      rows.push({ frame: performance.now() - start, ...result.ms, faces: result.faces.length });
      images.push(image);
      await new Promise((r) => setTimeout(r, 0));
    }
    return { rows: rows.slice(3), images: images.slice(3) };
  };
  const here = await run(new LiveCamera(analyzer));  // every description on the page
  const { rows, images } = await run(new LiveCamera(analyzer, { heads }));  // the page's way
  stream.getTracks().forEach((t) => t.stop());
  heads.terminate();
  for (const [i, image] of images.entries()) {  // the same pictures on the full path
    const full = await analyzer.analyze(image);
    Object.assign(rows[i], { full: rows[i].frame - rows[i].total + full.ms.total,
                             fullDetect: full.ms.detect });
  }
  return { load, width: video.videoWidth, height: video.videoHeight, rows,
           rowsHere: here.rows, threads: analyzer.threads, backend: analyzer.backend,
           isolated: crossOriginIsolated };
}"""

# The camera's fast path against the full path, frame by frame, each video in order.
PAGE_COMPARE = """async (videos) => {
  const m = await import('./inbrowser/analyzer.js');
  const { CameraMemory } = await import('./inbrowser/camera_memory.js');
  const detector = (await m.createAnalyzer()).detector;
  const boxes = (faces) => faces.map((f) => [...f.xyxy, f.score]);
  const out = {};
  for (const [name, urls] of Object.entries(videos)) {
    const camera = new CameraMemory();
    out[name] = [];
    for (const url of urls) {
      const bitmap = await createImageBitmap(await (await fetch(url)).blob());
      const image = m.toImageData(bitmap, bitmap.width, bitmap.height);
      let start = performance.now();
      const full = await detector.detect(image);
      const fullMs = performance.now() - start;
      start = performance.now();
      const fast = await detector.detect(image, { camera });
      const fastMs = performance.now() - start;
      out[name].push({ full: boxes(full), fast: boxes(fast), fullMs, fastMs });
    }
  }
  return out;
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


def steady_frames(photo: Path, count: int) -> list[np.ndarray]:
    """640x480 BGR frames of one photo drifting slowly (at most 2 px per frame, one slow
    loop): like a person sitting in front of a webcam, the same face in every frame."""
    bgr = cv2.imread(str(photo))
    if bgr is None:
        raise SystemExit(f"{photo}: not an image")
    h, w = bgr.shape[:2]
    scale = 1.15 * max(SIZE[0] / w, SIZE[1] / h)  # room to drift
    big = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    room_x, room_y = big.shape[1] - SIZE[0], big.shape[0] - SIZE[1]
    frames = []
    for i in range(count):
        angle = 2 * np.pi * i / count
        x = round(room_x * (0.5 + 0.5 * np.sin(angle)))
        y = round(room_y * (0.5 + 0.5 * np.cos(angle)))
        frames.append(np.ascontiguousarray(big[y : y + SIZE[1], x : x + SIZE[0]]))
    return frames


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 25) -> None:
    h, w = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())


class _Handler(SimpleHTTPRequestHandler):
    """Static files; with ``isolated`` the COOP/COEP headers that allow WebAssembly threads."""

    isolated = False

    def end_headers(self) -> None:
        if self.isolated:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


def launch_with_camera(playwright, camera: Path, webgpu: bool = False):
    """Headless Debian Chromium whose fake camera plays ``camera`` (a .y4m file); with
    ``webgpu``, its GPU and WebGPU on (on a machine without a GPU: SwiftShader)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            "--no-sandbox",
            *(["--enable-unsafe-webgpu"] if webgpu else ["--disable-gpu"]),
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
        ],
    )


def serve(site: Path, isolated: bool) -> tuple[ThreadingHTTPServer, str]:
    """The site on 127.0.0.1 (a free port) in a thread, like ``python -m http.server``."""
    handler = type("Handler", (_Handler,), {"isolated": isolated})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


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


MODE_KEYS = ("threaded", "isolated", "single")  # --modes names of the three serving modes


def measure_mode(browser, url: str, photo: Path, frames: int, seconds: float) -> dict:
    """One serving mode: the pipeline per camera frame, the page's camera loop and the
    first image after the models are cached, in a fresh browser profile."""
    context = browser.new_context()
    context.grant_permissions(["camera"], origin=url.split("?")[0].rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(url)
    page.wait_for_selector("body[data-server=none]")
    result = page.evaluate(PAGE_PIPELINE, frames)  # downloads the models into the cache
    page.click("#tab-camera")
    page.click("#camera-start")
    count = "Number(document.querySelector('#camera-stage').dataset.frames || 0)"
    page.wait_for_function(f"{count} >= 3")
    start_frames, start = page.evaluate(count), time.perf_counter()
    time.sleep(seconds)
    loop_frames = page.evaluate(count) - start_frames
    result["loop_fps"] = loop_frames / (time.perf_counter() - start)
    page.click("#camera-stop")
    page.reload()  # a new visit: models from the browser's cache
    page.wait_for_selector("body[data-server=none]")
    start = time.perf_counter()
    page.set_input_files("#image-input", str(photo))
    card = page.wait_for_selector(".card[data-state=done]")
    result["first_image_s"] = time.perf_counter() - start
    result["first_image_models"] = page.get_attribute("body", "data-models")
    result["first_image_faces"] = int(card.get_attribute("data-faces"))
    context.close()
    return result


def video_frames(site: Path, limit: int) -> dict[str, list[str]]:
    """The shared videos' frames (every ``step``-th, at most ``limit``) at 640 px wide, as
    the camera grabs them, written as PNG files into the site: name -> their URLs."""
    out = {}
    for name, (path, step) in VIDEOS.items():
        if not path.is_file():
            continue
        folder = site / "bench-frames" / name.replace(" ", "_")
        folder.mkdir(parents=True)
        cap = cv2.VideoCapture(str(path))
        urls, index = [], 0
        while len(urls) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            if index % step == 0:
                h, w = bgr.shape[:2]
                if w > 640:
                    bgr = cv2.resize(bgr, (640, round(h * 640 / w)), interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(folder / f"{index:04d}.png"), bgr)
                urls.append(f"{folder.relative_to(site).as_posix()}/{index:04d}.png")
            index += 1
        cap.release()
        out[name] = urls
    return out


def compare_paths(rows: list[dict]) -> dict:
    """Faces of the full path and the fast one over a video's frames: matched (IoU >= 0.5,
    greedy by IoU), missed by the fast path, extra in it; the matched pairs' mean IoU."""
    full = fast = matched = 0
    ious = []
    for row in rows:
        overlaps = box_iou(  # each face: x0, y0, x1, y1, score
            np.asarray(row["full"], np.float64).reshape(-1, 5)[:, :4],
            np.asarray(row["fast"], np.float64).reshape(-1, 5)[:, :4],
        )
        pairs = [(float(overlaps[i, j]), i, j) for i, j in np.ndindex(overlaps.shape)]
        used_full, used_fast = set(), set()
        for overlap, i, j in sorted(pairs, reverse=True):
            if overlap >= 0.5 and i not in used_full and j not in used_fast:
                used_full.add(i)
                used_fast.add(j)
                ious.append(overlap)
        full += len(row["full"])
        fast += len(row["fast"])
        matched += len(used_full)
    return {
        "frames": len(rows), "full_faces": full, "fast_faces": fast, "missed": full - matched,
        "extra": fast - matched, "matched_mean_iou": statistics.mean(ious) if ious else None,
        "full_ms_median": statistics.median(r["fullMs"] for r in rows),
        "fast_ms_median": statistics.median(r["fastMs"] for r in rows),
    }  # fmt: skip


def compare_report(name: str, c: dict) -> str:
    iou = f", mean IoU of the matched {c['matched_mean_iou']:.3f}" if c["matched_mean_iou"] else ""
    return (
        f"  {name}: {c['frames']} frames; full path {c['full_faces']} faces, fast path "
        f"{c['fast_faces']} (missed {c['missed']}, extra {c['extra']}{iou}); detect ms median "
        f"full {c['full_ms_median']:.1f}, fast {c['fast_ms_median']:.1f}"
    )


def mean_or_none(values: list[float]) -> float | None:
    return statistics.mean(values) if values else None


def split_by_faces(rows: list[dict]) -> dict[str, list[float]]:
    """ms per frame of the frames with a face and of those without (the camera looks for
    faces only around the faces of the frame before, between full passes)."""
    return {
        "with a face": [r["frame"] for r in rows if r["faces"]],
        "without": [r["frame"] for r in rows if not r["faces"]],
    }


def report(name: str, result: dict, seconds: float) -> list[str]:
    rows = result["rows"]
    faces = statistics.mean(r["faces"] for r in rows)
    frame = [r["frame"] for r in rows]
    lines = [
        f"[{name}] {result['backend']}, {result['threads']} WebAssembly thread(s), "
        f"cross-origin isolated: {result['isolated']}",
        f"  camera {result['width']}x{result['height']}, {len(rows)} frames, "
        f"{faces:.1f} faces/frame; models loaded in {result['load']:.0f} ms",
        f"  in-browser ms per camera frame: {summary(frame)}  mean {statistics.mean(frame):6.1f}"
        f"  ({1000 / statistics.mean(frame):.1f} fps by the mean: full passes and region"
        f" looks alternate)",
    ]
    for label, part in split_by_faces(rows).items():
        lines.append(
            f"    frames {label}: {len(part)}"
            + (f", mean {statistics.mean(part):.1f} ms ({1000 / statistics.mean(part):.1f} fps)"
               if part else "")
        )  # fmt: skip
    for stage in ("detect", "align", "predict", "expression"):
        if stage in rows[0]:
            lines.append(f"    {stage:10s} {summary([r[stage] for r in rows])}")
    here = [r["frame"] for r in result["rowsHere"]]
    lines.append(
        f"  without the heads' worker (every description on the page): {summary(here)}"
        f"  ({1000 / statistics.median(here):.1f} fps)"
    )
    full = [r["full"] for r in rows]
    lines.append(
        f"  the same frames on the full path (as images): {summary(full)}"
        f"  ({1000 / statistics.median(full):.1f} fps); detect "
        f"{summary([r['fullDetect'] for r in rows])}"
    )
    lines.append(f"  page camera loop (with drawing): {result['loop_fps']:.1f} frames/s "
                 f"over {seconds:.0f} s")  # fmt: skip
    lines.append(
        f"  first image after the models are cached ({result['first_image_models']}): "
        f"{result['first_image_s']:.2f} s ({result['first_image_faces']} faces)"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames through the pipeline")
    parser.add_argument("--seconds", type=float, default=10.0, help="page camera loop duration")
    parser.add_argument("--photo", default=str(PHOTO), help="photo for the first-image time")
    parser.add_argument(
        "--compare-frames",
        type=int,
        default=140,
        help="frames per shared video for fast path vs full path (0: skip)",
    )
    parser.add_argument(
        "--camera-photo",
        help="the fake camera shows this photo drifting slowly (one person in front of a "
        "webcam) instead of the shared clip (scene cuts, faces coming and going)",
    )
    parser.add_argument(
        "--backend",
        choices=("wasm", "webgpu"),
        default="wasm",
        help="the page's runtime (?backend=; web/inbrowser/runtime.js): webgpu needs a GPU to "
        "mean anything (without one Chromium runs WebGPU in software, far slower)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODE_KEYS),
        help="serving modes to measure, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    wanted = args.modes.split(",")
    if unknown := set(wanted) - set(MODE_KEYS):
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODE_KEYS)}")
    load_before = os.getloadavg()
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found"
        print(f"skipped: {reason}")
        if args.json:
            Path(args.json).write_text(json.dumps({"skipped": reason}) + "\n")
        return 0
    from playwright.sync_api import sync_playwright

    from faceattrs.server.site import export_web

    frames = steady_frames(Path(args.camera_photo), 75) if args.camera_photo else camera_frames(75)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        export_web(site)
        camera = Path(tmp) / "camera.y4m"
        write_y4m(camera, frames)
        photo = Path(args.photo)
        if not photo.is_file():  # no ../shared: a camera frame stands in
            photo = Path(tmp) / "photo.png"
            cv2.imwrite(str(photo), frames[0])
        with sync_playwright() as pw:
            browser = launch_with_camera(pw, camera, webgpu=args.backend == "webgpu")
            version = browser.version
            threads = max(2, min(4, os.cpu_count() or 1))  # one per core, at least 2
            backend = f"backend={args.backend}"
            modes = {  # --modes key: report name, cross-origin isolated, page query
                "threaded": ("threaded", True, f"?threads={threads}&{backend}"),
                "isolated": ("isolated, page's default threads", True, f"?{backend}"),  # serve
                "single": ("single-thread", False, f"?{backend}"),
            }
            for name, isolated, query in (modes[key] for key in MODE_KEYS if key in wanted):
                server, url = serve(site, isolated)
                url += query
                try:
                    results[name] = measure_mode(browser, url, photo, args.frames,
                                                 args.seconds)  # fmt: skip
                finally:
                    server.shutdown()
            videos = video_frames(site, args.compare_frames) if args.compare_frames > 0 else {}
            if videos:
                server, url = serve(site, False)
                try:
                    page = browser.new_page()
                    page.set_default_timeout(900_000)
                    page.goto(f"{url}?{backend}")
                    compared = page.evaluate(PAGE_COMPARE, videos)
                    page.close()
                finally:
                    server.shutdown()
            browser.close()
    loads = [" ".join(f"{v:.2f}" for v in load) for load in (load_before, os.getloadavg())]
    load = f"load average before {loads[0]}, after {loads[1]}"
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {load}")
    print(f"chromium {version} (headless), onnxruntime-web {ORT_VERSION}, {args.backend}")
    source = f"{args.camera_photo}, drifting" if args.camera_photo else f"{CLIP.name} (cuts)"
    print(f"fake camera: {source}")
    for name, result in results.items():
        print("\n".join(report(name, result, args.seconds)))
    first = next(iter(results.values()))["rows"]
    reference = python_reference(frames[: len(first)])
    print(f"python pipeline, 1 thread, same frames: {summary(reference)} ms")
    comparison = {name: compare_paths(rows) for name, rows in compared.items()} if videos else {}
    if comparison:
        print("camera fast path vs full path (in-browser, 1 thread), the shared videos at 640 px:")
        for name, c in comparison.items():
            print(compare_report(name, c))
    if args.json:
        figures = {"cpu": cpu_model(), "cores": os.cpu_count(), "chromium": version,
                   "backend": args.backend}  # fmt: skip
        for name, result in results.items():
            frame = [r["frame"] for r in result["rows"]]
            with_faces, without_faces = split_by_faces(result["rows"]).values()
            figures[name] = {
                "threads": result["threads"],
                "frame_ms_median": statistics.median(frame),
                "frame_ms_median_no_worker": statistics.median(
                    r["frame"] for r in result["rowsHere"]
                ),
                "frame_ms_mean": statistics.mean(frame),
                "frame_ms_mean_with_faces": mean_or_none(with_faces),
                "frame_ms_mean_without_faces": mean_or_none(without_faces),
                "frames_with_faces": len(with_faces),
                # by the mean: the camera's full passes and its cheaper region looks alternate
                "pipeline_fps": 1000 / statistics.mean(frame),
                "full_path_frame_ms_median": statistics.median(r["full"] for r in result["rows"]),
                "camera_loop_fps": result["loop_fps"],
                "first_image_cached_s": result["first_image_s"],
                "models_load_ms": result["load"],
            }
        figures["python_1_thread_ms_median"] = statistics.median(reference)
        figures["load_average"] = [load_before, os.getloadavg()]
        figures["camera_fast_path_vs_full"] = comparison
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
