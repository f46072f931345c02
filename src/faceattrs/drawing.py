"""Drawing analysed faces onto images (boxes, keypoints, labels) and contact sheets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from faceattrs.results import Face

# BGR colours; a face's colour follows its track id when it has one.
PALETTE = (
    (80, 200, 80),
    (60, 160, 255),
    (255, 160, 60),
    (200, 80, 220),
    (60, 220, 220),
    (220, 220, 60),
    (120, 120, 255),
    (255, 120, 160),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def annotate(bgr: np.ndarray, faces: Sequence[Face], keypoints: bool = True) -> np.ndarray:
    """A copy of ``bgr`` with each face's box, keypoints and label drawn."""
    canvas = np.ascontiguousarray(bgr).copy()
    height, width = canvas.shape[:2]
    scale = max(min(height, width) / 720.0, 0.4)
    thickness = max(1, round(2 * scale))
    for index, face in enumerate(faces):
        colour = PALETTE[(face.track_id if face.track_id is not None else index) % len(PALETTE)]
        x1, y1, x2, y2 = (round(v) for v in face.xyxy)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        if keypoints:
            radius = max(1, thickness)
            for x, y in face.keypoints:
                cv2.circle(canvas, (round(x), round(y)), radius, colour, -1, cv2.LINE_AA)
        _draw_label(canvas, face_label(face), (x1, y1, x2, y2), colour, scale, thickness)
    return canvas


def face_label(face: Face) -> str:
    """The text drawn next to a face, e.g. ``"#3 female, 27, asian"``."""
    prefix = f"#{face.track_id} " if face.track_id is not None else ""
    return prefix + face.label


def _draw_label(
    canvas: np.ndarray,
    text: str,
    box: tuple[int, int, int, int],
    colour: tuple[int, int, int],
    scale: float,
    thickness: int,
) -> None:
    height, width = canvas.shape[:2]
    font_scale = 0.6 * scale
    text_thickness = max(1, thickness - 1)
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, text_thickness)
    pad = max(2, round(3 * scale))
    x1, y1, _, y2 = box
    label_h = text_h + baseline + 2 * pad
    top = y1 - label_h if y1 - label_h >= 0 else min(y2, height - label_h)  # above, else below
    top = max(0, top)
    left = min(max(0, x1), max(0, width - text_w - 2 * pad))
    cv2.rectangle(canvas, (left, top), (left + text_w + 2 * pad, top + label_h), colour, -1)
    origin = (left + pad, top + pad + text_h)
    text_bgr = (0, 0, 0) if _luma(colour) > 140 else (255, 255, 255)
    cv2.putText(canvas, text, origin, FONT, font_scale, text_bgr, text_thickness, cv2.LINE_AA)


def _luma(bgr: tuple[int, int, int]) -> float:
    b, g, r = bgr
    return 0.114 * b + 0.587 * g + 0.299 * r


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def face_crop(bgr: np.ndarray, xyxy: Sequence[float], size: int, margin: float = 0.2):
    """A square ``size`` px crop around a face box (with ``margin``), black outside."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = size / max(side, 1.0)
    matrix = np.float32([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(bgr, matrix, (size, size), flags=interp, borderValue=(0, 0, 0))


def contact_sheet(
    people: Sequence[dict[str, Any]],
    crops: dict[tuple[str, tuple[float, ...]], np.ndarray],
    max_faces: int = 10,
    tile: int = 96,
) -> np.ndarray:
    """A BGR image, one row per person: a label, then up to ``max_faces`` face crops
    (``crops`` maps (path, box) to a ``tile`` px crop)."""
    label_w, pad = 220, 6
    columns = max([min(len(p["faces"]), max_faces) for p in people], default=1)
    width = label_w + columns * (tile + pad) + pad
    rows = []
    for person in people:
        row = np.full((tile + 2 * pad, width, 3), 255, np.uint8)
        lines = [
            f"person {person['person_id']}",
            f"{_plural(person['n_faces'], 'face')}, {_plural(person['n_photos'], 'photo')}",
            f"{person['gender']}, {person['age']:.0f} "
            f"[{person['age_interval'][0]}-{person['age_interval'][1]}]",
            f"{person['race']}",
        ]
        for k, text in enumerate(lines):
            cv2.putText(row, text, (pad, pad + 18 + 22 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (40, 40, 40), 1, cv2.LINE_AA)  # fmt: skip
        for k, face in enumerate(person["faces"][:max_faces]):
            crop = crops.get((face["path"], tuple(face["box"])))
            if crop is not None:
                x = label_w + pad + k * (tile + pad)
                row[pad : pad + tile, x : x + tile] = crop
        rows.append(row)
        rows.append(np.full((1, width, 3), 200, np.uint8))
    if not rows:
        blank = np.full((60, width, 3), 255, np.uint8)
        cv2.putText(blank, "no faces", (pad, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (40, 40, 40), 1)
        return blank
    return np.vstack(rows)
