"""The attribute model: aligned face crops in, perceived age, gender and race out.

Runs an ONNX model with ONNX Runtime. The model carries its :class:`ModelSpec` in
its metadata, so preprocessing and labels are read from the file, never guessed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from faceattrs.pipeline.runtime import ModelHead
from faceattrs.resources import MODELS_DIR
from faceattrs.results import Face
from faceattrs.spec import ATTRIBUTES, METADATA_KEY, ModelSpec

DEFAULT_MODEL_PATH = MODELS_DIR / "attributes.onnx"
DEFAULT_BATCH_SIZE = 32


class ModelNotFoundError(FileNotFoundError):
    """The attribute model file does not exist."""


@dataclass(frozen=True)
class AttributePredictions:
    """Per-face predictions; row i belongs to crop i."""

    age: np.ndarray  # (N,) float32, expected value of age_probs
    age_interval: np.ndarray  # (N, 2) float32, central interval (whole years)
    age_probs: np.ndarray  # (N, max_age + 1) float32, sums to 1
    gender_probs: np.ndarray  # (N, len(spec.genders)) float32, sums to 1
    race_probs: np.ndarray  # (N, len(spec.races)) float32, sums to 1

    def __len__(self) -> int:
        return len(self.age)


class AttributeModel(ModelHead):
    """Perceived age, gender and race from aligned face crops.

    ``path`` None means the packaged default model. Loaded through the one model base
    (:class:`~faceattrs.pipeline.runtime.OnnxModel`): the session is created on first
    use; ``threads`` None uses all cores; ``providers`` and ``spinning`` see
    :mod:`faceattrs.pipeline.runtime`.
    """

    kind = "attribute model"
    spec: ModelSpec

    default_batch_size = DEFAULT_BATCH_SIZE

    @property
    def default_path(self) -> Path:  # read when used, so DEFAULT_MODEL_PATH may be re-pointed
        return DEFAULT_MODEL_PATH

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        providers: str | list[str] | None = None,
        spinning: bool = True,
    ) -> None:
        resolved = Path(self.default_path if path is None else path)
        if not resolved.is_file():  # a FileNotFoundError that names the default's absence
            if path is None:
                raise ModelNotFoundError(
                    f"the default attribute model is not installed ({resolved} is missing); "
                    "pass a model path (an ONNX file written by the faceattrs export)"
                )
            raise ModelNotFoundError(f"attribute model not found: {resolved}")
        super().__init__(resolved, threads, batch_size, providers, spinning)
        self._fixed_batch: int | None = None

    def _load_spec(self) -> ModelSpec:
        spec = self._read_spec(ModelSpec, METADATA_KEY, f"invalid {METADATA_KEY!r} metadata")
        self._check_signature([spec.input_name], spec.outputs)
        batch_dim = self.onnx.session.get_inputs()[0].shape[0]
        self._fixed_batch = batch_dim if isinstance(batch_dim, int) else None
        return spec

    def predict(self, crops_bgr: np.ndarray) -> AttributePredictions:
        """Predict for aligned BGR uint8 crops (N, S, S, 3), S = ``spec.input_size``."""
        spec = self.spec
        crops_bgr = np.asarray(crops_bgr)
        size = spec.input_size
        if crops_bgr.ndim != 4 or crops_bgr.shape[1:] != (size, size, 3):
            raise ValueError(
                f"expected aligned BGR crops of shape (N, {size}, {size}, 3), got {crops_bgr.shape}"
            )
        if crops_bgr.dtype != np.uint8:
            raise ValueError(f"expected uint8 crops, got {crops_bgr.dtype}")
        if len(crops_bgr) == 0:
            return _empty(spec)
        step = self._fixed_batch or self.batch_size
        parts = [self._run(spec, crops_bgr[i : i + step]) for i in range(0, len(crops_bgr), step)]
        outputs = [np.concatenate([p[k] for p in parts]) for k in range(3)]
        widths = (spec.max_age + 1, len(spec.genders), len(spec.races))
        for name, out, width in zip(spec.outputs, outputs, widths, strict=True):
            if out.shape != (len(crops_bgr), width):
                raise ValueError(
                    f"{self.path}: output {name} has shape {out.shape}, "
                    f"expected {(len(crops_bgr), width)} from the model spec"
                )
        return postprocess(spec, *outputs)

    def _run(self, spec: ModelSpec, crops_bgr: np.ndarray) -> list[np.ndarray]:
        count = len(crops_bgr)
        if self._fixed_batch and count < self._fixed_batch:  # pad a fixed-batch model
            pad = np.zeros((self._fixed_batch - count, *crops_bgr.shape[1:]), np.uint8)
            crops_bgr = np.concatenate([crops_bgr, pad])
        x = spec.preprocess(crops_bgr[..., ::-1])
        outputs = self.onnx.run(spec.outputs, {spec.input_name: x})
        return [np.asarray(o, np.float32)[:count] for o in outputs]


def prepare_aligned(frames_bgr: list[np.ndarray] | np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Turn UTKFace-framed aligned crops (any size) into model crops: ``crop_box``, resize.

    Parts of the box outside a crop are black, as in alignment (and UTKFace)."""
    out = np.empty((len(frames_bgr), spec.input_size, spec.input_size, 3), np.uint8)
    x0, y0, x1, y1 = spec.crop_box
    for i, frame in enumerate(frames_bgr):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected BGR uint8 (H, W, 3) crops, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        left, top = round(x0 * w), round(y0 * h)
        right, bottom = max(round(x1 * w), left + 1), max(round(y1 * h), top + 1)
        region = _crop_padded(frame, left, top, right, bottom)
        interp = cv2.INTER_AREA if region.shape[0] > spec.input_size else cv2.INTER_LINEAR
        out[i] = cv2.resize(region, (spec.input_size, spec.input_size), interpolation=interp)
    return out


