"""Check that a detector/alignment change keeps the results: save detections, aligned
crops and predictions on the shared media (photos, video frames, the bench frames), then
compare another checkout's against them (same face count, box IoU > 0.9, keypoints
moved < 1 px, plus the largest crop and prediction differences).

    python bench/compare_detections.py save /tmp/before.pkl      # on the old code
    python bench/compare_detections.py compare /tmp/before.pkl   # on the new code
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import cv2
import numpy as np

from faceattrs.media import read_image
from faceattrs.pipeline.alignment import align
from faceattrs.pipeline.attributes import AttributeModel
from faceattrs.pipeline.boxes import box_iou
from faceattrs.pipeline.detection import FaceDetector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analyze import cover  # noqa: E402
from bench_detect import MEDIA, big_group, frame_1280x720  # noqa: E402


def images() -> dict[str, np.ndarray]:
    out = {str(p.relative_to(MEDIA)): read_image(p) for p in sorted(MEDIA.glob("*/*.jpg"))}
    group = read_image(MEDIA / "facenet_pytorch" / "multiface.jpg")
    out["bench_analyze 1280x720"] = cover(group, 1280, 720)
    out["bench_detect 1280x720"] = frame_1280x720(group)
    out["4000x3000 group"] = big_group(group)
    for video in sorted(MEDIA.glob("*/*.mp4")):
        capture = cv2.VideoCapture(str(video))
        for index in (0, 20, 40):
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if ok:
                out[f"{video.relative_to(MEDIA)}#{index}"] = frame
        capture.release()
    return out


def results() -> dict[str, dict[str, np.ndarray]]:
    detector = FaceDetector("full", min_face=20)
    model = AttributeModel()
    out = {}
    for name, bgr in images().items():
        dets = detector.detect(bgr)
        crops = align(bgr, dets.keypoints, model.spec)
        pred = model.predict(crops)
        out[name] = {
            "xyxy": dets.xyxy,
            "keypoints": dets.keypoints,
            "crops": crops,
            "age": pred.age,
            "probs": np.concatenate([pred.gender_probs, pred.race_probs], axis=1),
        }
    return out


def compare(before: dict, after: dict) -> bool:
    same = True
    for name, old in before.items():
        new = after[name]
        n_old, n_new = len(old["xyxy"]), len(new["xyxy"])
        line = f"{name:44s} faces {n_old:2d} -> {n_new:2d}"
        ok = n_old == n_new
        if ok and n_old:
            overlap = box_iou(old["xyxy"], new["xyxy"])
            match = overlap.argmax(axis=1)
            moved = np.abs(old["keypoints"] - new["keypoints"][match]).max()
            crops = np.abs(old["crops"].astype(int) - new["crops"][match].astype(int)).max()
            age = np.abs(old["age"] - new["age"][match]).max()
            probs = np.abs(old["probs"] - new["probs"][match]).max()
            ok = overlap.max(axis=1).min() > 0.9 and moved < 1.0
            line += (
                f"  min IoU {overlap.max(axis=1).min():.6f}  keypoints moved {moved:.1e} px"
                f"  crops {crops} grey levels  age {age:.1e} y  probs {probs:.1e}"
            )
        print(line + ("" if ok else "  <-- DIFFERENT"))
        same &= ok
    print("same faces everywhere (count, IoU > 0.9, keypoints < 1 px):", same)
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    if not MEDIA.is_dir():
        raise SystemExit(f"needs the photos in {MEDIA}")
    if args.action == "save":
        args.file.write_bytes(pickle.dumps(results()))
        print(f"saved {args.file}")
        return 0
    return 0 if compare(pickle.loads(args.file.read_bytes()), results()) else 1


if __name__ == "__main__":
    sys.exit(main())
