"""Contact sheets: one row per person (their averaged perceived attributes, then their face
crops), the picture ``faceattrs people --sheet`` writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from faceattrs.drawing import FONT, greedy_lines, sure


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


SHEET_CAPTION = (
    "Perceived attributes, averaged over each person's faces: estimates with "
    "probabilities, not facts about a person ('?': under 60%)."
)


def contact_sheet(
    people: Sequence[dict[str, Any]],
    crops: dict[tuple[str, tuple[float, ...]], np.ndarray],
    max_faces: int = 10,
    tile: int = 96,
) -> np.ndarray:
    """A BGR image: :data:`SHEET_CAPTION`, then one row per person: a label (gender, age
    and interval, race, expression, each top class with its probability, "?" when unsure),
    then up to ``max_faces`` face crops (``crops`` maps (path, box) to a ``tile`` px crop)."""
    label_w, pad, line_h = 220, 6, 19
    columns = max([min(len(p["faces"]), max_faces) for p in people], default=1)
    width = label_w + columns * (tile + pad) + pad
    rows = [_caption(SHEET_CAPTION, width, pad), np.full((1, width, 3), 200, np.uint8)]
    if not people:
        rows.append(np.full((tile // 2, width, 3), 255, np.uint8))
        _text(rows[-1], "no faces", (pad, pad + 16))
        return np.vstack(rows)
    for person in people:
        row = np.full((tile + 2 * pad, width, 3), 255, np.uint8)
        for k, text in enumerate(_person_lines(person)):
            _text(row, text, (pad, pad + 14 + line_h * k))
        for k, face in enumerate(person["faces"][:max_faces]):
            crop = crops.get((face["path"], tuple(face["box"])))
            if crop is not None:
                x = label_w + pad + k * (tile + pad)
                row[pad : pad + tile, x : x + tile] = crop
        rows.append(row)
        rows.append(np.full((1, width, 3), 200, np.uint8))
    return np.vstack(rows)


def _person_lines(person: dict[str, Any]) -> list[str]:
    """A person's label on the sheet, e.g. ["person 2", "3 faces, 2 photos",
    "female 97%, 31 [26-37]", "white? 55%", "happy 71%"]."""
    gender, race = person["gender"], person["race"]
    low, high = person["age_interval"]
    lines = [
        f"person {person['person_id']}",
        f"{_plural(person['n_faces'], 'face')}, {_plural(person['n_photos'], 'photo')}",
        f"{sure(gender, person['gender_probs'][gender])}, {person['age']:.0f} [{low}-{high}]",
        sure(race, person["race_probs"][race]),
    ]
    if person.get("expression_probs"):
        lines.append(sure(person["expression"], person["expression_probs"][person["expression"]]))
    return lines


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.5) -> None:
    cv2.putText(canvas, text, origin, FONT, scale, (40, 40, 40), 1, cv2.LINE_AA)


def _caption(text: str, width: int, pad: int, scale: float = 0.45) -> np.ndarray:
    """``text`` word-wrapped to ``width`` px, dark on white."""
    fits = lambda line: cv2.getTextSize(line, FONT, scale, 1)[0][0] <= width - 2 * pad  # noqa: E731
    lines = greedy_lines(text.split(), " ", fits)
    line_h = 18
    canvas = np.full((len(lines) * line_h + 2 * pad, width, 3), 255, np.uint8)
    for k, line in enumerate(lines):
        _text(canvas, line, (pad, pad + 13 + line_h * k), scale)
    return canvas
