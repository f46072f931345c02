"""Benchmark FaceDetector: median ms per image and faces found, with and without
the small-face pyramid, on a 1280x720 frame and on large photos from ../shared/media.

Run from the repository root (numbers depend on the CPU and its load)::

    nice -n 15 python bench/bench_detect.py [--repeat 10] [--threads 2]
    nice -n 15 python bench/bench_detect.py --passes   # converted vs padded model, CPU ms
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from faceattrs.pipeline.detection import FaceDetector

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def frame_1280x720(bgr: np.ndarray) -> np.ndarray:
    """Fit a photo into a 1280x720 frame (resized, centred on grey)."""
    scale = min(1280 / bgr.shape[1], 720 / bgr.shape[0])
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 110, np.uint8)
    y0, x0 = (720 - small.shape[0]) // 2, (1280 - small.shape[1]) // 2
    frame[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return frame


def big_group(bgr: np.ndarray) -> np.ndarray:
    """A 4000x3000 'group photo': the photo pasted at 40% in a textured canvas."""
    rng = np.random.default_rng(0)
    canvas = cv2.resize(rng.integers(60, 200, (30, 40, 3), np.uint8), (4000, 3000))
    small = cv2.resize(bgr, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas[2000 : 2000 + small.shape[0], 2500 : 2500 + small.shape[1]] = small
    return canvas


def median_ms(detector: FaceDetector, bgr: np.ndarray, repeat: int) -> tuple[float, float, int]:
    """Median wall and CPU (all threads) ms per call, and the number of faces."""
    found = len(detector.detect(bgr))  # warm-up (session, anchors)
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        detector.detect(bgr)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall) * 1000), float(np.median(cpu) * 1000), found


def model_passes(repeat: int) -> None:
    """CPU ms of one ONNX Runtime pass (1 thread), converted vs zero-padded model,
    at the 1280x720 frame's pyramid sizes; runs interleaved so load hits both alike."""
    import onnxruntime as ort

    from faceattrs.pipeline.detection import MODELS_DIR

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    names = ("blazeface_full.onnx", "blazeface_full_padded.onnx")
    sessions = {
        name: ort.InferenceSession(
            str(MODELS_DIR / name), options, providers=["CPUExecutionProvider"]
        )
        for name in names
    }
    rng = np.random.default_rng(0)
    print("CPU ms per pass, 1 thread (median): " + " / ".join(names))
    for label, shape in (
        ("fine level 640x384", (1, 3, 384, 640)),
        ("2 letterbox 192x192", (2, 3, 192, 192)),
    ):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeat + 1):
            for name, session in sessions.items():
                start = time.process_time()
                session.run(None, {"input": x})
                cpu[name].append(time.process_time() - start)
        cells = " / ".join(f"{np.median(cpu[n][1:]) * 1000:6.1f}" for n in names)
        print(f"  {label:22s} {cells}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--min-face", type=float, default=20)
    parser.add_argument("--passes", action="store_true", help="only the per-pass model CPU table")
    args = parser.parse_args()
    if args.passes:
        model_passes(args.repeat)
        return
    if not MEDIA.is_dir():
        raise SystemExit(f"needs the photos in {MEDIA}")
    multiface = cv2.imread(str(MEDIA / "facenet_pytorch" / "multiface.jpg"))
    images = {"1280x720 (multiface)": frame_1280x720(multiface)}
    for name in (
        "deepface/selfie-many-people.jpg",
        "deepface/couple.jpg",
        "face_recognition/obama_and_biden.jpg",
    ):
        images[name] = cv2.imread(str(MEDIA / name))
    images["4000x3000 (multiface at 40%)"] = big_group(multiface)
    detectors = {
        "native only": FaceDetector(
            "full", min_face=args.min_face, pyramid=False, threads=args.threads
        ),
        "pyramid": FaceDetector("full", min_face=args.min_face, threads=args.threads),
        "short": FaceDetector("short", min_face=args.min_face, threads=args.threads),
    }
    print("wall ms / CPU ms (all threads) / faces found; wall time is inflated on a busy machine")
    print(f"{'image':34s} {'size':>10s} " + " ".join(f"{k:>24s}" for k in detectors))
    for name, bgr in images.items():
        cells = []
        for det in detectors.values():
            ms, cpu_ms, found = median_ms(det, bgr, args.repeat)
            cells.append(f"{ms:7.1f} / {cpu_ms:7.1f} / {found:2d}")
        size = f"{bgr.shape[1]}x{bgr.shape[0]}"
        print(f"{name:34s} {size:>10s} " + " ".join(f"{c:>24s}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
