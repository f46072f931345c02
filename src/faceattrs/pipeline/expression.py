"""The expression head: aligned face crops in, probabilities of seven expressions out.

Loaded through the one model base (:class:`~faceattrs.pipeline.runtime.OnnxModel`); the
model carries its :class:`~faceattrs.spec.ExpressionSpec` in its metadata (input size,
normalisation, grayscale, labels, the FER crop template), read from there, never guessed.
"""

from __future__ import annotations

import numpy as np

from faceattrs.pipeline.runtime import ModelHead
from faceattrs.resources import MODELS_DIR
from faceattrs.spec import METADATA_KEY, ExpressionSpec

DEFAULT_EXPRESSION_MODEL = MODELS_DIR / "expression.onnx"
DEFAULT_BATCH_SIZE = 64


class ExpressionModel(ModelHead):
    """Expression probabilities for crops aligned on the model's own template.

    ``path`` None means the packaged int8 model; ``threads``, ``providers`` and
    ``spinning`` see :mod:`faceattrs.pipeline.runtime`.
    """

    default_path = DEFAULT_EXPRESSION_MODEL
    default_batch_size = DEFAULT_BATCH_SIZE

    def _load_spec(self) -> ExpressionSpec:
        spec = self._read_spec(ExpressionSpec, METADATA_KEY, "not an expression model")
        self._check_signature([spec.input_name], spec.outputs[:1])
        return spec

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, len(labels)) for aligned BGR (N, S, S, 3) or gray (N, S, S)
        uint8 crops, S = ``spec.input_size``; rows sum to 1."""
        spec = self.spec
        crops = np.asarray(crops)
        size = spec.input_size
        if crops.ndim not in (3, 4) or crops.shape[1:3] != (size, size):
            raise ValueError(f"expected aligned {size}x{size} crops, got {crops.shape}")
        if crops.dtype != np.uint8:
            raise ValueError(f"expected uint8 crops, got {crops.dtype}")
        if len(crops) == 0:
            return np.zeros((0, len(spec.labels)), np.float32)
        out = []
        for i in range(0, len(crops), self.batch_size):
            x = spec.preprocess(crops[i : i + self.batch_size])
            out.append(self.onnx.run([spec.outputs[0]], {spec.input_name: x})[0])
        probs = np.clip(np.nan_to_num(np.concatenate(out).astype(np.float64)), 0, None)
        probs /= np.maximum(probs.sum(1, keepdims=True), 1e-12)
        return probs.astype(np.float32)
