from itertools import combinations

import numpy as np
import pytest

from faceattrs.drawing import (
    PALETTE,
    annotate,
    face_label,
    label_layout,
    layout_labels,
    wrap_label,
)
from faceattrs.results import Face


def _face(xyxy=(40.0, 60.0, 120.0, 160.0), track_id=None, score=0.9) -> Face:
    return Face(
        xyxy=xyxy,
        score=score,
        keypoints=((60.0, 90.0), (100.0, 90.0), (80.0, 110.0), (80.0, 130.0)),
        age=27.4,
        age_interval=(23.0, 32.0),
        gender_probs={"male": 0.1, "female": 0.9},
        race_probs={"white": 0.1, "black": 0.1, "asian": 0.6, "indian": 0.1, "other": 0.1},
        track_id=track_id,
    )


def test_annotate_draws_on_a_copy():
    image = np.full((240, 320, 3), 128, np.uint8)
    out = annotate(image, [_face()])
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (image == 128).all(), "the input must not be modified"
    x1, y1, x2, y2 = 40, 60, 120, 160
    assert (out[y1 + 20 : y2 - 20, x1] != 128).any(), "left edge of the box"
    assert (out[y2, x1 + 10 : x2 - 10] != 128).any(), "bottom edge of the box"
    inside = out[y1 + 40 : y1 + 45, x1 + 5 : x1 + 10]
    assert (inside == 128).all(), "the face itself is not painted over"
    assert (out[y1 - 12 : y1, x1 : x1 + 40] != 128).any(), "a label above the box"


def test_no_faces_gives_an_unchanged_copy():
    image = np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    out = annotate(image, [])
    np.testing.assert_array_equal(out, image)
    assert out is not image


@pytest.mark.parametrize(
    "xyxy", [(0.0, 0.0, 50.0, 50.0), (-30.0, -20.0, 400.0, 300.0), (300.0, 220.0, 330.0, 250.0)]
)
def test_faces_at_or_beyond_the_edges(xyxy):
    out = annotate(np.zeros((240, 320, 3), np.uint8), [_face(xyxy)], legend=True)
    assert out.shape[1:] == (320, 3) and out.any()
    # a face filling the picture has no room for its label: a chip, and the label below
    assert (out.shape[0] > 240) == (xyxy[2] - xyxy[0] > 320)


def test_label_texts_carry_top_class_probabilities_and_doubt():
    assert face_label(_face()) == "female 90%, 27, asian 60%"
    assert face_label(_face(track_id=3)) == "#3 female 90%, 27, asian 60%"
    unsure = Face(**{**_face().__dict__, "race_probs": {"white": 0.49, "black": 0.21,
                     "asian": 0.1, "indian": 0.1, "other": 0.1}})  # fmt: skip
    assert face_label(unsure).endswith("white? 49%")


