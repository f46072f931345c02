"""Measure where the detector puts the keypoints of UTKFace's aligned crops.

Each crop (200x200) is pasted at the centre of a canvas three times its size
(border filled by replicating the crop's edges, and again with black), optionally
rescaled, and run through ``FaceDetector``; the detection whose box centre is
nearest the crop centre gives the keypoints, converted to fractions of the crop.
The template is the mean over all detections of all variants; the per-point
standard deviation and the detection rate are reported. Aligning a photo face
onto this template frames it like a UTKFace crop.

Run from the repository root::

    nice -n 15 python scripts/measure_template.py --n 2000

Writes src/faceattrs/models/template.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

from faceattrs.pipeline.detection import FaceDetector

ROOT = Path(__file__).resolve().parents[1]
POINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre")
BORDERS = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}


def sample_files(data: Path, split: Path, n: int, seed: int) -> list[Path]:
    if split.exists():
        names = [line.split("\t")[0] for line in split.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.name for p in data.glob("*.jpg"))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(names), size=min(n, len(names)), replace=False)
    return [data / names[i] for i in sorted(picked)]


def crop_keypoints(
    detector: FaceDetector, crop: np.ndarray, scale: float, border: int
) -> np.ndarray | None:
    """Keypoints (4, 2) as fractions of the crop, or None if no face near its centre."""
    if scale != 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    side = crop.shape[0]
    canvas = cv2.copyMakeBorder(crop, side, side, side, side, border, value=(0, 0, 0))
    dets = detector.detect(canvas)
    if len(dets) == 0:
        return None
    centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2 - side
    dist = np.linalg.norm(centres - side / 2, axis=1)
    best = int(np.argmin(dist))
    if dist[best] > side * 0.25:
        return None
    kps = dets.keypoints[best, :4].astype(np.float64) - side  # pixels of the crop
    return kps / side  # fractions of the crop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "utkface")
    parser.add_argument("--split", type=Path, default=ROOT / "splits" / "utkface" / "train.txt")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0])
    parser.add_argument(
        "--borders", nargs="+", choices=sorted(BORDERS), default=["replicate", "constant"]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "src/faceattrs/models/template.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"UTKFace folder not found: {args.data}")
    files = sample_files(args.data, args.split, args.n, args.seed)
    detector = FaceDetector("full", pyramid=False)  # faces are ~40 px at 192
    variants = {}
    for border in args.borders:
        for scale in args.scales:
            found = []
            for path in files:
                crop = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if crop is None or crop.shape[0] != crop.shape[1]:
                    continue
                kps = crop_keypoints(detector, crop, scale, BORDERS[border])
                if kps is not None:
                    found.append(kps)
            pts = np.asarray(found, np.float64)
            key = f"{border}@{scale:g}"
            variants[key] = {
                "detected": len(pts),
                "rate": round(len(pts) / len(files), 4),
                "mean": pts.mean(0).round(4).tolist(),
                "std": pts.std(0).round(4).tolist(),
                "points": pts,
            }
            print(f"{key}: detected {len(pts)}/{len(files)}, mean {variants[key]['mean']}")
    allpts = np.concatenate([v.pop("points") for v in variants.values()])
    template = allpts.mean(0)
    std = allpts.std(0)
    spread = max(np.abs(np.asarray(v["mean"]) - template).max() for v in variants.values())
    result = {
        "template": template.round(4).tolist(),
        "points": list(POINTS),
        "std": std.round(4).tolist(),
        "n": len(files),
        "detected": len(allpts),
        "variants": variants,
        "max_variant_offset": round(float(spread), 4),
        "command": "python scripts/measure_template.py " + shlex.join(sys.argv[1:]),
        "detector": "blazeface_full",
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("template", "std", "n", "detected")}))
    print(f"largest offset of a variant mean from the template: {spread:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
