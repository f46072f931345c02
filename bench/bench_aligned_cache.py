"""Detection rate and time of the aligned-cache face finder, with and without padding.

For a random sample of each dataset's split (UTKFace 200x200 crops, FairFace 160x160
faces), every padding variant runs ``find_centre_face`` (FaceDetector defaults, as at
inference); printed as a Markdown table (rows as JSON lines first): the share of images
with a face near the centre, time per image (wall and CPU, as the machine may be shared)
and the mean centre offset.

    nice -n 15 python bench/bench_aligned_cache.py --n 500
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from faceattrs.data.aligned_cache import find_centre_face
from faceattrs.media import read_image
from faceattrs.pipeline.detection import FaceDetector

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
VARIANTS = {  # name: (pad, border)
    "no pad": (0.0, "replicate"),
    "replicate 0.25": (0.25, "replicate"),
    "replicate 0.5": (0.5, "replicate"),
    "replicate 1.0": (1.0, "replicate"),
    "black 0.25": (0.25, "constant"),
    "black 0.5": (0.5, "constant"),
    "black 1.0": (1.0, "constant"),
}
DEFAULT_VARIANTS = ["no pad", "replicate 0.5", "black 0.25", "black 0.5", "black 1.0"]


def sample_paths(dataset: str, n: int, seed: int) -> list[Path]:
    if dataset == "fairface":
        from faceattrs.data.fairface import load_fairface_split as load
    else:
        from faceattrs.data.utkface import load_split as load
    samples = load(ROOT / "splits" / dataset, "train", SHARED / dataset)
    picked = np.random.default_rng(seed).choice(len(samples), min(n, len(samples)), replace=False)
    return [samples[i].path for i in sorted(picked)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=["utkface", "fairface"])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    detector = FaceDetector(threads=args.threads)
    rows = []
    for dataset in args.datasets:
        images = [read_image(p) for p in sample_paths(dataset, args.n, args.seed)]
        for variant in args.variants:
            pad, border = VARIANTS[variant]
            start, cpu = time.perf_counter(), time.process_time()
            faces = [find_centre_face(bgr, detector, pad, border) for bgr in images]
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            found = [f for f in faces if f.found]
            rows.append(
                {
                    "dataset": dataset,
                    "variant": variant,
                    "images": len(images),
                    "found": len(found),
                    "rate": round(len(found) / len(images), 4),
                    "no_face": sum(f.reason == "no face detected" for f in faces),
                    "off_centre": sum(not f.found and f.n_faces > 0 for f in faces),
                    "wall_ms": round(1000 * seconds / len(images), 1),
                    "cpu_ms": round(1000 * cpu / len(images), 1),
                    "mean_score": round(float(np.mean([f.score for f in found])), 3),
                    "mean_offset": round(float(np.mean([f.offset for f in found])), 3),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        return
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + " --- |" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
