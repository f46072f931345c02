"""Drawing analysed faces onto images: boxes, keypoints, labels (contact sheets of
persons: :mod:`faceattrs.sheets`).

Labels never cover each other or another face: :func:`layout_labels` places each
face's label outside its box where there is room (above, below, right, left), else the
label on two lines (:func:`wrap_label`) in the same places, else a numbered chip (the
details are in the JSON or the page's list). The page
(``web/labels.js``) follows the same rule. Pictures written to files carry
:data:`PERCEIVED` along their bottom edge, where no label goes; the page says it in its
own text instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
WEAK_SCORE = 0.7  # detections below this score are drawn dashed ("weak")
UNSURE = 0.6  # a top class below this probability is shown with a "?"
LABEL_SIZE = 0.025  # label text height as a fraction of the picture's shorter side
MIN_LABEL_PX = 10

Rect = tuple[float, float, float, float]  # x, y, width, height


PERCEIVED = "perceived attributes: estimates, not facts about a person"
PERCEIVED_SHORT = "perceived estimates, not facts"  # for narrow pictures
CAPTION_SIZE = 0.75  # the caption's text height relative to the labels'
MIN_CAPTION_PX = 7  # its smallest text height (narrower pictures than that text: none)


def annotate(
    bgr: np.ndarray,
    faces: Sequence[Face],
    keypoints: bool = True,
    caption: bool | None = None,
    legend: bool = False,
) -> np.ndarray:
    """A copy of ``bgr`` with each face's box, keypoints and label drawn, and
    :data:`PERCEIVED` along the bottom edge (labels are kept above it; none on a picture
    too small for it): always with ``caption=True`` (a video's frames: it does not come and
    go), never with ``False``, by default when a label shows an estimate. With ``legend``
    (``analyze --annotate``), faces shown by a numbered chip get their labels in a strip added
    below the picture: the copy is then taller (so not for video frames)."""
    canvas = np.ascontiguousarray(bgr).copy()
    height, width = canvas.shape[:2]
    font = _Font(label_text_px(width, height))
    if caption is None:
        caption = any(map(_estimates, faces))
    band = _caption_band(canvas, font.px) if caption else 0
    thickness = max(1, round(font.px / 8))
    for index, face in enumerate(faces):
        colour = _colour(face, index)
        x1, y1, x2, y2 = (round(v) for v in face.xyxy)
        _rectangle(canvas, (x1, y1, x2, y2), colour, thickness, dashed=face.score < WEAK_SCORE)
        if keypoints:
            radius = max(1, thickness)
            for x, y in face.keypoints:
                cv2.circle(canvas, (round(x), round(y)), radius, colour, -1, cv2.LINE_AA)
    layout = label_layout(faces, width, height, band)
    for index, ((x, y, w, h), text) in enumerate(layout):
        colour = _colour(faces[index], index)
        left, top = round(x), round(y)
        cv2.rectangle(canvas, (left, top), (left + round(w) - 1, top + round(h) - 1), colour, -1)
        text_bgr = (0, 0, 0) if _luma(colour) > 140 else (255, 255, 255)
        for row, line in enumerate(text.split("\n")):
            origin = (left + font.pad, top + row * font.height + font.pad + font.text_h)
            cv2.putText(
                canvas, line, origin, FONT, font.scale, text_bgr, font.thickness, cv2.LINE_AA
            )
    if legend:  # not for video frames: no work per frame
        chipped = [i for i, (_, text) in enumerate(layout) if text == face_number(faces[i], i)]
        small = _caption_font(font.px)
        if chipped and small.width(PERCEIVED_SHORT) <= width:  # not on thumbnails
            rows = [(_colour(faces[i], i), _named_label(faces[i], i)) for i in chipped]
            canvas = np.vstack([canvas, _legend(rows, width, small)])
    return canvas


def _caption_font(label_px: int) -> _Font:
    """The caption's and the legend's font, for labels ``label_px`` high."""
    return _Font(max(MIN_CAPTION_PX, round(CAPTION_SIZE * label_px)))


def _legend(rows: Sequence[tuple[tuple[int, int, int], str]], width: int, font: _Font):
    """A dark strip ``width`` px wide listing each chipped face's label after a swatch of
    its colour, in ``font`` (the caption's), lines broken after commas to fit."""
    swatch = font.text_h + font.pad
    lines: list[tuple[tuple[int, int, int] | None, str]] = []
    for colour, text in rows:  # a continuation line has no swatch
        broken = greedy_lines(text.split(", "), ", ", lambda t: font.width(t) + swatch <= width)
        lines += [(colour if k == 0 else None, line + ("," if k < len(broken) - 1 else ""))
                  for k, line in enumerate(broken)]  # fmt: skip
    strip = np.full((len(lines) * font.height, width, 3), 40, np.uint8)
    for row, (colour, line) in enumerate(lines):
        top = row * font.height
        if colour is not None:
            corner = (font.pad, top + font.pad)
            cv2.rectangle(strip, corner, (font.pad + font.text_h, top + font.pad + font.text_h),
                          colour, -1)  # fmt: skip
        origin = (swatch + font.pad, top + font.pad + font.text_h)
        cv2.putText(strip, line, origin, FONT, font.scale, (255, 255, 255), font.thickness,
                    cv2.LINE_AA)  # fmt: skip
    return strip


class _Font:
    """Hershey font settings for labels ``px`` pixels high."""

    def __init__(self, px: int) -> None:
        self.px = px
        self.scale = px / 22.0
        self.thickness = max(1, round(px / 14))
        self.pad = max(2, round(px * 0.3))
        (_, self.text_h), baseline = cv2.getTextSize("Hg", FONT, self.scale, self.thickness)
        self.height = self.text_h + baseline + 2 * self.pad

    def width(self, text: str) -> int:
        return cv2.getTextSize(text, FONT, self.scale, self.thickness)[0][0] + 2 * self.pad


def label_layout(
    faces: Sequence[Face], width: int, height: int, bottom: int = 0
) -> list[tuple[Rect, str]]:
    """Each face's label rectangle (x, y, w, h) and text on a ``width`` x ``height``
    picture, as :func:`annotate` draws them: the full label (its two lines joined by a
    newline when wrapped), or the face's number in a chip; none in the ``bottom`` px (the
    caption's band)."""
    font = _Font(label_text_px(width, height))
    names = [face_number(face, i) for i, face in enumerate(faces)]
    texts = [_named_label(face, i) for i, face in enumerate(faces)]
    wrapped = [wrap_label(text, font.width) for text in texts]
    placed = layout_labels(
        [face.xyxy for face in faces],
        [font.width(t) for t in texts],
        [font.width(n) for n in names],
        font.height,
        width,
        height - bottom,
        [max(map(font.width, lines)) if lines else 0.0 for lines in wrapped],
    )
    shown = {"label": texts, "wrapped": ["\n".join(lines) for lines in wrapped], "chip": names}
    return [(rect, shown[kind][i]) for i, (rect, kind) in enumerate(placed)]


def wrap_label(text: str, width: Callable[[str], float]) -> tuple[str, ...]:
    """``text`` on two lines, split after the comma that leaves the wider line narrowest
    (``width`` measures a line); () when it has no comma. The page (labels.js) splits alike."""
    parts = text.split(", ")
    splits = [(", ".join(parts[:k]) + ",", ", ".join(parts[k:])) for k in range(1, len(parts))]
    return min(splits, key=lambda lines: max(map(width, lines)), default=())


def _estimates(face: Face) -> bool:
    """Does the face's label show a perceived attribute?"""
    probs = (face.gender_probs, face.race_probs, face.expression_probs)
    return face.age is not None or any(p is not None for p in probs)


def _caption_band(canvas: np.ndarray, label_px: int) -> int:
    """Draw :data:`PERCEIVED` (or :data:`PERCEIVED_SHORT` where it would not fit) in a
    darkened band along the bottom of ``canvas`` (in place); return the band's height (0:
    the picture is too small for it)."""
    height, width = canvas.shape[:2]
    font = _caption_font(label_px)
    text = PERCEIVED if font.width(PERCEIVED) <= width else PERCEIVED_SHORT
    if font.width(text) > width or font.height >= height // 4:
        return 0
    band = canvas[height - font.height :]
    band[:] = (band * 0.4).astype(np.uint8)
    origin = (font.pad, font.pad + font.text_h)  # as the labels' text
    cv2.putText(band, text, origin, FONT, font.scale, (255, 255, 255), font.thickness,
                cv2.LINE_AA)  # fmt: skip
    return font.height


def _colour(face: Face, index: int) -> tuple[int, int, int]:
    return PALETTE[(face.track_id if face.track_id is not None else index) % len(PALETTE)]


def _named_label(face: Face, index: int) -> str:
    """The label with the face's number in front (a tracked face's label has its id)."""
    label = face_label(face)
    return label if face.track_id is not None else f"{face_number(face, index)} {label}"


def face_number(face: Face, index: int) -> str:
    """The face's name on pictures and in lists: ``#<track id>`` or its 1-based index."""
    return f"#{face.track_id}" if face.track_id is not None else str(index + 1)


def sure(label: str, p: float) -> str:
    """``"female 92%"``, or ``"white? 49%"`` when the top class is below :data:`UNSURE`."""
    shown = round(100 * p)
    return f"{label}{'?' if shown < 100 * UNSURE else ''} {shown}%"


def face_label(face: Face) -> str:
    """The text drawn next to a face, e.g. ``"female 92%, 27, white? 49%, happy 80%"``
    (``#3 `` in front for a tracked face); attributes not asked for are left out."""
    prefix = f"#{face.track_id} " if face.track_id is not None else ""
    parts = []
    for name, probs in (("gender", face.gender_probs), ("age", None), ("race", face.race_probs)):
        if name == "age":
            if face.age is not None:
                parts.append(f"{face.age:.0f}")
        elif probs is not None:  # empty: a placeholder face, shown as "?"
            top = getattr(face, name)
            parts.append(sure(top, probs[top]) if probs else "?")
    if face.expression_probs:
        parts.append(sure(face.expression, face.expression_probs[face.expression]))
    return prefix + ", ".join(parts)


def label_text_px(width: int, height: int) -> int:
    """Label text height in pixels of a ``width`` x ``height`` picture (relative to the
    picture, so labels keep their size next to the faces however it is shown)."""
    return max(MIN_LABEL_PX, round(LABEL_SIZE * min(width, height)))


def _overlap(a: Rect, b: Rect) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box: Sequence[float], w: float, h: float, width: int) -> list[Rect]:
    """Above, below, right of and left of ``box``, then above and below ending at its right
    edge (above/below kept inside the width)."""
    x1, y1, x2, y2 = box
    left = min(max(0.0, x1), max(0.0, width - w))
    ending = min(max(0.0, x2 - w), max(0.0, width - w))
    return [
        (left, y1 - h, w, h), (left, y2, w, h), (x2, y1, w, h), (x1 - w, y1, w, h),
        (ending, y1 - h, w, h), (ending, y2, w, h),
    ]  # fmt: skip


