"""Would better landmarks tell the shared clips' people apart? The identity embedding with
its chips aligned by dlib's 5-point shape predictor (placed in our detector's box), by dlib
and by its numpy twin (scripts/shape_predictor.py), against the shipped alignment from our
detector's keypoints (reports/identity/browser_persons.md).

Prints, for each alignment: the separation of the walkers' clip at the faces placed by eye
(tests/clip_anchors.py, as scripts/clip_separation.py) and the person counts of
``process_video(..., persons=True)`` on both clips, as given and as VP8 WebM, every frame
and every 0.2 s (as scripts/reid_samples.py), at the shipped same-person threshold.
Needs dlib (``pip install dlib-bin face_recognition_models``), as scripts/eval_embedding.py.

    python scripts/landmark_alignment.py          # about 5 min on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from check_embedding_parity import model_file  # noqa: E402
from clip_separation import CLIP, faces_at_anchors, pair_distances  # noqa: E402
from reid_samples import conditions  # noqa: E402

from faceattrs.pipeline.analyzer import FaceAnalyzer  # noqa: E402
from faceattrs.pipeline.detection import FaceDetector  # noqa: E402
from faceattrs.video.persons import PersonRegistry  # noqa: E402
from faceattrs.video.process import process_video, video_min_face  # noqa: E402

FAIRFACE = ROOT.parent / "shared" / "data" / "fairface"


def box_to_hog(n: int) -> np.ndarray:
    """Median (dx, dy, scale) from our detector's box to dlib's HOG box, as fractions of our
    box's width and height, over FairFace validation photos where both find one face (the
    shape predictor was trained on HOG boxes)."""
    import dlib

    detector, hog = FaceDetector("full"), dlib.get_frontal_face_detector()
    names = (ROOT / "splits/fairface/val.txt").read_text().split()[:n]
    offsets = []
    for name in names:
        bgr = cv2.imread(str(FAIRFACE / name))
        if bgr is None:
            continue
        ours, theirs = detector.detect(bgr).xyxy, list(hog(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), 1))
        if len(ours) != 1 or len(theirs) != 1:
            continue
        (x1, y1, x2, y2), r = ours[0], theirs[0]
        width, height = x2 - x1, y2 - y1
        offsets.append((
            ((r.left() + r.right()) - (x1 + x2)) / 2 / width,
            ((r.top() + r.bottom()) - (y1 + y2)) / 2 / height,
            (r.right() - r.left()) / width,
        ))  # fmt: skip
    print(f"our box -> HOG box over {len(offsets)} FairFace faces: (dx, dy, scale) "
          f"{np.round(np.median(offsets, axis=0), 3).tolist()}")  # fmt: skip
    return np.median(offsets, axis=0)


# box_to_hog(400): our box -> dlib's HOG box, fitted on 286 FairFace validation faces
BOX_TO_HOG = (-0.035, -0.048, 0.946)


def hog_rect(xyxy, offsets=BOX_TO_HOG) -> tuple[int, int, int, int]:
    """The square (left, top, right, bottom) where dlib's HOG detector would put its box for
    a face our detector boxed at ``xyxy``."""
    x1, y1, x2, y2 = xyxy
    dx, dy, scale = offsets
    cx, cy = (x1 + x2) / 2 + dx * (x2 - x1), (y1 + y2) / 2 + dy * (y2 - y1)
    half = scale * (x2 - x1) / 2
    return tuple(int(v) for v in (cx - half, cy - half, cx + half, cy + half))


def five_point_aligned(offsets, numpy_predictor: bool) -> type:
    """A FaceAnalyzer whose embeddings come from 5-point chips (150 px, padding 0.25, as
    dlib's face recognition example cuts them), the landmarks found in our box mapped to
    HOG's: by dlib itself, or by scripts/shape_predictor.py's numpy twin and its chips."""
    import dlib
    import shape_predictor

    path = model_file("shape_predictor_5_face_landmarks.dat")
    model = shape_predictor.load(path) if numpy_predictor else None
    predictor = None if numpy_predictor else dlib.shape_predictor(path)

    def chips(bgr, detections):
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rects = [hog_rect(box, offsets) for box in detections.xyxy]
        if predictor is not None:
            shapes = [predictor(rgb, dlib.rectangle(*rect)) for rect in rects]
            return [dlib.get_face_chip(rgb, shape, size=150, padding=0.25) for shape in shapes]
        intensity = (rgb.astype(np.uint16).sum(2) // 3).astype(np.uint8)
        landmarks = np.asarray([shape_predictor.predict(model, intensity, r) for r in rects])
        return list(shape_predictor.face_chips(rgb, landmarks))

    class FivePointAligned(FaceAnalyzer):
        def embed(self, bgr, detections):
            if not len(detections.xyxy):
                return np.zeros((0, self.embedder.spec.embedding_size), np.float32)
            return self.embedder.embed_chips(np.asarray(chips(bgr, detections))[..., ::-1])

    return FivePointAligned


def separation(label: str, analyzer_type: type) -> None:
    people, vectors, threshold = faces_at_anchors(CLIP, analyzer_type)
    same, different = (np.asarray(d) for d in pair_distances(people, vectors))
    auc = float(np.mean(same[:, None] < different[None, :]))
    at = float(np.quantile(different, 0.02))
    spread = np.sqrt((same.var() + different.var()) / 2)
    print(
        f"{label}: {len(people)} faces; same person median {np.median(same):.3f}, "
        f"{100 * np.mean(same >= threshold):.0f}% at or above {threshold:.2f}; different "
        f"people min {different.min():.3f}, median {np.median(different):.3f}; AUC {auc:.4f}; "
        f"d' {(different.mean() - same.mean()) / spread:.2f}; at the distance below which 2% "
        f"of different pairs fall ({at:.3f}) {100 * np.mean(same < at):.0f}% of same pairs",
        flush=True,
    )


def counts(label: str, analyzer_type: type, tmp: Path) -> None:
    found: dict[str, list[str]] = {}
    for clip_label, clip, info, every in conditions(tmp):
        analyzer = analyzer_type(
            min_face=video_min_face(info.width, info.height), edge_margin=0, threads=1
        )
        summary = process_video(clip, analyzer=analyzer, every=every, persons=PersonRegistry())
        counted = f"every {every}: {len(summary['tracks'])}/{len(summary['persons'])}"
        found.setdefault(clip_label, []).append(counted)
    for clip_label, counted in found.items():
        print(f"{label}, {clip_label}: " + " | ".join(counted), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fit", type=int, default=0, help="refit the box map on N FairFace photos (0: BOX_TO_HOG)"
    )
    args = parser.parse_args()
    offsets = box_to_hog(args.fit) if args.fit else BOX_TO_HOG
    alignments = {
        "our keypoints": FaceAnalyzer,
        "dlib 5-point": five_point_aligned(offsets, numpy_predictor=False),
        "5-point in numpy": five_point_aligned(offsets, numpy_predictor=True),
    }
    for label, analyzer_type in alignments.items():
        separation(label, analyzer_type)
    with tempfile.TemporaryDirectory() as tmp:
        for label, analyzer_type in alignments.items():
            counts(label, analyzer_type, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
