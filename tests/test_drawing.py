import numpy as np
import pytest

from faceattrs.drawing import annotate, face_label
from faceattrs.results import Face


def _face(xyxy=(40.0, 60.0, 120.0, 160.0), track_id=None) -> Face:
    return Face(
        xyxy=xyxy,
        score=0.9,
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
    out = annotate(np.zeros((240, 320, 3), np.uint8), [_face(xyxy)])
    assert out.shape == (240, 320, 3) and out.any()


def test_label_texts():
    assert face_label(_face()) == "female, 27, asian"
    assert face_label(_face(track_id=3)) == "#3 female, 27, asian"


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
    assert face_label(face) == "#2 female, 27, asian, happy"
    out = annotate(np.full((240, 320, 3), 128, np.uint8), [face])
    assert (out != 128).any()
