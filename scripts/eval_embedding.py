"""Evaluate the face embedding with OUR alignment: agreement with dlib's chips, and a
same/different-person threshold calibrated on pairs built from the shared media.

Faces and identities:

* photos under ``--media``: the faces whose identity is known by eye (``IDENTITIES``:
  Obama and Biden appear in three photos each, Jolie and Pitt in two); every other
  face of those photos is a person of its own (Friends cast, Kit Harington and Rose
  Leslie, ...). The detector's false positives (score below ``MIN_SCORE``) are left out.
* the two videos: our detector every ``--frame-step`` frames, faces linked across
  consecutive sampled frames by box IoU >= 0.5 (a cut breaks the chain); the faces of
  one chain are one person, faces of the same frame are different people.
* ``--n`` FairFace validation images, the largest face of each: one person each (the
  FairFace images are of distinct people, with a few repeats we cannot exclude).

Same-person pairs: all pairs of one identity across photos, and within each video
chain the pairs at least ``--min-gap`` frames apart. Different-person pairs: photo
faces of different identities, faces of one video frame, and all FairFace pairs.

With dlib installed (``pip install dlib-bin``), each face that dlib's HOG detector
also finds gets dlib's own chip (5-point landmarks, 150 px, padding 0.25) and the
embedding of that chip (the ONNX model equals dlib on chips, see
scripts/check_embedding_parity.py), to compare our alignment with dlib's.

Run from the repository root::

    OMP_NUM_THREADS=1 nice -n 10 python scripts/eval_embedding.py --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceattrs.pipeline.detection import FaceDetector
from faceattrs.pipeline.embedding import EmbeddingModel

ROOT = Path(__file__).resolve().parents[1]
MIN_SCORE = 0.7
# identity -> (photo, approximate face centre in pixels), labelled by eye
IDENTITIES = {
    "obama": [("face_recognition/obama.jpg", (492, 267)),
              ("face_recognition/obama_and_biden.jpg", (1227, 494)),
              ("face_recognition/two_people.jpg", (320, 135))],
    "biden": [("face_recognition/biden.jpg", (588, 392)),
              ("face_recognition/obama_and_biden.jpg", (835, 532)),
              ("face_recognition/two_people.jpg", (875, 162))],
    "jolie": [("deepface/couple.jpg", (688, 955)),
              ("deepface/selfie-many-people.jpg", (153, 375))],
    "pitt": [("deepface/couple.jpg", (1759, 750)),
             ("deepface/selfie-many-people.jpg", (397, 210))],
}  # fmt: skip


@dataclass
class FaceRecord:
    source: str  # photo, video chain or FairFace file
    identity: str
    frame: int
    ours: np.ndarray  # unit embedding from our alignment
    dlib_raw: np.ndarray | None  # raw descriptor of dlib's chip, when HOG found the face


class Embedder:
    """The shipped embedding head (its alignment, from the model's spec), one thread,
    plus the raw descriptor of a chip."""

    def __init__(self, path: Path) -> None:
        self.model = EmbeddingModel(path, threads=1)
        self.spec = self.model.spec

    def raw(self, crops_rgb: np.ndarray) -> np.ndarray:
        x = self.spec.alignment.preprocess(crops_rgb)
        return self.model.onnx.run([self.spec.output_name], {self.spec.input_name: x})[0]

    def aligned(self, bgr: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        return self.model.embed(bgr, keypoints)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class DlibChips:
    """dlib's chip for a face our detector found, when HOG finds it too."""

    def __init__(self) -> None:
        import dlib

        sys.path.insert(0, str(ROOT / "scripts"))
        from check_embedding_parity import model_file

        self.dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(model_file("shape_predictor_5_face_landmarks.dat"))

    def chips(self, bgr: np.ndarray, xyxy: np.ndarray) -> list[np.ndarray | None]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        upsample = 1 if rgb.shape[0] * rgb.shape[1] < 1_000_000 else 0
        rects = list(self.hog(rgb, upsample))
        out = []
        for x1, y1, x2, y2 in xyxy:
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            hits = [r for r in rects if r.left() <= cx <= r.right() and r.top() <= cy <= r.bottom()]
            if len(hits) != 1:
                out.append(None)
                continue
            shape = self.shapes(rgb, hits[0])
            out.append(self.dlib.get_face_chip(rgb, shape, size=150, padding=0.25))
        return out


def faces_of(detector, embedder, dlib_chips, bgr, min_score=MIN_SCORE):
    """(boxes, unit embeddings, raw dlib-chip descriptors or None) of one image."""
    dets = detector.detect(bgr)
    keep = dets.scores >= min_score
    xyxy, kps = dets.xyxy[keep], dets.keypoints[keep]
    if len(xyxy) == 0:
        return xyxy, np.zeros((0, 128), np.float32), []
    ours = embedder.aligned(bgr, kps)
    raws: list[np.ndarray | None] = [None] * len(xyxy)
    if dlib_chips is not None:
        chips = dlib_chips.chips(bgr, xyxy)
        raws = [None if c is None else embedder.raw(c[None])[0] for c in chips]
    return xyxy, ours, raws


def photo_records(media: Path, detector, embedder, dlib_chips) -> list[FaceRecord]:
    labelled = {(p, c): name for name, items in IDENTITIES.items() for p, c in items}
    records = []
    for path in sorted(media.rglob("*.jpg")):
        rel = str(path.relative_to(media))
        xyxy, ours, raws = faces_of(detector, embedder, dlib_chips, cv2.imread(str(path)))
        for i, (box, emb, raw) in enumerate(zip(xyxy, ours, raws, strict=True)):
            name = f"{rel}#{i}"
            for (p, (cx, cy)), identity in labelled.items():
                if p == rel and box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
                    name = identity
            records.append(FaceRecord(rel, name, 0, emb, raw))
    found = {r.identity for r in records}
    missing = set(IDENTITIES) - found
    if missing:
        raise SystemExit(f"labelled faces not found: {sorted(missing)}")
    return records


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def video_records(path: Path, step: int, detector, embedder, dlib_chips) -> list[FaceRecord]:
    """Faces of every ``step``-th frame, chained by IoU into same-person chains."""
    cap = cv2.VideoCapture(str(path))
    records, previous, chains, index = [], [], 0, 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if index % step == 0:
            xyxy, ours, raws = faces_of(detector, embedder, dlib_chips, bgr)
            current = []
            for box, emb, raw in zip(xyxy, ours, raws, strict=True):
                match = [c for b, c in previous if iou(box, b) >= 0.5]
                if len(match) == 1:
                    chain = match[0]
                else:
                    chains += 1
                    chain = chains
                current.append((box, chain))
                records.append(FaceRecord(path.name, f"{path.name}:chain{chain}", index, emb, raw))
            previous = current
        index += 1
    cap.release()
    return records


def fairface_records(folder: Path, split: Path, n: int, detector, embedder, dlib_chips):
    names = [line.split("\t")[0] for line in split.read_text().splitlines() if line.strip()]
    records = []
    for name in names[:n]:
        xyxy, ours, raws = faces_of(detector, embedder, dlib_chips, cv2.imread(str(folder / name)))
        if len(xyxy):
            big = int(np.argmax((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])))
            records.append(FaceRecord("fairface", f"fairface:{name}", 0, ours[big], raws[big]))
    return records


