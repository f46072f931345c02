"""Face embedding speed: per face at batch 1 and batched, alignment, and ``people``.

Faces: the largest face of each of ``--n`` FairFace validation images, found and
aligned once (our detector, the embedding template). Then, on ``--threads`` threads:
the embedding model on one chip at a time and on batches of ``--batch``; the
alignment (warp to the 150 px chip) per face; the clustering of ``people`` on the
embeddings; and with ``--people N`` the whole ``faceattrs people`` command (decode,
detect, attributes, embeddings, clustering) on N FairFace images. Wall and CPU time
(the machine may be shared); prints JSON, then a Markdown table.

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_embedding.py --n 200 --people 1000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from faceattrs.media import read_image
from faceattrs.pipeline.detection import FaceDetector
from faceattrs.pipeline.embedding import EmbeddingModel
from faceattrs.pipeline.people import cluster_faces

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine_info import cpu_model  # noqa: E402

FAIRFACE = ROOT.parent / "shared" / "data" / "fairface"


def fairface_paths(n: int) -> list[Path]:
    split = ROOT / "splits" / "fairface" / "val.txt"
    names = [line.split("\t")[0] for line in split.read_text().splitlines() if line.strip()]
    return [FAIRFACE / name for name in names[:n]]


def timed(fn, repeat: int = 1) -> tuple[float, float]:
    """(wall, CPU) seconds of ``repeat`` calls of ``fn``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="faces for the model timings")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--people", type=int, default=0, help="images for `faceattrs people`")
    parser.add_argument("--video", type=Path, help="video for fps with re-id off and on")
    parser.add_argument("--rounds", type=int, default=2, help="video runs per setting")
    args = parser.parse_args()
    detector = FaceDetector("full", threads=args.threads)
    model = EmbeddingModel(threads=args.threads, batch_size=args.batch)
    images, keypoints = [], []
    for path in fairface_paths(args.n):
        bgr = read_image(path)
        dets = detector.detect(bgr)
        if len(dets):
            i = int(np.argmax(dets.xyxy[:, 2] - dets.xyxy[:, 0]))
            images.append(bgr)
            keypoints.append(dets.keypoints[i : i + 1])
    n = len(images)
    chips = np.concatenate([model.chips(b, k) for b, k in zip(images, keypoints, strict=True)])
    model.embed_chips(chips[:2])  # warm up
    rows = {}
    ratio = None
    wall, cpu = timed(lambda: [model.chips(b, k) for b, k in zip(images, keypoints, strict=True)])
    rows["align (per face)"] = (wall / n, cpu / n)
    wall, cpu = timed(lambda: [model.embed_chips(chips[i : i + 1]) for i in range(n)])
    rows["embed, batch 1 (per face)"] = (wall / n, cpu / n)
    embeddings = model.embed_chips(chips)
    wall, cpu = timed(lambda: model.embed_chips(chips))
    rows[f"embed, batch {args.batch} (per face)"] = (wall / n, cpu / n)
    many = np.concatenate([embeddings] * max(1, -(-1000 // n)))[:1000]
    wall, cpu = timed(lambda: cluster_faces(many, model.threshold))
    rows[f"cluster {len(many)} faces (total)"] = (wall, cpu)
    if args.people:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "faces"
            folder.mkdir()
            for path in fairface_paths(args.people):
                (folder / path.name).symlink_to(path)
            entry = "import sys; from faceattrs.cli import main; sys.exit(main(sys.argv[1:]))"
            out = str(Path(tmp) / "people.jsonl")
            command = [sys.executable, "-c", entry, "people", str(folder), "-q", "-o", out,
                       "--threads", str(args.threads)]  # fmt: skip
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            rows[f"faceattrs people, {args.people} images (total)"] = (wall, cpu)
    if args.video:  # alternate off/on, keep each one's fastest run (the machine is shared)
        from faceattrs.video.process import process_video

        best: dict[bool, tuple[float, float]] = {}
        for reid in (False, True) * args.rounds:
            out: dict = {}
            wall, cpu = timed(
                lambda reid=reid, out=out: out.update(process_video(args.video, persons=reid))
            )
            per_frame = (wall / out["frames"], cpu / out["frames"])
            best[reid] = min(best.get(reid, per_frame), per_frame)
        for reid, times in best.items():
            rows[f"video {args.video.name}, re-id {'on' if reid else 'off'} (per frame)"] = times
        ratio = {"wall": best[False][0] / best[True][0], "cpu": best[False][1] / best[True][1]}
    result = {
        "cpu": cpu_model(),
        "threads": args.threads,
        "faces": n,
        "seconds": {k: [round(w, 5), round(c, 5)] for k, (w, c) in rows.items()},
        "fps_reid_on_over_off": ratio and {k: round(v, 3) for k, v in ratio.items()},
        "command": "python bench/bench_embedding.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(result))
    print(f"\n{cpu_model()}, {args.threads} thread(s), {n} faces\n")
    print("| step | wall ms | CPU ms |\n| --- | ---: | ---: |")
    for key, (w, c) in rows.items():
        print(f"| {key} | {1000 * w:.1f} | {1000 * c:.1f} |")
    if ratio:
        print(f"\nfps with re-id on / off: {ratio['wall']:.3f} (wall), {ratio['cpu']:.3f} (CPU)")


if __name__ == "__main__":
    main()
