"""Face embeddings: who is who, as 128 numbers per face (dlib's ResNet descriptor, ONNX).

The model (models/face_embedding.onnx, converted by scripts/convert_dlib_resnet.py)
carries its :class:`EmbeddingSpec` in its metadata (key ``faceattrs_embedding_spec``):
input size, pixel normalisation, the alignment template of our detector's keypoints
inside the 150 px chip it was trained on, and the same-person distance threshold.
Embeddings are L2-normalised float32; two faces are the same person when the
Euclidean distance of their embeddings is below ``spec.threshold``.

Embeddings are biometric data: nothing computes them unless asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from faceattrs.pipeline.runtime import ModelHead, ModelLoadError
from faceattrs.resources import model_path
from faceattrs.spec import ModelSpec

DEFAULT_EMBEDDING_PATH = model_path("face_embedding.onnx")
EMBEDDING_METADATA_KEY = "faceattrs_embedding_spec"
DEFAULT_BATCH_SIZE = 32
# the detector's keypoints, in its order (faceattrs.pipeline.detections.Detections)
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")


@dataclass(frozen=True)
class EmbeddingSpec:
    """How a face becomes the embedding model's input, and how embeddings compare.

    ``template``: where the detector keypoints named in ``template_points`` sit, as
    fractions of the ``input_size`` px chip (at least 3 points); ``mean``/``std`` as in
    :class:`ModelSpec` (RGB, x / 255 first); ``threshold``: same person below this
    Euclidean distance of L2-normalised embeddings.
    """

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    template: tuple[tuple[float, float], ...]
    template_points: tuple[str, ...]
    embedding_size: int
    threshold: float
    input_name: str = "input"
    output_name: str = "descriptor"
    features_output: str = ""  # the map before the last pool, flattened ("": none)
    features_size: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, text: str) -> EmbeddingSpec:
        raw = json.loads(text)
        required = (
            "input_size", "mean", "std", "template", "template_points", "embedding_size",
            "threshold",
        )  # fmt: skip
        missing = [key for key in required if key not in raw]
        if missing:
            raise ValueError(f"embedding spec lacks {missing}")
        if raw.get("channel_order", "RGB") != "RGB" or raw.get("layout", "NCHW") != "NCHW":
            raise ValueError("embedding spec: only RGB NCHW input is supported")
        known = {"input_name", "output_name", "features_output", "features_size"}
        return cls(
            input_size=int(raw["input_size"]),
            mean=tuple(float(v) for v in raw["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in raw["std"]),  # type: ignore[arg-type]
            template=tuple((float(x), float(y)) for x, y in raw["template"]),
            template_points=tuple(str(name) for name in raw["template_points"]),
            embedding_size=int(raw["embedding_size"]),
            threshold=float(raw["threshold"]),
            **{k: type(getattr(cls, k))(raw[k]) for k in known if k in raw},
            extra={k: v for k, v in raw.items() if k not in (*required, *known)},
        )

    def __post_init__(self) -> None:
        unknown = [name for name in self.template_points if name not in KEYPOINT_NAMES]
        if unknown or len(self.template_points) != len(self.template):
            raise ValueError(f"embedding spec: bad template points {self.template_points}")
        if not 3 <= len(self.template) <= 4:
            raise ValueError("embedding spec: the template needs 3 or 4 points")

    @property
    def point_indices(self) -> list[int]:
        """Which detector keypoints the template holds."""
        return [KEYPOINT_NAMES.index(name) for name in self.template_points]

    @property
    def alignment(self) -> ModelSpec:
        """The spec :func:`faceattrs.pipeline.alignment.align` and ``preprocess`` take
        (a 3-point template gets its centroid as a 4th point: see :meth:`select`)."""
        template = with_centroid(np.asarray(self.template, np.float64)[None])[0]
        return ModelSpec(
            input_size=self.input_size, mean=self.mean, std=self.std,
            template=tuple((float(x), float(y)) for x, y in template),
        )  # fmt: skip

    def select(self, keypoints: np.ndarray) -> np.ndarray:
        """The template's keypoints (N, 4, 2) out of the detector's (N, 6, 2). Three
        points get their centroid as a 4th, on both sides: the centroid adds nothing to
        the least-squares similarity transform, so it is the 3-point fit."""
        return with_centroid(np.asarray(keypoints, np.float64)[:, self.point_indices])


def with_centroid(points: np.ndarray) -> np.ndarray:
    """(N, 3, 2) points -> (N, 4, 2) with their centroid appended; 4 points unchanged."""
    if points.shape[1] >= 4:
        return points
    return np.concatenate([points, points.mean(axis=1, keepdims=True)], axis=1)


class EmbeddingModel(ModelHead):
    """L2-normalised face embeddings from photos (with detector keypoints) or chips.

    ``path`` None: the packaged model. Loaded through the one model base
    (:class:`~faceattrs.pipeline.runtime.OnnxModel`): the session is created on first
    use; ``threads`` None uses all cores; ``providers`` and ``spinning`` see
    :mod:`faceattrs.pipeline.runtime`.
    """

    kind = "embedding model"
    default_path = DEFAULT_EMBEDDING_PATH
    default_batch_size = DEFAULT_BATCH_SIZE
    spec: EmbeddingSpec

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    def _load_spec(self) -> EmbeddingSpec:
        spec = self._read_spec(EmbeddingSpec, EMBEDDING_METADATA_KEY, "invalid embedding spec")
        self._check_signature([spec.input_name], [spec.output_name])
        return spec

    def _checked(self, chips_bgr: np.ndarray) -> np.ndarray:
        size = self.spec.input_size
        chips_bgr = np.asarray(chips_bgr)
        if chips_bgr.ndim != 4 or chips_bgr.shape[1:] != (size, size, 3):
            raise ValueError(f"expected chips (N, {size}, {size}, 3), got {chips_bgr.shape}")
        if chips_bgr.dtype != np.uint8:
            raise ValueError(f"expected uint8 chips, got {chips_bgr.dtype}")
        return chips_bgr

    def embed_chips(self, chips_bgr: np.ndarray) -> np.ndarray:
        """Embeddings (N, D) float32, L2-normalised, of aligned BGR uint8 chips (N, S, S, 3)."""
        return self._run_chips(chips_bgr, with_features=False)[0]

    def embed_with_features(self, chips_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (N, D) and the network's last feature map (N, F), flattened, of
        aligned chips, from one run (the accurate tier's heads read both)."""
        if not self.spec.features_output:
            raise ModelLoadError(f"{self.path}: the embedding model has no features output")
        return self._run_chips(chips_bgr, with_features=True)

    def _run_chips(self, chips_bgr: np.ndarray, with_features: bool):
        """(embeddings, features) of chips in batches; features (N, 0) unless asked for."""
        spec = self.spec
        chips_bgr = self._checked(chips_bgr)
        width = spec.features_size if with_features else 0
        embeddings = np.zeros((len(chips_bgr), spec.embedding_size), np.float32)
        features = np.zeros((len(chips_bgr), width), np.float32)
        outputs = [spec.output_name, spec.features_output][: 1 + with_features]
        for start in range(0, len(chips_bgr), self.batch_size):
            part = spec.alignment.preprocess(chips_bgr[start : start + self.batch_size, ..., ::-1])
            raw = self.onnx.run(outputs, {spec.input_name: part})
            embeddings[start : start + len(part)] = normalize(raw[0])
            if with_features:
                features[start : start + len(part)] = raw[1]
        return embeddings, features

    def chips(self, bgr: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Aligned chips (N, S, S, 3) BGR of the faces with detector ``keypoints`` (N, 6, 2)."""
        from faceattrs.pipeline.alignment import align

        spec = self.spec
        return align(bgr, spec.select(keypoints), spec.alignment)

    def embed(self, bgr: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Embeddings (N, D) of the faces of one BGR image, from the detector's keypoints."""
        keypoints = np.asarray(keypoints, np.float32)
        if len(keypoints) == 0:
            return np.zeros((0, self.spec.embedding_size), np.float32)
        return self.embed_chips(self.chips(bgr, keypoints))


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Euclidean distance of embeddings (broadcasts over leading axes)."""
    d = np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32), axis=-1)
    return float(d) if np.ndim(d) == 0 else d


def pairwise_distances(embeddings: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean distances between the rows of ``embeddings`` (N, D)."""
    e = np.asarray(embeddings, np.float64)
    norms = (e * e).sum(1)
    squared = np.clip(norms[:, None] + norms[None, :] - 2.0 * (e @ e.T), 0.0, None)
    np.fill_diagonal(squared, 0.0)
    return np.sqrt(squared)