def _overlap(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _assert_apart(rects, width, height):
    for a, b in combinations(rects, 2):
        assert _overlap(a, b) == 0, (a, b)
    for x, y, w, h in rects:
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height


def test_crowded_labels_become_chips_and_never_overlap():
    """A grid of touching faces: no room outside the boxes, so numbered chips."""
    faces = [_face((20.0 + 50 * c, 30.0 + 50 * r, 70.0 + 50 * c, 80.0 + 50 * r))
             for r in range(4) for c in range(5)]  # fmt: skip
    placed = label_layout(faces, 300, 260)
    _assert_apart([rect for rect, _ in placed], 300, 260)
    assert {text for _, text in placed} >= {"7", "8", "13"}, "inner faces get chips"
    assert any(len(text) > 3 for _, text in placed), "faces on the edge keep full labels"


def test_a_written_picture_lists_its_chipped_faces_below_it():
    """The crowded grid again: the copy grows by one legend line per chipped face (more when
    a label needs two), each line starting with the face's colour; video frames do not."""
    faces = [_face((20.0 + 50 * c, 30.0 + 50 * r, 70.0 + 50 * c, 80.0 + 50 * r))
             for r in range(4) for c in range(5)]  # fmt: skip
    image = np.full((260, 600, 3), 128, np.uint8)
    chipped = [text for _, text in label_layout(faces, 600, 260) if text.isdigit()]
    assert chipped
    out = annotate(image, faces, caption=False, legend=True)  # no band: label_layout's places
    assert out.shape[1] == 600 and out.shape[0] > 260 and (out[:260, 500:] == 128).all()
    strip = out[260:]
    line_h = strip.shape[0] // len(chipped)
    assert strip.shape[0] == line_h * len(chipped), "one line per face: the labels fit 600 px"
    for k, text in enumerate(chipped):  # the swatch: the face's colour at the line's start
        i = int(text) - 1
        swatch = strip[k * line_h + line_h // 2, 2 + line_h // 4]
        assert tuple(int(v) for v in swatch) == PALETTE[i % len(PALETTE)], (text, swatch)
    assert annotate(image, faces).shape == image.shape, "by default (video frames) no strip"
    tracked = [Face(**{**f.__dict__, "track_id": k + 1}) for k, f in enumerate(faces)]
    assert annotate(image, tracked, caption=False, legend=True).shape == out.shape
    assert annotate(image, faces[:1], legend=True).shape == image.shape, "no chip, no strip"
    happy = {"happy": 0.8, "neutral": 0.2}  # longer labels, four stacked faces, 160 px wide
    column = [Face(**{**f.__dict__, "expression_probs": happy}) for f in faces[::5]]
    n_chips = sum(text.isdigit() for _, text in label_layout(column, 160, 260))
    narrow = annotate(np.full((260, 160, 3), 128, np.uint8), column, caption=False, legend=True)
    assert n_chips and narrow.shape[0] - 260 == 2 * line_h * n_chips, "two lines each"


def test_layout_prefers_above_then_below():
    above = layout_labels([(50, 50, 100, 100)], [40], [10], 12, 200, 200)
    assert above == [((50, 38, 40, 12), "label")]
    below = layout_labels([(50, 5, 100, 60)], [40], [10], 12, 200, 200)
    assert below == [((50, 60, 40, 12), "label")]


def test_a_label_too_wide_for_its_place_ends_at_the_box_or_goes_on_two_lines():
    # above, the label would reach a neighbour's box; below, a face; right and left, the
    # picture's edges: it moves left to end at its box's right edge
    boxes = [(100, 50, 150, 100), (190, 0, 230, 45), (0, 110, 200, 150)]
    placed = layout_labels(boxes, [120, 10, 10], [10] * 3, 12, 200, 300)
    assert placed[0] == ((30, 38, 120, 12), "label")
    # with a second neighbour above on the left no one-line place is left: a chip, or, when
    # the label has a two-line form (half as wide, twice as high), that
    boxes = [(100, 50, 150, 100), (20, 0, 60, 45), (190, 0, 230, 45), (0, 110, 300, 150)]
    widths, chips = [200, 20, 20, 20], [10] * 4
    assert layout_labels(boxes, widths, chips, 12, 300, 300)[0][1] == "chip"
    rect, kind = layout_labels(boxes, widths, chips, 12, 300, 300, [100, 0, 0, 0])[0]
    assert kind == "wrapped" and rect[2:] == (100, 24)


def test_wrap_label_splits_after_the_comma_that_balances_the_lines():
    assert wrap_label("1 female 90%, 27, asian 60%, happy 70%", len) == (
        "1 female 90%, 27,",
        "asian 60%, happy 70%",
    )
    assert wrap_label("2 happy 70%", len) == ()


def test_crowded_labels_go_on_two_lines_before_they_become_chips():
    from dataclasses import replace

    probs = dict.fromkeys(("angry", "disgust", "fear", "neutral", "sad", "surprise"), 0.05)
    row = [replace(_face((10.0 + 80 * c, 60.0, 70.0 + 80 * c, 120.0)),
                   expression_probs={**probs, "happy": 0.7}) for c in range(5)]  # fmt: skip
    placed = label_layout(row, 400, 200)
    _assert_apart([rect for rect, _ in placed], 400, 200)
    wrapped = [(rect, text) for rect, text in placed if "\n" in text]
    assert len(wrapped) == 1, placed
    (x, y, w, h), text = wrapped[0]
    assert text == "4 female 90%, 27,\nasian 60%, happy 70%"
    out = annotate(np.full((200, 400, 3), 128, np.uint8), row, keypoints=False, caption=False)
    label = out[round(y) : round(y + h), round(x) : round(x + w)]
    inked = (label != label[0, 0]).any(axis=(1, 2))
    assert inked[: len(inked) // 2].any() and inked[len(inked) // 2 :].any(), "two lines drawn"


def test_no_two_labels_overlap_on_the_crowd_photo(shared_dir):
    import cv2

    from faceattrs.pipeline.analyzer import FaceAnalyzer

    bgr = cv2.imread(str(shared_dir / "media" / "deepface" / "selfie-many-people.jpg"))
    faces = FaceAnalyzer(threads=1).analyze(bgr)
    assert len(faces) >= 4
    height, width = bgr.shape[:2]
    for shown in (faces, [_face(f.xyxy) for f in faces]):
        placed = label_layout(shown, width, height)
        _assert_apart([rect for rect, _ in placed], width, height)
    # at a quarter of the size the labels crowd: still apart (chips where needed)
    small = [_face(tuple(v / 4 for v in f.xyxy)) for f in faces]
    _assert_apart(
        [r for r, _ in label_layout(small, width // 4, height // 4)], width // 4, height // 4
    )


def test_weak_detections_are_drawn_dashed():
    image = np.zeros((240, 320, 3), np.uint8)
    solid = annotate(image, [_face(score=0.9)], keypoints=False)
    dashed = annotate(image, [_face(score=0.55)], keypoints=False)
    left_solid = (solid[70:150, 40] > 0).any(axis=1)
    left_dashed = (dashed[70:150, 40] > 0).any(axis=1)
    assert left_solid.all() and 0.3 < left_dashed.mean() < 0.8


def test_track_ids_pick_stable_colours():
    image = np.zeros((240, 320, 3), np.uint8)
    a = annotate(image, [_face(track_id=1)])
    b = annotate(image, [_face(track_id=2)])
    c = annotate(image, [_face(track_id=1)])
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_label_shows_the_expression():
    from dataclasses import replace

    probs = dict.fromkeys(("angry", "disgust", "fear", "neutral", "sad", "surprise"), 0.05)
    face = replace(_face(track_id=2), expression_probs={**probs, "happy": 0.7})
    assert face_label(face) == "#2 female 90%, 27, asian 60%, happy 70%"
    only = replace(face, age=None, age_interval=None, gender_probs=None, race_probs=None)
    assert face_label(only) == "#2 happy 70%"
    out = annotate(np.full((240, 320, 3), 128, np.uint8), [face])
    assert (out != 128).any()


def test_the_bottom_edge_says_the_estimates_are_perceived():
    image = np.full((240, 320, 3), 128, np.uint8)
    low = _face((40.0, 5.0, 120.0, 212.0))  # no room above; below is where the band goes
    out = annotate(image, [low], keypoints=False)
    band = out[-14:, :200]
    assert (band < 128).any() and (band > 200).any(), "light text on a darkened band"
    layout = label_layout([low], 320, 240, bottom=17)
    assert layout[0][0][1] + layout[0][0][3] <= 240 - 17, "the label stays above the band"
    assert label_layout([low], 320, 240) != layout  # without the band it would go below
    thumb = np.full((50, 60, 3), 128, np.uint8)
    assert (annotate(thumb, [_face((10.0, 5.0, 40.0, 35.0))])[-4:] == 128).all(), "too small"
    assert (annotate(image, [], caption=True)[-14:] < 128).any(), "a video frame without faces"
    assert (annotate(image, [low], caption=False)[-14:, :35] == 128).all(), "left of the box"
