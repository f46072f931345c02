"""Measure where the detector puts the keypoints of FER2013's 48x48 crops.

Each crop is upscaled 4x and padded by one crop side on every side (edges replicated,
and again with black: ``faceattrs.data.fer.pad_and_upscale``), then run through the
product's ``FaceDetector``; the detection nearest the crop centre gives the keypoints,
mapped back to fractions of the crop. The expression template is the mean over all
detections of both variants; the per-point standard deviation and the detection rate
are reported. Aligning a photo face onto this template frames it like a FER crop.

Run from the repository root::

    nice -n 10 python scripts/measure_expression_template.py --n 3000

Writes src/faceattrs/models/expression_template.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from faceattrs.data.fer import (
    BORDERS,
    central_face,
    list_fer_split,
    pad_and_upscale,
    photo_to_crop,
    read_gray,
)
from faceattrs.pipeline.detection import FaceDetector

ROOT = Path(__file__).resolve().parents[1]
POINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013")
    parser.add_argument("--split", default="train")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--upscale", type=int, default=4)
    parser.add_argument("--borders", nargs="+", choices=BORDERS, default=list(BORDERS))
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src/faceattrs/models/expression_template.json"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"FER2013 folder not found: {args.data}")
    items = list_fer_split(args.data, args.split)
    rng = np.random.default_rng(args.seed)
    picked = sorted(rng.choice(len(items), size=min(args.n, len(items)), replace=False))
    detector = FaceDetector("full", threads=1)
    variants, per_class = {}, {}
    start = time.perf_counter()
    for border in args.borders:
        found = []
        for i in picked:
            rel, label = items[i]
            gray = read_gray(args.data / args.split / rel)
            photo = pad_and_upscale(gray, args.upscale, border)
            dets = detector.detect(photo)
            best = central_face(dets.xyxy, photo.shape[0], gray.shape[0], args.upscale)
            name = rel.split("/")[0]
            hits = per_class.setdefault(f"{border}:{name}", [0, 0])
            hits[1] += 1
            if best is None:
                continue
            hits[0] += 1
            kps = photo_to_crop(dets.keypoints[best, :4], gray.shape[0], args.upscale)
            found.append(kps / np.array(gray.shape[::-1], np.float64))
        pts = np.asarray(found, np.float64)
        variants[border] = {
            "detected": len(pts),
            "rate": round(len(pts) / len(picked), 4),
            "mean": pts.mean(0).round(4).tolist(),
            "std": pts.std(0).round(4).tolist(),
            "points": pts,
        }
        print(f"{border}: detected {len(pts)}/{len(picked)}, mean {variants[border]['mean']}")
    allpts = np.concatenate([v.pop("points") for v in variants.values()])
    template = allpts.mean(0)
    spread = max(np.abs(np.asarray(v["mean"]) - template).max() for v in variants.values())
    result = {
        "template": template.round(4).tolist(),
        "points": list(POINTS),
        "std": allpts.std(0).round(4).tolist(),
        "n": len(picked),
        "detected": len(allpts),
        "variants": variants,
        "detection_rate_per_class": {
            k: round(v[0] / max(v[1], 1), 4) for k, v in per_class.items()
        },
        "max_variant_offset": round(float(spread), 4),
        "upscale": args.upscale,
        "seconds": round(time.perf_counter() - start, 1),
        "command": "python scripts/measure_expression_template.py " + shlex.join(sys.argv[1:]),
        "detector": "blazeface_full",
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("template", "std", "n", "detected")}))
    print(f"largest offset of a variant mean from the template: {spread:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