def pairs(records: list[FaceRecord], min_gap: int):
    """(i, j, same, kind) for the same-person and different-person pairs described above."""
    out = []
    for i, j in itertools.combinations(range(len(records)), 2):
        a, b = records[i], records[j]
        a_video, b_video = ":chain" in a.identity, ":chain" in b.identity
        if a.identity == b.identity:
            if not a_video:
                out.append((i, j, True, "photo"))
            elif abs(a.frame - b.frame) >= min_gap:
                out.append((i, j, True, "video"))
        elif a_video or b_video:  # other chains may be the same person later on
            if a_video and b_video and a.source == b.source and a.frame == b.frame:
                out.append((i, j, False, "video"))
        elif a.source == "fairface" and b.source == "fairface":
            out.append((i, j, False, "fairface"))
        elif "fairface" not in (a.source, b.source):
            out.append((i, j, False, "photo"))
    return out


def rates(dist: np.ndarray, same: np.ndarray, threshold: float) -> dict:
    """False rejects among same pairs, false accepts among different pairs."""
    return {
        "threshold": round(float(threshold), 4),
        "false_reject": round(float((dist[same] >= threshold).mean()), 4),
        "false_accept": round(float((dist[~same] < threshold).mean()), 4),
    }


def threshold_at_false_accept(dist: np.ndarray, same: np.ndarray, rate: float) -> float:
    """The largest threshold whose false-accept rate stays at or below ``rate``."""
    different = np.sort(dist[~same])
    return float(different[int(np.floor(rate * len(different)))])


