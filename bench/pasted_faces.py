"""Synthetic detector test scenes: face-free backgrounds with FairFace faces pasted in
(a feathered elliptical paste), and how many of those faces a detector finds.

* ``scenes``: 1280x720, ``SCENE_FACES`` small faces (20-40 px box side) each;
* ``edge_scenes``: 640x480, one face of 48-240 px whose box is cut by a frame edge (15-40%
  of it outside), as faces at the edges of selfies and group photos are.
"""

from __future__ import annotations

import cv2
import numpy as np
from face_free import face_free_images

from faceattrs.pipeline.boxes import box_iou

# detector box side / FairFace image side, median measured on faces pasted at 20-40 px
# (0.92 on the 160 px images padded): a face "of 30 px" gets a box of about 30 px
FACE_BOX_RATIO = 0.8
SCENE_FACES = 8


def backgrounds(count: int, seed: int) -> list[np.ndarray]:
    return [
        img for kind, img in face_free_images(6 * count, seed=seed + 100)
        if kind.startswith("media") or kind in ("blurred_noise", "gradient", "shapes")
    ]  # fmt: skip


def paste(scene: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> None:
    """Blend ``face`` resized to ``side`` px into ``scene`` at (x, y) in place, through a
    feathered ellipse; the parts outside the scene are cut off."""
    inter = cv2.INTER_AREA if side < face.shape[0] else cv2.INTER_CUBIC
    patch = cv2.resize(face, (side, side), interpolation=inter).astype(np.float32)
    alpha = np.zeros((side, side), np.float32)
    c = side // 2
    cv2.ellipse(alpha, (c, c), (int(c * 0.95), int(c * 1.0)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, side / 16))[..., None]
    height, width = scene.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + side), min(height, y + side)
    part = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    region = scene[y0:y1, x0:x1].astype(np.float32)
    blend = alpha[part] * patch[part] + (1 - alpha[part]) * region
    scene[y0:y1, x0:x1] = blend.astype(np.uint8)


def scenes(count: int, faces: list[np.ndarray], seed: int = 1) -> list[tuple[np.ndarray, list]]:
    """1280x720 face-free backgrounds with ``SCENE_FACES`` faces pasted at 20-40 px each;
    returns (scene, [(cx, cy, face side), ...])."""
    rng = np.random.default_rng(seed)
    pool = backgrounds(count, seed)
    out = []
    for i in range(count):
        scene = cv2.resize(pool[i % len(pool)], (1280, 720))
        cells = rng.permutation(8 * 4)[:SCENE_FACES]
        truth = []
        for cell in cells:
            face_px = float(rng.uniform(20, 40))
            patch_side = max(8, round(face_px / FACE_BOX_RATIO))
            face = faces[int(rng.integers(len(faces)))]
            x = int(cell % 8 * 160 + rng.integers(10, 160 - patch_side - 10))
            y = int(cell // 8 * 180 + rng.integers(10, 180 - patch_side - 10))
            paste(scene, face, x, y, patch_side)
            truth.append((x + patch_side / 2, y + patch_side / 2, face_px))
        out.append((scene, truth))
    return out


def scene_recall(detector, built: list[tuple[np.ndarray, list]]) -> dict:
    found = false = total = 0
    for scene, truth in built:
        dets = detector.detect(scene)
        centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
        sides = np.maximum(dets.xyxy[:, 2] - dets.xyxy[:, 0], dets.xyxy[:, 3] - dets.xyxy[:, 1])
        matched = np.zeros(len(dets), bool)
        for cx, cy, side in truth:
            ok = (np.abs(centres - [cx, cy]).max(axis=1) <= side / 2) & (sides >= side / 2)
            ok &= sides <= 2 * side
            found += bool(ok.any())
            matched |= ok
        false += int((~matched).sum())
        total += len(truth)
    return {
        "n": total,
        "recall_pct": round(100 * found / max(total, 1), 2),
        "false_per_scene": round(false / max(len(built), 1), 3),
    }


def edge_scenes(
    count: int, faces: list[np.ndarray], seed: int = 3
) -> list[tuple[np.ndarray, np.ndarray]]:
    """640x480 face-free backgrounds, each with one face of 48-240 px (log-uniform box
    side) whose box is cut by a random frame edge, 15-40% of its side outside; returns
    (scene, the face's box clipped to the frame, xyxy)."""
    rng = np.random.default_rng(seed)
    pool = backgrounds(count, seed)
    width, height = 640, 480
    out = []
    for i in range(count):
        scene = cv2.resize(pool[i % len(pool)], (width, height))
        face_px = float(np.exp(rng.uniform(np.log(48), np.log(240))))
        side = max(8, round(face_px / FACE_BOX_RATIO))
        face = faces[int(rng.integers(len(faces)))]
        inside = face_px * (0.5 - rng.uniform(0.15, 0.4))  # face centre to the edge
        cx = rng.uniform(face_px, width - face_px)
        cy = rng.uniform(face_px, height - face_px)
        edge = int(rng.integers(4))  # left, right, top, bottom
        cx = inside if edge == 0 else width - inside if edge == 1 else cx
        cy = inside if edge == 2 else height - inside if edge == 3 else cy
        paste(scene, face, round(cx - side / 2), round(cy - side / 2), side)
        half = face_px / 2
        box = [max(0, cx - half), max(0, cy - half), min(width, cx + half), min(height, cy + half)]
        out.append((scene, np.array(box, np.float32)))
    return out


def edge_recall(detector, built: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """A cut face is found when a box (clipped to the frame, as detect() gives it) has an
    IoU >= 0.4 with its visible box; other boxes are false."""
    found = false = 0
    for scene, box in built:
        dets = detector.detect(scene)
        hit = box_iou(dets.xyxy, box[None])[:, 0] >= 0.4
        found += bool(hit.any())
        false += int((~hit).sum())
    return {
        "n": len(built),
        "recall_pct": round(100 * found / max(len(built), 1), 2),
        "false_per_scene": round(false / max(len(built), 1), 3),
    }
