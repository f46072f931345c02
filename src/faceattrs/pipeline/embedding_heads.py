"""The accurate tier: heads on the face's identity embedding, mixed with the fast model.

``models/attributes_accurate.onnx`` (written by ``scripts/embedding_heads.py --export``)
takes a face's embedding (dlib's descriptor, :mod:`faceattrs.pipeline.embedding`), the
same network's last feature map and the fast attribute model's probabilities of the face,
and returns the mixed age, gender and race probabilities; its
:class:`~faceattrs.spec.EmbeddingHeadsSpec` (metadata) names its inputs, labels, mix and
temperatures. Loaded through the one model base.

The embedding is an input only: it is not kept in the :class:`~faceattrs.results.Face`
unless embeddings were asked for.
"""

from __future__ import annotations

import numpy as np

from faceattrs.pipeline.attributes import AttributePredictions, postprocess
from faceattrs.pipeline.runtime import ModelHead, ModelLoadError
from faceattrs.resources import MODELS_DIR
from faceattrs.spec import METADATA_KEY, EmbeddingHeadsSpec, ModelSpec

DEFAULT_HEADS_PATH = MODELS_DIR / "attributes_accurate.onnx"


class EmbeddingHeads(ModelHead):
    """Refines the fast model's predictions with the face embedding (the accurate tier)."""

    kind = "accurate-tier heads"
    default_path = DEFAULT_HEADS_PATH
    default_batch_size = 256
    spec: EmbeddingHeadsSpec

    def _load_spec(self) -> EmbeddingHeadsSpec:
        spec = self._read_spec(EmbeddingHeadsSpec, METADATA_KEY, "not an accurate-tier heads model")
        self._check_signature(spec.inputs, spec.outputs, exact_inputs=True)
        return spec

    def check_compatible(self, model_spec: ModelSpec, embedding_spec) -> None:
        """A one-line error unless the fast model's labels and the embedding model's
        outputs (an :class:`~faceattrs.pipeline.embedding.EmbeddingSpec`) fit the heads."""
        spec = self.spec
        if (spec.genders, spec.races, spec.max_age) != (
            model_spec.genders,
            model_spec.races,
            model_spec.max_age,
        ):
            raise ModelLoadError(
                f"{self.path}: the heads expect labels {spec.genders} {spec.races} ages 0-"
                f"{spec.max_age}, the attribute model gives {model_spec.genders} "
                f"{model_spec.races} ages 0-{model_spec.max_age}"
            )
        sizes = (embedding_spec.embedding_size, getattr(embedding_spec, "features_size", 0))
        if sizes != (spec.embedding_size, spec.features_size or sizes[1]):
            raise ModelLoadError(
                f"{self.path}: the heads take {spec.embedding_size}-D embeddings and "
                f"{spec.features_size} features, the embedding model gives {sizes[0]}-D and "
                f"{sizes[1]}"
            )

    def refine(
        self,
        model_spec: ModelSpec,
        fast: AttributePredictions,
        embeddings: np.ndarray,
        features: np.ndarray | None = None,
    ) -> AttributePredictions:
        """The accurate tier's predictions from the fast model's, the faces' embeddings and
        (when the heads read them) the embedding network's features; row i of each belongs
        to face i."""
        spec = self.spec
        if spec.features_size and features is None:
            raise ValueError(f"{self.path}: the heads need the embedding network's features")
        sources = {
            "embedding": embeddings, "features": features, "fast_age_probs": fast.age_probs,
            "fast_gender_probs": fast.gender_probs, "fast_race_probs": fast.race_probs,
        }  # fmt: skip
        arrays = [np.asarray(sources[name], np.float32) for name in spec.inputs]
        if any(len(a) != len(fast) for a in arrays):
            raise ValueError(f"{len(embeddings)} embeddings for {len(fast)} faces")
        if len(fast) == 0:
            return fast
        parts = []
        for start in range(0, len(fast), self.batch_size):
            feeds = {
                name: np.ascontiguousarray(a[start : start + self.batch_size])
                for name, a in zip(spec.inputs, arrays, strict=True)
            }
            parts.append(self.onnx.run(list(spec.outputs), feeds))
        outputs = [np.concatenate([p[k] for p in parts]) for k in range(3)]
        return postprocess(model_spec, *outputs)
