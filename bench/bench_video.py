"""Video processing speed and the accuracy cost of analysing every k-th frame.

    python bench/bench_video.py [VIDEO] [--model ONNX] [--every 1 2 3] [--cores 2]

Default VIDEO: ../shared/media/facenet_pytorch/video.mp4 (1080p, 25 fps, several
people walking). Prints, per stage: frames per second of wall time, CPU
milliseconds per frame (all threads), and the fps the CPU time allows on 2
dedicated cores (2000 / CPU ms: an upper bound when the machine is shared).
For every=k it compares the timeline with the every-frame one: faces found
(IoU >= 0.5), mean IoU, and track id changes against the every-frame ids.
Without a packaged model or --model, a randomly initialised model is used
(tracking does not depend on it; speed depends on its size).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from faceattrs.video.io import VideoReader, VideoWriter
from faceattrs.video.process import default_analyzer, process_video
from faceattrs.video.tracking import box_iou

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "media" / "facenet_pytorch" / "video.mp4"
PACKAGED_MODEL = ROOT / "src" / "faceattrs" / "models" / "attributes.onnx"


class Clock:
    """Wall and process CPU time of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def report(name: str, frames: int, clock: Clock) -> dict:
    cpu_ms = 1000 * clock.cpu / frames
    row = {
        "stage": name,
        "fps": round(frames / clock.wall, 1),
        "cpu_ms_per_frame": round(cpu_ms, 1),
        "fps_2_cores_cpu_bound": round(2000 / cpu_ms, 1),
    }
    print(
        f"{name:34s} {row['fps']:7.1f} fps  {cpu_ms:7.1f} CPU ms/frame  "
        f"<= {row['fps_2_cores_cpu_bound']:6.1f} fps on 2 cores"
    )
    return row


def decode_only(video: Path) -> tuple[int, Clock]:
    with Clock() as clock, VideoReader(video) as reader:
        frames = sum(1 for _ in reader)
    return frames, clock


def decode_encode(video: Path, out: Path) -> tuple[int, Clock]:
    with Clock() as clock, VideoReader(video) as reader:
        info = reader.info
        writer = VideoWriter(out, info.fps, (info.width, info.height))
        frames = 0
        for _, _, bgr in reader:
            writer.write(bgr, ())
            frames += 1
        writer.close()
    return frames, clock


def load_timeline(path: Path) -> list[list[dict]]:
    return [json.loads(line)["faces"] for line in path.read_text().splitlines()]


def compare(reference: list[list[dict]], other: list[list[dict]]) -> dict:
    """How well ``other`` reproduces the reference faces and their track ids."""
    found = total = 0
    ious = []
    pairs: list[tuple[int, int]] = []
    for ref_faces, faces in zip(reference, other, strict=True):
        total += len(ref_faces)
        if not ref_faces or not faces:
            continue
        iou = box_iou(
            np.array([f["box"] for f in ref_faces], float),
            np.array([f["box"] for f in faces], float),
        )
        while iou.size and iou.max() >= 0.5:
            r, o = np.unravel_index(iou.argmax(), iou.shape)
            found += 1
            ious.append(iou[r, o])
            pairs.append((ref_faces[r]["track_id"], faces[o]["track_id"]))
            iou[r, :] = 0
            iou[:, o] = 0
    majority = {
        ref: Counter(o for r, o in pairs if r == ref).most_common(1)[0][0] for ref, _ in pairs
    }
    changes = sum(1 for ref, o in pairs if majority[ref] != o)
    return {
        "faces_found": round(found / max(total, 1), 4),
        "mean_iou": round(float(np.mean(ious)) if ious else 0.0, 4),
        "faces_with_other_id": changes,
    }


def age_flicker(timeline: list[list[dict]]) -> float:
    """Mean absolute change of a track's age from one frame to the next."""
    last: dict[int, float] = {}
    steps = []
    for faces in timeline:
        seen = {}
        for face in faces:
            if face["track_id"] in last:
                steps.append(abs(face["age"] - last[face["track_id"]]))
            seen[face["track_id"]] = face["age"]
        last = seen
    return float(np.mean(steps)) if steps else 0.0


def model_path(arg: str | None, tmp: Path) -> tuple[Path, str]:
    if arg:
        return Path(arg), arg
    if PACKAGED_MODEL.is_file():
        return PACKAGED_MODEL, "packaged"
    from faceattrs.training.export import export_random

    return Path(export_random(tmp / "random.onnx")), "random (no packaged model yet)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(DEFAULT_VIDEO))
    parser.add_argument("--model", help="attribute model (default: packaged, else random)")
    parser.add_argument("--every", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1, help="model threads (default: 1)")
    parser.add_argument("--cores", type=int, default=2, help="pin to this many cores (default 2)")
    args = parser.parse_args()
    video = Path(args.video)
    if not video.is_file():
        raise SystemExit(f"bench_video: {video} not found")
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        model, model_name = model_path(args.model, tmp)
        with VideoReader(video) as reader:
            info = reader.info
        analyzer = default_analyzer(info.width, info.height, model_path=model, threads=args.threads)
        analyzer.analyze(np.zeros((info.height, info.width, 3), np.uint8))  # load the models
        print(
            f"video {video.name}: {info.width}x{info.height} @ {info.fps:g} fps, "
            f"{info.frame_count} frames; model: {model_name}; min_face {analyzer.min_face} px; "
            f"cores {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f}"
        )
        rows = [report("decode", *decode_only(video))]
        rows.append(report("decode + encode (.mp4)", *decode_encode(video, tmp / "copy.mp4")))
        timelines = {}
        for every in args.every:
            timeline = tmp / f"every{every}.jsonl"
            with Clock() as clock:
                summary = process_video(
                    video, tmp / f"every{every}.mp4", timeline, analyzer=analyzer, every=every
                )
            name = f"analyse+track+write, every={every}"
            row = report(name, summary["frames"], clock)
            row["tracks"] = len(summary["tracks"])
            rows.append(row)
            timelines[every] = load_timeline(timeline)
        with Clock() as clock:
            summary = process_video(video, timeline_out=tmp / "t.jsonl", analyzer=analyzer)
        rows.append(report("analyse+track, no video out", summary["frames"], clock))
        with Clock() as clock:
            summary = process_video(video, tmp / "s.webm", analyzer=analyzer, video_max_side=640)
        rows.append(report("analyse+track+write .webm (640 px)", summary["frames"], clock))
        with Clock() as clock:
            summary = process_video(video, tmp / "a.mp4", analyzer=analyzer, attributes_every_s=0)
        rows.append(report("attributes every frame, every=1", summary["frames"], clock))
        raw = tmp / "raw.jsonl"
        process_video(video, timeline_out=raw, analyzer=analyzer, smooth_s=0)
        reference = timelines.get(1)
        if reference is not None:
            for every, timeline in timelines.items():
                if every != 1:
                    print(f"every={every} vs every frame: {compare(reference, timeline)}")
            flicker_raw = age_flicker(load_timeline(raw))
            print(
                f"age flicker (mean |change| per frame, years): raw {flicker_raw:.2f}, "
                f"smoothed {age_flicker(reference):.2f}"
            )


if __name__ == "__main__":
    main()
