"""Face detection with MediaPipe BlazeFace (ONNX Runtime, numpy decoding and NMS).

The converted models (scripts/convert_blazeface.py) are fully convolutional: any
input whose sides are multiples of 32 works, with one output row per anchor.
Boxes are decoded in input pixels (MediaPipe scales by the native input size and
normalises anchors by it, so the two cancel): centre = raw + anchor centre,
size = raw, keypoints = raw + anchor centre.

Small faces in large images: the whole image letterboxed to the native size
(192 px for the full-range model, as MediaPipe runs it) finds large faces; when
a ``min_face`` pixel face would be below what the model sees reliably at that
scale, a pyramid of finer levels follows, each run as one fully convolutional
pass over the whole image (equivalent to overlapping tiles without seams),
split into tiles only above ``tile_pixels`` to bound memory. For photos the finer
levels run with a black border of ``edge_margin`` px (``EDGE_MARGIN``) around the
image, so that a face cut by the frame's edge (a selfie's neighbour, a group photo's
last person) is seen against a border rather than at the input's edge, where the
model misses many of them (README, "Faces cut by the frame's edge": 60% -> 75% of
such faces found, at 20% more detection time on a 1280x720 photo); 32 px keeps the
image on the model's 32 px grid, so faces inside the frame get nearly the boxes they
get without it. Video frames go without it (``edge_margin=0``, video/process.py): it
costs 28-60% more pixels at the finer levels of 640x360-1280x720 frames, and a face
entering the frame is found a moment later anyway. All levels are merged by NMS,
then :func:`drop_duplicates` removes the boxes NMS's IoU test lets
through when one face is found at two scales.

Speed (same outputs up to float rounding): the full-range model runs as
blazeface_full_padded.onnx (scripts/pad_blazeface.py: bottlenecks zero-padded
to 16 channels for ONNX Runtime's blocked kernels), and preprocessing writes the
planar input one channel at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceattrs.pipeline import face_checks
from faceattrs.pipeline.detections import (
    NUM_KEYPOINTS,
    Detections,
    drop_duplicates,
    weighted_nms,
)
from faceattrs.pipeline.detector_input import ceil32 as _ceil32
from faceattrs.pipeline.detector_input import downscale, sigmoid, to_input
from faceattrs.pipeline.detector_input import pad_to as _pad_to
from faceattrs.pipeline.runtime import OnnxModel
from faceattrs.resources import MODELS_DIR


@dataclass(frozen=True)
class _ModelConfig:
    file: str
    native: int  # native square input size
    strides: tuple[int, ...]  # MediaPipe SsdAnchorsCalculator strides
    anchors_per_layer: int  # 2 with interpolated_scale_aspect_ratio=1, else 1
    min_px: float  # smallest face (input px) found reliably; sets the finest scale
    max_px: float  # largest face (input px) found reliably; sets the tile overlap
    level_ratio: float  # scale step between pyramid levels (< max_px / min_px)


_MODELS = {
    # face size ranges measured by pasting photo faces at known sizes on a canvas
    # blazeface_full.onnx with zero-padded bottlenecks: the same function, faster
    "full": _ModelConfig("blazeface_full_padded.onnx", 192, (4,), 1, 10.0, 128.0, 6.0),
    "short": _ModelConfig("blazeface_short.onnx", 128, (8, 16, 16, 16), 2, 16.0, 128.0, 4.0),
}
COARSE = 0.6  # extra letterbox pass at this fraction of the native scale (huge faces)
MAX_SCALE = 1.0  # never upsample for the pyramid
LEVEL_SLACK = 1.3  # no finer level when the last one is this close to the target scale
EDGE_MARGIN = 32  # black border (input px) around the finer levels, see the module docstring


def anchor_centers(config: _ModelConfig, height: int, width: int) -> np.ndarray:
    """Anchor centres in input pixels (A, 2), in the model's output order.

    Mirrors MediaPipe's SsdAnchorsCalculator (fixed anchor size, offset 0.5):
    consecutive layers of equal stride share one feature map, each adding
    ``anchors_per_layer`` anchors per cell.
    """
    centers = []
    layer = 0
    strides = config.strides
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        repeats = (last - layer) * config.anchors_per_layer
        stride = strides[layer]
        ys, xs = np.mgrid[0 : height // stride, 0 : width // stride]
        grid = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2).astype(np.float32)
        grid = (grid + 0.5) * stride
        centers.append(np.repeat(grid, repeats, axis=1).reshape(-1, 2))
        layer = last
    return np.concatenate(centers, axis=0)


class FaceDetector:
    """BlazeFace detector: ``detect(bgr) -> Detections`` in image pixels.

    ``model``: "full" (full-range, 192 px, for photos and video) or "short"
    (short-range, 128 px, selfies). Faces smaller than ``min_face`` px (box
    side, the larger of width and height) are dropped; the pyramid is built so
    faces from ``min_face`` up are found in large images. ``tile_pixels`` caps
    the input pixels of one fine-level pass (larger levels are split in
    overlapping tiles); ``pyramid=False`` (default for "short") runs only the
    native-size letterbox passes, like MediaPipe. ``threads`` and ``spinning``:
    see :func:`faceattrs.pipeline.runtime.session_options`.

    ``closeup``: when the first passes give a reason (no confident face, or a face
    filling much of the frame), also run the short-range model on the whole image
    centred with a border; ``check``: keep a face scoring below ``CONFIDENT`` only when
    a model confirms it on a crop around it (textures, patterns; see
    :mod:`faceattrs.pipeline.face_checks`). ``edge_margin``: the black border (px) around
    the finer levels, for faces cut by the frame's edge (0: none; see the module docstring).
    """

    def __init__(
        self,
        model: str = "full",
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
        min_face: float = 20,
        *,
        pyramid: bool | None = None,
        tile_pixels: int = 1024 * 1024,
        threads: int | None = None,
        spinning: bool = True,
        providers: str | list[str] | None = None,
        closeup: bool = True,
        check: bool = True,
        edge_margin: int = EDGE_MARGIN,
    ) -> None:
        if model not in _MODELS:
            raise ValueError(f"unknown detector model {model!r}; choose from {sorted(_MODELS)}")
        self.config = _MODELS[model]
        self.model = model
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.min_face = float(min_face)
        # short-range is for close faces: its fine levels only add false positives
        self.pyramid = (model == "full") if pyramid is None else pyramid
        self.tile_pixels = int(tile_pixels)
        if edge_margin < 0:
            raise ValueError(f"edge_margin must be >= 0, got {edge_margin}")
        self.edge_margin = int(edge_margin)
        self.onnx = OnnxModel(
            MODELS_DIR / self.config.file, providers=providers, threads=threads,
            spinning=spinning, name="face detector",
        )  # fmt: skip
        self._anchor_cache: dict[tuple[int, int], np.ndarray] = {}
        self.closeup = closeup
        self.check = check
        self._threads, self._spinning, self._providers = threads, spinning, providers
        self._helpers: dict[str, FaceDetector] = {}

    def _helper(self, model: str) -> FaceDetector:
        """This detector for its own model, else one of ``model`` (loaded on first use)
        for the close-up pass and the checks."""
        if model == self.model:
            return self
        if model not in self._helpers:
            self._helpers[model] = FaceDetector(
                model,
                score_threshold=face_checks.CLOSEUP_THRESHOLD,
                threads=self._threads,
                spinning=self._spinning,
                providers=self._providers,
                closeup=False,
                check=False,
            )
        return self._helpers[model]

    def _closeup_passes(self, bgr: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        threshold = max(self.score_threshold, face_checks.CLOSEUP_THRESHOLD)
        return [face_checks.closeup_candidates(self._helper("short"), bgr, threshold)]

    def _merge(self, found: list[tuple[np.ndarray, ...]]) -> Detections:
        xyxy = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        kps = np.concatenate([f[2] for f in found])
        return drop_duplicates(weighted_nms(xyxy, scores, kps, self.iou_threshold))

    def _checked(self, bgr: np.ndarray, dets: Detections, agreed: np.ndarray) -> Detections:
        """Drop the faces scoring below ``CONFIDENT``, not ``agreed`` on by both models'
        passes, that neither model, shown a crop around each, confirms
        (:mod:`faceattrs.pipeline.face_checks`)."""
        unsure = np.flatnonzero((dets.scores < face_checks.CONFIDENT) & ~agreed)
        if len(unsure) == 0:
            return dets
        checkers = {model: self._helper(model) for model in face_checks.CHECK_MARGINS}
        keep = np.ones(len(dets), bool)
        keep[unsure] = face_checks.confirmed(checkers, bgr, dets.xyxy[unsure])
        return dets[keep]

    def _anchors(self, height: int, width: int) -> np.ndarray:
        key = (height, width)
        if key not in self._anchor_cache:
            self._anchor_cache[key] = anchor_centers(self.config, height, width)
        return self._anchor_cache[key]

    def raw_outputs(self, batch_bgr: np.ndarray) -> tuple[np.ndarray, ...]:
        """One pass over padded BGR images (N, H, W, 3), sides multiples of 32: raw
        boxes (N, A, 16), scores (N, A) and the anchor centres (A, 2)."""
        height, width = batch_bgr.shape[1:3]
        x = to_input(batch_bgr)
        raw_boxes, raw_scores = self.onnx.run(None, {self.onnx.input_names()[0]: x})
        return raw_boxes, sigmoid(raw_scores[..., 0]), self._anchors(height, width)

    def candidates(self, batch_bgr: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """One pass over padded BGR images (N, H, W, 3), sides multiples of 32:
        per image the candidates above the score threshold as (xyxy, scores,
        keypoints) in its pixels."""
        raw_boxes, all_scores, anchors_all = self.raw_outputs(batch_bgr)
        out = []
        for i in range(len(batch_bgr)):
            scores = all_scores[i]
            keep = np.nonzero(scores >= self.score_threshold)[0]
            raw = raw_boxes[i, keep]
            anchors = anchors_all[keep]
            center = raw[:, 0:2] + anchors
            half = raw[:, 2:4] / 2
            xyxy = np.concatenate([center - half, center + half], axis=1)
            kps = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + anchors[:, None, :]
            valid = (half > 0).all(axis=1)
            out.append((xyxy[valid], scores[keep][valid], kps[valid]))
        return out

    def _passes(self, bgr: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Run every pyramid level; candidates in original image pixels."""
        letterboxed, tiles = [], []  # (scale, x0, y0, padded image)
        h, w = bgr.shape[:2]
        small = bgr  # each level is resized from the previous, larger one
        for scale, native in sorted(self.scales(h, w), reverse=True):
            small = downscale(small, max(1, round(w * scale)), max(1, round(h * scale)))
            if native:
                side = max(self.config.native, _ceil32(max(small.shape[:2])))
                letterboxed.append((scale, 0, 0, _pad_to(small, side, side)))
            else:
                m = self.edge_margin
                bordered = np.pad(small, ((m, m), (m, m), (0, 0))) if m else small
                tiles.extend((scale, x0 - m, y0 - m, t) for x0, y0, t in self._tiles(bordered))
        groups = [letterboxed[i : i + 1] for i in range(len(letterboxed))]
        if len({t[3].shape for t in letterboxed}) == 1:
            groups = [letterboxed]  # same size: one batched run
        groups += [[t] for t in tiles]
        found = []
        for group in groups:
            results = self.candidates(np.stack([t[3] for t in group]))
            for (scale, x0, y0, _), (xyxy, scores, kps) in zip(group, results, strict=True):
                offset = np.array([x0, y0], np.float32)
                found.append(((xyxy + np.tile(offset, 2)) / scale, scores, (kps + offset) / scale))
        return found

    def _tiles(self, small: np.ndarray):
        """Split an image into overlapping tiles of at most ``tile_pixels``."""
        sh, sw = small.shape[:2]
        if sh * sw <= self.tile_pixels:
            return [(0, 0, _pad_to(small, _ceil32(sh), _ceil32(sw)))]
        side = max(256, int(np.sqrt(self.tile_pixels)) // 32 * 32)
        overlap = int(np.ceil(self.config.max_px * 1.25 / 32)) * 32
        step = side - overlap
        tiles = []
        for y0 in range(0, max(1, sh - overlap), step):
            for x0 in range(0, max(1, sw - overlap), step):
                crop = small[y0 : y0 + side, x0 : x0 + side]
                padded = _pad_to(crop, _ceil32(crop.shape[0]), _ceil32(crop.shape[1]))
                tiles.append((x0, y0, padded))
        return tiles

    def scales(self, height: int, width: int) -> list[tuple[float, bool]]:
        """Pyramid levels (scale, letterboxed to the native size?) for an image size.

        Coarse (faces filling the frame) and native (MediaPipe's own) letterbox
        passes, then finer levels at most ``level_ratio`` apart down to the scale
        where a ``min_face`` px face is ``min_px`` px at the model input.
        """
        cfg = self.config
        base = min(cfg.native / max(height, width), 1.0)
        levels = [(base * COARSE, True), (base, True)]
        if not self.pyramid:
            return levels
        target = min(cfg.min_px / max(self.min_face, 1.0), MAX_SCALE)
        scale = base
        while scale * LEVEL_SLACK < target:
            scale = min(scale * cfg.level_ratio, target)
            levels.append((scale, False))
        return levels

    def detect(self, bgr: np.ndarray) -> Detections:
        """Find faces in a BGR uint8 image (H, W, 3)."""
        if not isinstance(bgr, np.ndarray) or bgr.ndim != 3 or bgr.shape[2] != 3:
            shape = getattr(bgr, "shape", type(bgr).__name__)
            raise ValueError(f"expected a BGR image of shape (H, W, 3), got {shape}")
        if bgr.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image, got {bgr.dtype}")
        height, width = bgr.shape[:2]
        if height == 0 or width == 0:
            return Detections.empty()
        found = self._passes(bgr)
        dets = first = self._merge(found)
        closeup = None
        if self.closeup and face_checks.needs_closeup(dets.xyxy, dets.scores, height, width):
            closeup = self._closeup_passes(bgr)
            dets = self._merge(found + closeup)
        if len(dets) == 0:
            return dets
        xyxy = dets.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        dets = Detections(xyxy, dets.scores, dets.keypoints).keep(min_face=self.min_face)
        if not self.check or len(dets) == 0:
            return dets
        agreed = np.zeros(len(dets), bool)
        if closeup is not None and len(first) and len(closeup[0][0]):
            agreed = face_checks.both_found(dets.xyxy, first.xyxy, closeup[0][0])
        return self._checked(bgr, dets, agreed)