def _crop_padded(frame: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if left >= 0 and top >= 0 and right <= w and bottom <= h:
        return frame[top:bottom, left:right]
    padded = cv2.copyMakeBorder(
        frame,
        max(0, -top),
        max(0, bottom - h),
        max(0, -left),
        max(0, right - w),
        cv2.BORDER_CONSTANT,
        value=(0, 0, 0),
    )
    dx, dy = max(0, -left), max(0, -top)
    return padded[top + dy : bottom + dy, left + dx : right + dx]


def postprocess(
    spec: ModelSpec, age_probs: np.ndarray, gender_probs: np.ndarray, race_probs: np.ndarray
) -> AttributePredictions:
    """Renormalise the model's probabilities; derive age and its central interval."""
    age_probs = normalize(age_probs)
    ages = spec.ages
    age = age_probs @ ages
    tail = (1.0 - spec.age_interval_coverage) / 2.0
    cdf = np.cumsum(age_probs, axis=1, dtype=np.float64)
    cdf[:, -1] = 1.0
    # The first age whose CDF reaches each tail (the discrete quantile).
    low = (cdf < tail - 1e-6).sum(axis=1)
    high = np.minimum((cdf < 1.0 - tail - 1e-6).sum(axis=1), len(ages) - 1)
    interval = np.stack([ages[low], ages[high]], axis=1)
    return AttributePredictions(
        age=age.astype(np.float32),
        age_interval=interval.astype(np.float32),
        age_probs=age_probs,
        gender_probs=normalize(gender_probs),
        race_probs=normalize(race_probs),
    )


def normalize(probs: np.ndarray) -> np.ndarray:
    """Rows that sum to exactly 1 (up to float32): clip negatives, rescale, NaN -> uniform."""
    p = np.nan_to_num(np.asarray(probs, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    p = np.clip(p, 0.0, None)
    total = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / max(p.shape[1], 1))
    p = np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)
    return p.astype(np.float32)


def _empty(spec: ModelSpec) -> AttributePredictions:
    return AttributePredictions(
        age=np.zeros(0, np.float32),
        age_interval=np.zeros((0, 2), np.float32),
        age_probs=np.zeros((0, spec.max_age + 1), np.float32),
        gender_probs=np.zeros((0, len(spec.genders)), np.float32),
        race_probs=np.zeros((0, len(spec.races)), np.float32),
    )


def make_face(
    spec: ModelSpec | None,
    predictions: AttributePredictions | None,
    index: int,
    xyxy: np.ndarray,
    score: float,
    keypoints: np.ndarray,
    attributes: Sequence[str] = ATTRIBUTES,
) -> Face:
    """Build the :class:`Face` for row ``index`` of the predictions (the ``attributes``
    asked for; no predictions: none of age, gender and race)."""
    face = Face(
        xyxy=tuple(float(v) for v in xyxy),
        score=float(score),
        keypoints=tuple((float(x), float(y)) for x, y in np.asarray(keypoints).reshape(-1, 2)),
    )
    if predictions is None or spec is None:
        return face
    return replace(
        face,
        age=float(predictions.age[index]) if "age" in attributes else None,
        age_interval=(
            tuple(float(v) for v in predictions.age_interval[index])
            if "age" in attributes
            else None
        ),
        gender_probs=(
            by_label(spec.genders, predictions.gender_probs[index])
            if "gender" in attributes
            else None
        ),
        race_probs=(
            by_label(spec.races, predictions.race_probs[index]) if "race" in attributes else None
        ),
    )


def by_label(labels: Sequence[str], probs: np.ndarray) -> dict[str, float]:
    return {label: float(p) for label, p in zip(labels, probs, strict=True)}