def best_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the lowest mean of the two error rates."""
    grid = np.linspace(0.2, 1.2, 1001)
    errors = [(dist[same] >= t).mean() + (dist[~same] < t).mean() for t in grid]
    best = np.flatnonzero(np.asarray(errors) == min(errors))
    return float(grid[best].mean())


def summary(values: np.ndarray) -> dict:
    return {k: round(float(f(values)), 4) for k, f in
            (("min", np.min), ("median", np.median), ("max", np.max))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media")
    parser.add_argument("--fairface", type=Path,
                        default=ROOT.parent / "shared" / "data" / "fairface")  # fmt: skip
    parser.add_argument("--split", type=Path, default=ROOT / "splits/fairface/val.txt")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--frame-step", type=int, default=5)
    parser.add_argument("--min-gap", type=int, default=30)
    parser.add_argument("--model", type=Path,
                        default=ROOT / "src/faceattrs/models/face_embedding.onnx")  # fmt: skip
    parser.add_argument("--no-dlib", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    detector = FaceDetector("full", threads=1)
    embedder = Embedder(args.model)
    dlib_chips = None if args.no_dlib else DlibChips()
    records = photo_records(args.media, detector, embedder, dlib_chips)
    for video in sorted(args.media.rglob("*.mp4")):
        records += video_records(video, args.frame_step, detector, embedder, dlib_chips)
    records += fairface_records(args.fairface, args.split, args.n, detector, embedder, dlib_chips)
    ours = np.stack([r.ours for r in records])
    result: dict = {"faces": len(records)}
    with_dlib = [i for i, r in enumerate(records) if r.dlib_raw is not None]
    dlib_raw = np.zeros_like(ours)
    for i in with_dlib:
        dlib_raw[i] = records[i].dlib_raw
    if with_dlib:
        d_unit = unit(dlib_raw[with_dlib])
        result["ours_vs_dlib_chip_same_face"] = {
            "faces": len(with_dlib),
            "cosine": summary((ours[with_dlib] * d_unit).sum(1)),
            "unit_euclidean": summary(np.linalg.norm(ours[with_dlib] - d_unit, axis=1)),
        }
    all_pairs = pairs(records, args.min_gap)
    i, j, same = (np.asarray(c) for c in list(zip(*all_pairs, strict=True))[:3])
    kinds = np.asarray([p[3] for p in all_pairs])
    dist = np.linalg.norm(ours[i] - ours[j], axis=1)
    threshold = best_threshold(dist, same)
    result["pairs"] = {
        f"{kind}_{'same' if s else 'different'}": int(((kinds == kind) & (same == s)).sum())
        for kind in ("photo", "video", "fairface") for s in (True, False)
    }  # fmt: skip
    result["ours_unit_euclidean"] = {
        "same": summary(dist[same]),
        "different": summary(dist[~same]),
        "calibrated": rates(dist, same, threshold),
        "at_false_accept_0.001": rates(dist, same, threshold_at_false_accept(dist, same, 1e-3)),
        "at_false_accept_0.01": rates(dist, same, threshold_at_false_accept(dist, same, 1e-2)),
        "at_spec_threshold": rates(dist, same, embedder.spec.threshold),
        "photo_same_pairs": [round(float(d), 4) for d in dist[same & (kinds == "photo")]],
        "video_same_pairs_above_0.3": sorted(
            round(float(d), 4) for d in dist[same & (kinds == "video")] if d > 0.3
        ),
    }
    fairface = kinds == "fairface"
    result["by_threshold"] = {
        f"{t:.2f}": {
            "false_reject": round(float((dist[same] >= t).mean()), 4),
            "false_accept_fairface": round(float((dist[~same & fairface] < t).mean()), 4),
            "false_accept_media": round(float((dist[~same & ~fairface] < t).mean()), 4),
        }
        for t in np.arange(0.30, 0.451, 0.01)
    }
    both = np.asarray([a in with_dlib and b in with_dlib for a, b in zip(i, j, strict=True)])
    if both.any():
        raw_dist = np.linalg.norm(dlib_raw[i[both]] - dlib_raw[j[both]], axis=1)
        unit_dist = np.linalg.norm(unit(dlib_raw[i[both]]) - unit(dlib_raw[j[both]]), axis=1)
        result["dlib_chips"] = {
            "pairs_same": int(same[both].sum()),
            "pairs_different": int((~same[both]).sum()),
            "raw_euclidean_at_0.6": rates(raw_dist, same[both], 0.6),
            "raw_euclidean_calibrated": rates(raw_dist, same[both],
                                              best_threshold(raw_dist, same[both])),
            "unit_euclidean_calibrated": rates(unit_dist, same[both],
                                               best_threshold(unit_dist, same[both])),
            "ours_on_these_pairs": rates(dist[both], same[both], threshold),
        }  # fmt: skip
    result["command"] = "python scripts/eval_embedding.py " + shlex.join(sys.argv[1:])
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