def _inside(box: Sequence[float], w: float, h: float, width: int, height: int) -> list[Rect]:
    """The four inner corners of ``box``, kept inside the picture."""
    x1, y1, x2, y2 = box
    out = []
    for x, y in ((x1, y1), (x2 - w, y1), (x1, y2 - h), (x2 - w, y2 - h)):
        out.append((min(max(0.0, x), width - w), min(max(0.0, y), height - h), w, h))
    return out


def layout_labels(
    boxes: Sequence[Sequence[float]],
    widths: Sequence[float],
    chip_widths: Sequence[float],
    label_h: float,
    width: int,
    height: int,
    wrapped_widths: Sequence[float] | None = None,
) -> list[tuple[Rect, str]]:
    """Where each face's label goes: ``((x, y, w, h), kind)`` per box (x1, y1, x2, y2),
    kind ``"label"`` (one line), ``"wrapped"`` (two lines, ``2 * label_h`` high) or
    ``"chip"`` (the number only).

    Larger faces first, each label takes the first free place outside its box (above,
    below, right, left, then above and below ending at the box's right edge: inside the
    picture, over no placed label and no other face);
    failing that its two-line form (``wrapped_widths``, 0: none) tries the same places;
    failing that a chip (``chip_widths``) tries them and then its box's inner corners;
    failing that, the chip place overlapping least.
    """
    rects: list[tuple[Rect, str] | None] = [None] * len(boxes)
    wrapped_widths = wrapped_widths or [0.0] * len(boxes)
    placed: list[Rect] = []
    faces = [(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in boxes]
    order = sorted(range(len(boxes)), key=lambda i: -faces[i][2] * faces[i][3])

    def free(rect: Rect, own: int) -> bool:
        x, y, w, h = rect
        if x < 0 or y < 0 or x + w > width or y + h > height:
            return False
        if any(_overlap(rect, other) > 0 for other in placed):
            return False
        return not any(_overlap(rect, face) > 0 for j, face in enumerate(faces) if j != own)

    for i in order:
        box = boxes[i]
        inside = _inside(box, chip_widths[i], label_h, width, height)
        places = [(r, "label") for r in _outside(box, widths[i], label_h, width)]
        if wrapped_widths[i] > 0:
            places += [(r, "wrapped") for r in _outside(box, wrapped_widths[i], 2 * label_h, width)]
        places += [(r, "chip") for r in _outside(box, chip_widths[i], label_h, width) + inside]
        choice = next((place for place in places if free(place[0], i)), None)
        if choice is None:
            choice = (min(inside, key=lambda r: sum(_overlap(r, q) for q in placed)), "chip")
        rects[i] = choice
        placed.append(choice[0])
    return [r for r in rects if r is not None]


def _rectangle(canvas: np.ndarray, xyxy, colour, thickness: int, dashed: bool) -> None:
    x1, y1, x2, y2 = xyxy
    if not dashed:
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        return
    dash = max(4, 3 * thickness)
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)),
                               ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):  # fmt: skip
        length = max(abs(bx - ax), abs(by - ay))
        for start in range(0, length, 2 * dash):
            end = min(start + dash, length)
            p = (ax + (bx - ax) * start // max(length, 1), ay + (by - ay) * start // max(length, 1))
            q = (ax + (bx - ax) * end // max(length, 1), ay + (by - ay) * end // max(length, 1))
            cv2.line(canvas, p, q, colour, thickness, cv2.LINE_AA)


def _luma(bgr: tuple[int, int, int]) -> float:
    b, g, r = bgr
    return 0.114 * b + 0.587 * g + 0.299 * r


def greedy_lines(parts: Sequence[str], sep: str, fits: Callable[[str], bool]) -> list[str]:
    """``parts`` joined by ``sep`` into as few lines as ``fits`` allows, in order (a part
    too long for a line gets a line of its own)."""
    lines: list[str] = []
    for part in parts:
        wider = f"{lines[-1]}{sep}{part}" if lines else part
        if lines and fits(wider):
            lines[-1] = wider
        else:
            lines.append(part)
    return lines
