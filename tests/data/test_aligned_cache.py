"""Aligned-crop cache: centre-face choice, padding, misses, the .npz and the report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceattrs.cli import main
from faceattrs.data import aligned_cache as ac
from faceattrs.data.cache_commands import load_spec
from faceattrs.pipeline.alignment import template_points
from faceattrs.pipeline.detections import Detections
from faceattrs.spec import ModelSpec

SPEC = ModelSpec()
DOT_COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255))  # BGR, one per keypoint


def dotted_image(size: int = 160, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Gray image with a coloured dot at each template keypoint (shifted by ``shift`` px)."""
    bgr = np.full((size, size, 3), 128, np.uint8)
    for colour, (x, y) in zip(DOT_COLOURS, template_points(SPEC, size), strict=True):
        centre = (int(x) + shift[0], int(y) + shift[1])
        cv2.circle(bgr, centre, 3, colour, -1)
    return bgr


class DotDetector:
    """Finds the coloured dots; also reports a decoy face in a corner of the input."""

    def __init__(self, decoy: bool = True) -> None:
        self.decoy = decoy
        self.seen: list[tuple[int, int]] = []

    def detect(self, bgr: np.ndarray) -> Detections:
        self.seen.append(bgr.shape[:2])
        points = []
        for colour in DOT_COLOURS:
            mask = np.all(bgr == colour, axis=2)
            if not mask.any():
                return Detections.empty()
            ys, xs = np.nonzero(mask)
            points.append((xs.mean() + 0.5, ys.mean() + 0.5))
        kps = np.zeros((1, 6, 2), np.float32)
        kps[0, :4] = points
        kps[0, 4:] = points[:2]
        lo, hi = kps[0].min(0) - 20, kps[0].max(0) + 20
        xyxy = np.array([[*lo, *hi]], np.float32)
        scores = np.array([0.9], np.float32)
        if self.decoy:
            xyxy = np.concatenate([np.array([[0, 0, 30, 30]], np.float32), xyxy])
            kps = np.concatenate([np.full((1, 6, 2), 15, np.float32), kps])
            scores = np.array([0.95, 0.9], np.float32)
        return Detections(xyxy, scores, kps)


def test_centre_face_maps_padded_keypoints_back() -> None:
    bgr = dotted_image()
    detector = DotDetector()
    face = ac.find_centre_face(bgr, detector, pad=0.5)
    assert detector.seen == [(320, 320)]
    assert face.found and face.n_faces == 2
    expected = template_points(SPEC, 160)
    assert np.abs(face.keypoints[:4] - expected).max() < 1.0
    no_pad = ac.find_centre_face(bgr, DotDetector(), pad=0.0)
    assert np.allclose(no_pad.keypoints, face.keypoints, atol=1e-3)


def test_off_centre_and_missing_faces_are_misses() -> None:
    off = ac.find_centre_face(dotted_image(shift=(45, 40)), DotDetector(decoy=False), pad=0.5)
    assert not off.found and "near the centre" in off.reason
    empty = ac.find_centre_face(np.full((160, 160, 3), 128, np.uint8), DotDetector(), pad=0.5)
    assert not empty.found and empty.reason == "no face detected"


def test_outside_fraction() -> None:
    points = template_points(SPEC, 160)
    assert ac.outside_fraction(points, (160, 160), replace(SPEC, input_size=40)) < 0.01
    half = ac.outside_fraction(points, (160, 80), replace(SPEC, input_size=40))
    assert 0.4 < half < 0.6


def test_build_cache_keeps_every_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cv2.imwrite(str(data / "a.png"), dotted_image())
    cv2.imwrite(str(data / "b.png"), dotted_image(200, shift=(7, -5)))
    cv2.imwrite(str(data / "blank.png"), np.full((160, 160, 3), 90, np.uint8))
    (data / "broken.jpg").write_bytes(b"not an image")
    paths = [data / n for n in ("a.png", "b.png", "blank.png", "broken.jpg")]
    out = tmp_path / "cache" / "c.npz"
    report = ac.build_aligned_cache(
        paths, out, SPEC, DotDetector(), size=48, progress=False, meta={"dataset": "dots"}
    )
    assert (report["images"], report["found"], report["missed"]) == (4, 2, 2)
    assert json.loads(out.with_suffix(".json").read_text())["misses"] == report["misses"]
    assert {m["name"] for m in report["misses"]} == {"blank.png", "broken.jpg"}
    cache = ac.load_aligned_cache(out)
    assert cache.crops.shape == (4, 48, 48, 3) and cache.crops.dtype == np.uint8
    assert cache.found.tolist() == [True, True, False, False]
    assert cache.meta["dataset"] == "dots" and cache.spec.input_size == 48
    assert np.isnan(cache.keypoints[2]).all() and not cache.crops[2].any()
    # the dots land on the template in the crop (RGB now: the BGR red dot is R=255)
    for row in (0, 1):
        rgb = cache.crops[row].astype(float)
        redness = np.clip(rgb[..., 0] - rgb[..., 1:].max(-1) - 10, 0, None)
        ys, xs = np.mgrid[0:48, 0:48] + 0.5
        centre = np.array([(xs * redness).sum(), (ys * redness).sum()]) / redness.sum()
        assert np.abs(centre - template_points(cache.spec)[0]).max() < 1.0
    assert cache.rows(["b.png", "a.png"]).tolist() == [1, 0]
    with pytest.raises(KeyError, match="nope"):
        cache.rows(["nope"])


def test_align_cache_cli_rejects_bad_split_names(tmp_path: Path, capsys) -> None:
    code = main(
        ["data", "align-cache", "--dataset", "utkface", "--data", str(tmp_path)]
        + ["--split-dir", str(tmp_path), "--out", str(tmp_path / "x.npz")]
    )
    assert code == 2 and "split list not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "align-cache", "--dataset", "utkface", "--data", ".", "--splits", "dev"])


@pytest.mark.shared
def test_real_detector_on_utkface_crops(shared_dir: Path, tmp_path: Path) -> None:
    from faceattrs.data.utkface import load_split
    from faceattrs.pipeline.detection import FaceDetector

    split = Path(__file__).resolve().parents[2] / "splits" / "utkface"
    samples = load_split(split, "test", shared_dir / "data" / "utkface")[:4]
    spec, _ = load_spec(None)  # the measured UTKFace template when packaged
    report = ac.build_aligned_cache(
        [s.path for s in samples],
        tmp_path / "utk.npz",
        spec,
        FaceDetector(),
        size=64,
        progress=False,
    )
    cache = ac.load_aligned_cache(tmp_path / "utk.npz")
    assert report["found"] >= 3
    # each aligned crop looks more like its own source crop than like any other
    sources = [
        cv2.resize(cv2.imread(str(s.path)), (64, 64), interpolation=cv2.INTER_AREA)[..., ::-1]
        for s in samples
    ]
    for i in np.flatnonzero(cache.found):
        diffs = [np.abs(cache.crops[i].astype(int) - src).mean() for src in sources]
        assert int(np.argmin(diffs)) == i
