"""The expression head: aligned face crops in, probabilities of seven expressions out.

Runs an ONNX model with ONNX Runtime; the model carries its :class:`ExpressionSpec` in its
metadata (input size, normalisation, grayscale, labels, the FER crop template).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from faceattrs.expression_spec import ExpressionSpec
from faceattrs.spec import METADATA_KEY

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_EXPRESSION_MODEL = MODELS_DIR / "expression.onnx"
DEFAULT_BATCH_SIZE = 64


class ExpressionModel:
    """Expression probabilities (N, len(spec.labels)) for crops aligned on ``spec.template``.

    ``path`` None means the packaged int8 model; the session is created on first use.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        spinning: bool = True,
    ) -> None:
        self.path = Path(path) if path is not None else DEFAULT_EXPRESSION_MODEL
        if not self.path.is_file():
            raise FileNotFoundError(f"expression model not found: {self.path}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.threads = threads
        self.batch_size = batch_size
        self.spinning = spinning
        self._session = None
        self._spec: ExpressionSpec | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ExpressionModel(path={str(self.path)!r})"

    @property
    def spec(self) -> ExpressionSpec:
        self._ensure_session()
        assert self._spec is not None
        return self._spec

    def _ensure_session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime as ort

                    from faceattrs.runtime import session_options

                    options = session_options(self.threads, self.spinning)
                    try:
                        session = ort.InferenceSession(
                            str(self.path), options, providers=["CPUExecutionProvider"]
                        )
                    except Exception as exc:  # onnxruntime raises its own types
                        reason = " ".join(str(exc).split())[:300]
                        raise ValueError(
                            f"{self.path}: not a loadable ONNX model ({reason})"
                        ) from None
                    meta = session.get_modelmeta().custom_metadata_map
                    if METADATA_KEY not in meta:
                        raise ValueError(f"{self.path}: no {METADATA_KEY} metadata")
                    self._spec = ExpressionSpec.from_json(meta[METADATA_KEY])
                    self._session = session
        return self._session

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, labels) for aligned BGR (N, S, S, 3) or gray (N, S, S) uint8 crops."""
        session = self._ensure_session()
        spec = self.spec
        crops = np.asarray(crops)
        if crops.shape[1:3] != (spec.input_size, spec.input_size):
            raise ValueError(
                f"expected {spec.input_size}x{spec.input_size} crops, got {crops.shape}"
            )
        if len(crops) == 0:
            return np.zeros((0, len(spec.labels)), np.float32)
        out = []
        for i in range(0, len(crops), self.batch_size):
            x = spec.preprocess(crops[i : i + self.batch_size])
            out.append(session.run([spec.outputs[0]], {spec.input_name: x})[0])
        probs = np.concatenate(out).astype(np.float64)
        probs = np.clip(np.nan_to_num(probs), 0, None)
        probs /= np.maximum(probs.sum(1, keepdims=True), 1e-12)
        return probs.astype(np.float32)
