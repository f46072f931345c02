"""Images in, faces with perceived age, gender, race and expression out: detect, align,
predict.

No drawing here (see :mod:`faceattrs.drawing`).
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from faceattrs.media import DEFAULT_MAX_PIXELS, as_bgr, read_image
from faceattrs.pipeline.attributes import (
    AttributeModel,
    AttributePredictions,
    by_label,
    make_face,
    prepare_aligned,
)
from faceattrs.pipeline.detection import EDGE_MARGIN
from faceattrs.pipeline.detections import Detections
from faceattrs.pipeline.protocols import Detector, Embedder, ExpressionPredictor, Predictor
from faceattrs.pipeline.runtime import resolve_providers
from faceattrs.results import Face
from faceattrs.spec import TIERS, ModelSpec, parse_attributes

ImageInput = np.ndarray | str | os.PathLike | bytes
ATTRIBUTE_MODEL_OUTPUTS = frozenset({"age", "gender", "race"})  # one model gives all three


MAX_TWINS = 4  # detector settings kept by FaceAnalyzer.with_detection


class FaceAnalyzer:
    """Find faces and estimate their perceived age, gender, race and expression.

    Every image (photo, batch, video or camera frame) goes the same two steps:
    :meth:`detect` (detector, then the one score / min-face filter) and
    :meth:`describe` (alignment, then the heads, then :class:`Face`). :meth:`analyze`
    and :meth:`analyze_batch` are those two steps.

    ``detector`` is a detector model name ("full", "short") or an object with
    ``.detect(bgr)``; ``model`` (optional) an object with ``.spec`` and
    ``.predict(crops)``, else the attribute model at ``model_path`` (None: the
    packaged default). Model sessions are created on first use. ``providers``
    ("cpu", "cuda", "coreml", "dml", "auto" or a list, see
    :func:`faceattrs.pipeline.runtime.resolve_providers`), ``threads`` and
    ``spinning`` (see :func:`faceattrs.pipeline.runtime.session_options`) apply to
    both models: leave spinning on for one image at a time, turn it off where
    several threads share the analyzer. ``embeddings=True`` also fills
    ``Face.embedding`` (identity embeddings, biometric data: off by default) with
    ``embedder`` or the packaged :class:`~faceattrs.pipeline.embedding.EmbeddingModel`.
    ``edge_margin``: the detector's border for faces cut by the frame's edge (for photos;
    video frames use 0, see :func:`faceattrs.video.process.default_analyzer`).

    ``attributes`` chooses the heads (see :func:`parse_attributes`; default all): the
    attribute model runs when any of age, gender or race is asked for, the expression
    model (``expression_model``, else the file at ``expression_model_path``, None: the
    packaged int8 model) when expression is; fields not asked for are None in each
    :class:`Face`. Each call may ask for fewer of them (``attributes=`` of :meth:`analyze`,
    :meth:`describe` and their batch forms): one analyzer serves callers that want
    different heads without loading its models again.

    ``tier`` "fast" (default) or "accurate": the accurate tier also embeds each face
    (:mod:`faceattrs.pipeline.embedding`) and mixes the fast model's age, gender and
    race with heads on that embedding (:mod:`faceattrs.pipeline.embedding_heads`,
    ``heads_model_path`` None: the packaged heads); about 4 ms more per face on 2 CPU
    cores (``bench/bench_analyze.py``). The embedding is kept in the face only with
    ``embeddings=True``.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        detector: str | Detector = "full",
        min_face: int = 20,
        score_threshold: float = 0.5,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        *,
        model: Predictor | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        spinning: bool = True,
        providers: str | Sequence[str] | None = None,
        attributes: str | Sequence[str] | None = None,
        expression_model: ExpressionPredictor | None = None,
        expression_model_path: str | os.PathLike | None = None,
        embeddings: bool = False,
        embedder: Embedder | None = None,
        tier: str = "fast",
        heads_model_path: str | os.PathLike | None = None,
        edge_margin: int = EDGE_MARGIN,
    ) -> None:
        from faceattrs.pipeline.embedding_heads import EmbeddingHeads

        self.attributes = parse_attributes(attributes)
        if tier not in TIERS:
            raise ValueError(f"unknown model tier {tier!r}; choose from {', '.join(TIERS)}")
        self.tier = tier
        if min_face < 0:
            raise ValueError(f"min_face must be >= 0, got {min_face}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        self.providers = resolve_providers(providers)  # fails now, not at the first image
        self.model = model or AttributeModel(
            model_path,
            threads=threads,
            batch_size=batch_size,
            spinning=spinning,
            providers=self.providers,
        )
        self.expression_model: ExpressionPredictor | None = None
        if "expression" in self.attributes:
            from faceattrs.pipeline.expression import ExpressionModel

            self.expression_model = expression_model or ExpressionModel(
                expression_model_path,
                threads=threads,
                batch_size=max(batch_size, 1),
                spinning=spinning,
                providers=self.providers,
            )
        self.embedding_heads: EmbeddingHeads | None = None
        if tier == "accurate" and ATTRIBUTE_MODEL_OUTPUTS & set(self.attributes):
            self.embedding_heads = EmbeddingHeads(
                heads_model_path, threads=threads, spinning=spinning, providers=self.providers
            )
        self.min_face = min_face
        self.score_threshold = score_threshold
        self.max_pixels = max_pixels
        self.threads = threads
        self.spinning = spinning
        self._detector_arg = detector
        self._edge_margin = edge_margin
        self._twins: dict[tuple[int, int], FaceAnalyzer] = {}  # see with_detection
        self._detector: Detector | None = None if isinstance(detector, str) else detector
        self._lock = threading.Lock()
        self.embeddings = embeddings or embedder is not None
        self._embedder = embedder
        self.batch_size = batch_size

    @property
    def detector(self) -> Detector:
        """The face detector (created on first use)."""
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    from faceattrs.pipeline.detection import FaceDetector

                    self._detector = FaceDetector(
                        model=self._detector_arg,
                        score_threshold=self.score_threshold,
                        min_face=self.min_face,
                        threads=self.threads,
                        spinning=self.spinning,
                        providers=self.providers,
                        edge_margin=self._edge_margin,
                    )
        return self._detector

    def with_detection(self, *, min_face: int, edge_margin: int = EDGE_MARGIN) -> FaceAnalyzer:
        """This analyzer with another detector setting (the smallest face, the border for
        faces cut by the frame's edge; video frames use both): the same heads and settings,
        the models shared, not loaded again (the embedding model is loaded now, once, so
        that both share it); its detector is made on first use, once per setting (the
        server's video jobs and camera streams ask again for each; the last ``MAX_TWINS``
        settings are kept)."""
        if min_face < 0:
            raise ValueError(f"min_face must be >= 0, got {min_face}")
        with self._lock:
            twin = self._twins.get((min_face, edge_margin))
        if twin is None:
            twin = copy.copy(self)
            twin._embedder = self.embedder
            twin.min_face, twin._edge_margin = min_face, edge_margin
            twin._detector = None if isinstance(self._detector_arg, str) else self._detector
            twin._lock = threading.Lock()
            with self._lock:
                if len(self._twins) >= MAX_TWINS:  # clients choose frame sizes: bounded
                    del self._twins[next(iter(self._twins))]
                twin = self._twins.setdefault((min_face, edge_margin), twin)
        return twin

    @property
    def embedder(self) -> Embedder:
        """The embedding model (created on first use)."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    from faceattrs.pipeline.embedding import EmbeddingModel

                    self._embedder = EmbeddingModel(
                        threads=self.threads,
                        batch_size=self.batch_size,
                        spinning=self.spinning,
                        providers=self.providers,
                    )
        return self._embedder

    @property
    def embedding_threshold(self) -> float:
        """Same person below this distance of two embeddings (the embedding model's)."""
        return float(self.embedder.threshold)

    def embed(self, bgr: np.ndarray, detections: Detections) -> np.ndarray:
        """Identity embeddings (N, D), L2-normalised, of the detected faces of one image
        (computed only when called: video re-identification samples a few per track)."""
        return self.embedder.embed_chips(self.embedder.chips(bgr, detections.keypoints))

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec

    def load_heads(self) -> None:
        """Load the models of the heads asked for now (a bad model fails before any work)."""
        if ATTRIBUTE_MODEL_OUTPUTS & set(self.attributes):
            _ = self.model.spec
            if self.embedding_heads is not None:
                self.embedding_heads.check_compatible(self.model.spec, self.embedder.spec)
        if self.expression_model is not None:
            _ = self.expression_model.spec

    def load_image(self, image: ImageInput) -> np.ndarray:
        """A BGR uint8 (H, W, 3) array from an array, a path or encoded bytes."""
        if isinstance(image, np.ndarray):
            return as_bgr(image)
        return read_image(image, max_pixels=self.max_pixels)

    def detect(self, bgr: np.ndarray) -> Detections:
        """Step 1: the faces in a BGR image that pass the score and size filter."""
        found = self.detector.detect(bgr)
        if not isinstance(found, Detections):
            found = Detections.from_arrays(found.xyxy, found.scores, found.keypoints)
        return found.keep(self.score_threshold, self.min_face)

    def heads(self, attributes: str | Sequence[str] | None = None) -> tuple[str, ...]:
        """The attributes one call asks for (None: all this analyzer was made with); a
        ValueError names the unknown ones and those this analyzer has no head for."""
        if attributes is None:
            return self.attributes
        wanted = parse_attributes(attributes)
        missing = [name for name in wanted if name not in self.attributes]
        if missing:
            raise ValueError(
                f"attributes {missing} were not loaded by this analyzer "
                f"(it has {', '.join(self.attributes)})"
            )
        return wanted

    def describe(
        self,
        bgr: np.ndarray,
        detections: Detections,
        attributes: str | Sequence[str] | None = None,
    ) -> list[Face]:
        """Step 2: align each detected face and run the heads; one :class:`Face` each.
        ``attributes``: this call's heads, a subset of the analyzer's (see :meth:`heads`)."""
        return self.describe_batch([bgr], [detections], attributes)[0]

    def describe_batch(
        self,
        images_bgr: Sequence[np.ndarray],
        detections: Sequence[Detections],
        attributes: str | Sequence[str] | None = None,
    ) -> list[list[Face]]:
        """Step 2 for many images: all their faces go through the heads together; only
        the heads of ``attributes`` run (see :meth:`heads`)."""
        from faceattrs.pipeline.alignment import align

        heads = self.heads(attributes)
        present = [(bgr, found) for bgr, found in zip(images_bgr, detections, strict=True)]
        present = [(bgr, found) for bgr, found in present if len(found)]
        predictions = expressions = None
        if ATTRIBUTE_MODEL_OUTPUTS & set(heads):
            size = self.spec.input_size
            crops = [align(bgr, found.keypoints, self.spec) for bgr, found in present]
            joined = np.concatenate(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
            predictions = self.model.predict(joined)
        if self.expression_model is not None and "expression" in heads:
            spec = self.expression_model.spec
            crops = [align(bgr, found.keypoints, spec) for bgr, found in present]
            if crops:
                expressions = self.expression_model.predict(np.concatenate(crops))
        predictions, embeddings = self._embed_and_refine(
            predictions, lambda: self._chips(images_bgr, detections)
        )
        results = []
        start = 0
        for found in detections:
            rows = zip(found.xyxy, found.scores, found.keypoints, strict=True)
            faces = [
                self._face(predictions, expressions, start + i, *row, heads)
                for i, row in enumerate(rows)
            ]
            if embeddings is not None:
                faces = [f.with_embedding(embeddings[start + i]) for i, f in enumerate(faces)]
            results.append(faces)
            start += len(found)
        return results

    def _face(
        self, predictions, expressions, index: int, xyxy, score, keypoints, heads=None
    ) -> Face:
        heads = self.attributes if heads is None else heads
        spec = self.spec if predictions is not None else None  # no model load when not asked
        face = make_face(spec, predictions, index, xyxy, score, keypoints, heads)
        if expressions is None or self.expression_model is None:
            return face
        labels = self.expression_model.spec.labels
        return replace(face, expression_probs=by_label(labels, expressions[index]))

    def _embed_and_refine(
        self, predictions: AttributePredictions | None, make_chips
    ) -> tuple[AttributePredictions | None, np.ndarray | None]:
        """Embed the faces (``make_chips()``: their aligned chips, None when there are none)
        when embeddings are asked for or the accurate tier's heads need them; return the
        predictions (refined by those heads) and the embeddings to keep (None unless
        asked for: the heads' input is not kept)."""
        heads = self.embedding_heads if predictions is not None else None
        if not self.embeddings and heads is None:
            return predictions, None
        chips = make_chips()
        if chips is None:
            return predictions, None
        if heads is not None and heads.spec.features_size:
            embeddings, features = self.embedder.embed_with_features(chips)  # type: ignore[attr-defined]
        else:
            embeddings, features = self.embedder.embed_chips(chips), None
        if heads is not None:
            predictions = heads.refine(self.spec, predictions, embeddings, features)
        return predictions, embeddings if self.embeddings else None

    def _chips(
        self, images_bgr: Sequence[np.ndarray], detections: Sequence[Detections]
    ) -> np.ndarray | None:
        """The embedding chips of all faces of all images, in order (None when none)."""
        chips = [
            self.embedder.chips(bgr, found.keypoints)
            for bgr, found in zip(images_bgr, detections, strict=True)
            if len(found)
        ]
        return np.concatenate(chips) if chips else None

    def analyze(
        self, image: ImageInput, attributes: str | Sequence[str] | None = None
    ) -> list[Face]:
        """All faces in one image (BGR array, path or encoded bytes); ``attributes``: this
        call's heads (see :meth:`heads`)."""
        return self.analyze_batch([image], attributes)[0]

    def analyze_batch(
        self, images: Sequence[ImageInput], attributes: str | Sequence[str] | None = None
    ) -> list[list[Face]]:
        """Faces of many images: :meth:`detect` each, :meth:`describe_batch` all."""
        heads = self.heads(attributes)  # a bad choice fails before any work
        images_bgr = [self.load_image(image) for image in images]
        return self.describe_batch(images_bgr, [self.detect(bgr) for bgr in images_bgr], heads)

    def analyze_aligned(self, crops: Sequence[ImageInput] | np.ndarray) -> list[Face]:
        """One face per crop, for crops already aligned and framed like UTKFace's.

        Detection is skipped; each face's box is the whole crop, its score 1.
        """
        frames = [self.load_image(c) for c in crops]
        if not frames:
            return []
        predictions = expressions = None
        if ATTRIBUTE_MODEL_OUTPUTS & set(self.attributes):
            predictions = self.model.predict(prepare_aligned(frames, self.spec))
        if self.expression_model is not None:
            expressions = self.expression_model.predict(self._reframed(frames))
        # the crop's keypoints sit where the attribute template puts them
        template = np.asarray(self.spec.template, np.float32)[None]
        predictions, embeddings = self._embed_and_refine(
            predictions,
            lambda: np.concatenate(
                [self.embedder.chips(f, template * f.shape[1::-1]) for f in frames]
            ),
        )
        faces = []
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            box = np.array([0, 0, w, h], np.float32)
            face = self._face(predictions, expressions, i, box, 1.0, np.zeros((0, 2)))
            if embeddings is not None:
                face = face.with_embedding(embeddings[i])
            faces.append(face)
        return faces

    def _reframed(self, frames: list[np.ndarray]) -> np.ndarray:
        """UTKFace-framed crops re-cut on the expression model's template: the attribute
        template's points, in each crop's pixels, serve as its keypoints."""
        from faceattrs.pipeline.alignment import align, template_points

        assert self.expression_model is not None
        spec = self.expression_model.spec
        out = []
        for frame in frames:
            h, w = frame.shape[:2]
            points = template_points(self.spec, size=1) * [w, h]
            out.append(align(frame, points[None], spec))
        return np.concatenate(out)
