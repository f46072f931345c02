"""FER2013 loading and the pad-and-upscale framing used to detect faces in tight crops."""

import numpy as np
import pytest

from faceattrs.data.fer import (
    central_face,
    list_fer_split,
    load_fer_split,
    pad_and_upscale,
    photo_to_crop,
)
from faceattrs.spec import EXPRESSIONS


def test_pad_and_upscale_maps_back():
    gray = np.zeros((48, 48), np.uint8)
    gray[10, 30] = 255
    photo = pad_and_upscale(gray, upscale=4, border="constant")
    assert photo.shape == (576, 576, 3)
    ys, xs = np.nonzero(photo[..., 0] == photo[..., 0].max())
    centre = np.array([[xs.mean() + 0.5, ys.mean() + 0.5]])
    np.testing.assert_allclose(photo_to_crop(centre, 48, 4), [[30.5, 10.5]], atol=0.2)
    with pytest.raises(ValueError, match="unknown border"):
        pad_and_upscale(gray, border="mirror")


def test_central_face_picks_the_face_in_the_crop():
    side, crop = 576, 48
    xyxy = np.array([[0, 0, 50, 50], [200, 200, 380, 380]], np.float32)
    assert central_face(xyxy, side, crop) == 1
    assert central_face(xyxy[:1], side, crop) is None
    assert central_face(np.zeros((0, 4)), side, crop) is None


@pytest.mark.shared
def test_shared_fer_split_lists_every_class(shared_dir):
    items = list_fer_split(shared_dir / "data" / "fer2013", "val")
    labels = {label for _, label in items}
    assert labels == set(range(len(EXPRESSIONS)))
    small = load_fer_split(shared_dir / "data" / "fer2013", "val", limit=20)
    assert small.gray.shape == (20, 48, 48) and small.gray.dtype == np.uint8


@pytest.mark.shared
def test_pipeline_crops_are_the_faces_as_the_product_frames_them(shared_dir, tmp_path):
    """Each FER face through the detector and the expression template comes back as an
    upright crop, mostly face (black where it reaches past the FER crop: bands, corners),
    cached for training."""
    from faceattrs.data.fer import load_fer_pipeline_crops
    from faceattrs.pipeline.detection import FaceDetector
    from faceattrs.pipeline.expression import ExpressionModel

    fer = load_fer_split(shared_dir / "data" / "fer2013", "val", limit=8)
    detector, spec = FaceDetector("full", threads=1), ExpressionModel().spec
    gray, found = load_fer_pipeline_crops(fer, "val", detector, spec, tmp_path)
    assert gray.shape == (8, 48, 48) and gray.dtype == np.uint8 and found.sum() >= 6
    for crop in gray[found]:
        assert (crop == 0).mean() < 0.3 and crop[16:32, 16:32].std() > 5
    assert not gray[~found].any()  # a missed face is left blank, never a guess
    cached, cached_found = load_fer_pipeline_crops(fer, "val", None, spec, tmp_path)
    np.testing.assert_array_equal(cached, gray)
    np.testing.assert_array_equal(cached_found, found)


@pytest.mark.shared
def test_alignment_from_replicated_edges_has_the_same_geometry_without_black(shared_dir):
    """Keypoints found on the black-padded crop align the replicated-edge one: the same
    face in the middle, and no black where the aligned crop reaches past the FER crop."""
    from faceattrs.data.fer import align_pipeline, pipeline_keypoints
    from faceattrs.pipeline.detection import FaceDetector
    from faceattrs.pipeline.expression import ExpressionModel

    fer = load_fer_split(shared_dir / "data" / "fer2013", "val", limit=24)
    detector, spec = FaceDetector("full", threads=1), ExpressionModel().spec
    keypoints, found = pipeline_keypoints(fer.gray, detector, "constant", progress=False)
    black = align_pipeline(fer.gray, keypoints, found, spec, "constant")[found, ..., 1]
    edges = align_pipeline(fer.gray, keypoints, found, spec, "replicate")[found, ..., 1]
    assert found.sum() >= 18
    np.testing.assert_array_equal(black[:, 16:32, 16:32], edges[:, 16:32, 16:32])
    assert (black == 0).mean() > 0.1  # the black pad fills a tenth of these crops or more
    assert (edges == 0).mean() < (fer.gray == 0).mean() + 0.02  # only the photos' own black
