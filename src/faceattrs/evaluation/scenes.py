"""Accuracy through detection and alignment: test crops pasted into larger scenes.

Each labelled crop is scaled and pasted at a random place on a textured canvas; the
full pipeline (detect, align, predict) must find it again. The result is compared with
the model on the original crops, for the same faces.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from tqdm import tqdm

from faceattrs.evaluation.metrics import compute_metrics


def make_scene(
    face_bgr: np.ndarray, rng: np.random.Generator, size=(640, 480), face_px=(90, 220)
) -> tuple[np.ndarray, np.ndarray]:
    """Paste ``face_bgr`` (scaled to a random width) on a smooth random canvas.

    Returns the scene and the pasted box (x1, y1, x2, y2).
    """
    w, h = size
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    scene = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    side = int(rng.integers(face_px[0], face_px[1] + 1))
    face = cv2.resize(face_bgr, (side, side), interpolation=cv2.INTER_AREA)
    x = int(rng.integers(0, w - side + 1))
    y = int(rng.integers(0, h - side + 1))
    scene[y : y + side, x : x + side] = face
    return scene, np.array([x, y, x + side, y + side], np.float32)


def evaluate_in_scenes(analyzer, samples: Sequence, seed: int = 0, progress: bool = True) -> dict:
    """Metrics of the full pipeline on pasted crops, and of the crops alone on the same faces."""
    rng = np.random.default_rng(seed)
    found_idx, pipeline = [], {"age": [], "interval": [], "gender": [], "race": []}
    crops = []
    for i, sample in enumerate(tqdm(samples, desc="scenes", unit="face", disable=not progress)):
        face_bgr = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
        if face_bgr is None:
            raise ValueError(f"cannot read {sample.path}")
        crops.append(face_bgr)
        scene, box = make_scene(face_bgr, rng)
        faces = analyzer.analyze(scene)
        centre = (box[:2] + box[2:]) / 2
        inside = [
            f
            for f in faces
            if f.xyxy[0] <= centre[0] <= f.xyxy[2] and f.xyxy[1] <= centre[1] <= f.xyxy[3]
        ]
        if not inside:
            continue
        face = max(inside, key=lambda f: f.score)
        found_idx.append(i)
        pipeline["age"].append(face.age)
        pipeline["interval"].append(face.age_interval)
        pipeline["gender"].append(list(face.gender_probs.values()))
        pipeline["race"].append(list(face.race_probs.values()))
    found = [samples[i] for i in found_idx]
    truth = (
        np.array([s.age for s in found]),
        np.array([s.gender for s in found]),
        np.array([s.race for s in found]),
    )
    through = compute_metrics(
        *truth,
        np.array(pipeline["age"]),
        np.array(pipeline["gender"]),
        np.array(pipeline["race"]),
        np.array(pipeline["interval"]),
    )
    direct = analyzer.analyze_aligned([crops[i] for i in found_idx])
    on_crops = compute_metrics(
        *truth,
        np.array([f.age for f in direct]),
        np.array([list(f.gender_probs.values()) for f in direct]),
        np.array([list(f.race_probs.values()) for f in direct]),
        np.array([f.age_interval for f in direct]),
    )
    return {
        "n": len(samples),
        "detected": len(found),
        "detection_rate": len(found) / max(1, len(samples)),
        "through_detection_and_alignment": through,
        "on_original_crops_same_faces": on_crops,
    }
