"""The preprocessing and label spec shipped with every attribute model.

The same spec is written into the ONNX metadata (key ``faceattrs_spec``) at export
and read back from there at inference, so preprocessing is never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

METADATA_KEY = "faceattrs_spec"
GENDERS = ("male", "female")
RACES = ("white", "black", "asian", "indian", "other")
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
ATTRIBUTES = ("age", "gender", "race", "expression")
TIERS = ("fast", "accurate")  # the attribute model alone; mixed with heads on the embedding


def parse_attributes(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The heads asked for, in :data:`ATTRIBUTES` order: ``None`` means all; a string is
    comma-separated (``"age,expression"``)."""
    if value is None:
        return ATTRIBUTES
    names = value.split(",") if isinstance(value, str) else list(value)
    wanted = {name.strip().lower() for name in names if name.strip()}
    unknown = sorted(wanted - set(ATTRIBUTES))
    if unknown or not wanted:
        raise ValueError(
            f"unknown attributes {unknown}; choose from {', '.join(ATTRIBUTES)}"
            if unknown
            else f"no attributes asked for; choose from {', '.join(ATTRIBUTES)}"
        )
    return tuple(name for name in ATTRIBUTES if name in wanted)


OUTPUT_NAMES = ("age_probs", "gender_probs", "race_probs")
INPUT_NAME = "input"

# Keypoints of the UTKFace aligned 200x200 crops, as fractions of the crop:
# right eye, left eye (subject's), nose tip, mouth centre. Image-left eye first.
# Placeholder until measured by scripts/measure_template.py; the measured value is
# what ships in the default model's spec.
DEFAULT_TEMPLATE = ((0.355, 0.43), (0.645, 0.43), (0.5, 0.58), (0.5, 0.72))


@dataclass(frozen=True)
class ModelSpec:
    """How an aligned face crop becomes the model input, and what the outputs mean.

    The aligned crop is framed like a UTKFace crop: ``template`` holds where the
    keypoints sit, as fractions of that crop. ``crop_box`` (fractions, x0 y0 x1 y1)
    is the part of the crop the network sees, resized to ``input_size`` squared,
    RGB, scaled to [0, 1], then ``(x - mean) / std``, layout NCHW float32.
    """

    input_size: int = 64
    crop_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    channel_order: str = "RGB"
    layout: str = "NCHW"
    template: tuple[tuple[float, float], ...] = DEFAULT_TEMPLATE
    max_age: int = 100
    genders: tuple[str, ...] = GENDERS
    races: tuple[str, ...] = RACES
    age_interval_coverage: float = 0.8
    outputs: tuple[str, ...] = OUTPUT_NAMES
    input_name: str = INPUT_NAME
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def ages(self) -> np.ndarray:
        """The age value of each bin of the age distribution (0 .. max_age)."""
        return np.arange(self.max_age + 1, dtype=np.float32)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        raw = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown model spec fields: {sorted(unknown)}")
        for key in ("crop_box", "mean", "std", "genders", "races", "outputs"):
            if key in raw:
                raw[key] = tuple(raw[key])
        if "template" in raw:
            raw["template"] = tuple(tuple(p) for p in raw["template"])
        return cls(**raw)

    def preprocess(self, crops_rgb: np.ndarray) -> np.ndarray:
        """Turn a batch of ``input_size`` RGB uint8 crops (N, H, W, 3) into the model input."""
        if crops_rgb.ndim != 4 or crops_rgb.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) RGB crops, got {crops_rgb.shape}")
        x = crops_rgb.astype(np.float32) / 255.0
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


# -- the expression head (FER2013 classes); same metadata key, ``task: "expression"``
EXPRESSION_TASK = "expression"

# Keypoints of FER2013's 48x48 crops as fractions of the crop (right eye, left eye, nose
# tip, mouth centre; image-left eye first). Placeholder; the value measured by
# scripts/measure_expression_template.py ships in the model's spec.
DEFAULT_EXPRESSION_TEMPLATE = ((0.33, 0.38), (0.67, 0.38), (0.49, 0.59), (0.49, 0.75))


@dataclass(frozen=True)
class ExpressionSpec:
    """How an aligned face crop becomes the expression model's input.

    The aligned crop is framed like a FER2013 crop (``template``: keypoint fractions),
    ``input_size`` squared, converted to grayscale (``channel_order`` "GRAY"), scaled to
    [0, 1], then ``(x - mean) / std``, layout N1HW float32. The output ``outputs[0]``
    holds probabilities over ``labels``.
    """

    task: str = EXPRESSION_TASK
    input_size: int = 48
    crop_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    mean: float = 0.5
    std: float = 0.5
    channel_order: str = "GRAY"
    layout: str = "NCHW"
    template: tuple[tuple[float, float], ...] = DEFAULT_EXPRESSION_TEMPLATE
    labels: tuple[str, ...] = EXPRESSIONS
    outputs: tuple[str, ...] = ("expression_probs",)
    input_name: str = "input"
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExpressionSpec:
        tuples = ("crop_box", "labels", "outputs")
        raw = task_fields(cls, text, EXPRESSION_TASK, tuples, "an expression model")
        if "template" in raw:
            raw["template"] = tuple(tuple(p) for p in raw["template"])
        return cls(**raw)

    def preprocess(self, crops_bgr: np.ndarray) -> np.ndarray:
        """BGR uint8 crops (N, S, S, 3) or grayscale (N, S, S) -> float32 (N, 1, S, S)."""
        crops = np.asarray(crops_bgr)
        if crops.ndim == 4 and crops.shape[-1] == 3:
            weights = np.array([0.114, 0.587, 0.299], np.float32)  # BGR luma, as cv2
            gray = crops.astype(np.float32) @ weights
        elif crops.ndim == 3:
            gray = crops.astype(np.float32)
        else:
            raise ValueError(
                f"expected (N, H, W, 3) BGR or (N, H, W) gray crops, got {crops.shape}"
            )
        x = (gray / 255.0 - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(x[:, None], dtype=np.float32)


# -- the accurate tier's heads on the identity embedding; same key, ``task: "embedding_heads"``
EMBEDDING_HEADS_TASK = "embedding_heads"


@dataclass(frozen=True)
class EmbeddingHeadsSpec:
    """The accurate tier's heads: what goes in, what comes out, how they were mixed.

    Inputs (named ``inputs``): a face's L2-normalised identity embedding
    (``embedding_size``, from ``embedding_model``), when ``features_size`` the same
    network's last feature map (its ``features`` output), and the fast attribute model's age,
    gender and race probabilities of the same face (labels ``genders``, ``races``, ages
    0..``max_age``). Outputs (``outputs``): the mixed probabilities, per head
    ``mix * heads + (1 - mix) * fast`` then ``softmax(log p / temperature)``; ``mix`` and
    ``temperatures`` (age, gender, race) were chosen on validation faces and are recorded
    here; the graph holds them.
    """

    task: str = EMBEDDING_HEADS_TASK
    embedding_size: int = 128
    features_size: int = 0  # the embedding network's last feature map, when an input
    embedding_model: str = "face_embedding.onnx"
    attribute_model: str = "attributes.onnx"
    max_age: int = 100
    genders: tuple[str, ...] = GENDERS
    races: tuple[str, ...] = RACES
    mix: tuple[float, float, float] = (0.5, 0.5, 0.5)
    temperatures: tuple[float, float, float] = (1.0, 1.0, 1.0)
    inputs: tuple[str, ...] = (
        "embedding", "fast_age_probs", "fast_gender_probs", "fast_race_probs",
    )  # fmt: skip
    outputs: tuple[str, ...] = OUTPUT_NAMES
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EmbeddingHeadsSpec:
        tuples = ("genders", "races", "mix", "temperatures", "inputs", "outputs")
        return cls(**task_fields(cls, text, EMBEDDING_HEADS_TASK, tuples, "an embedding-heads"))


def task_fields(cls: type, text: str, task: str, tuples: Sequence[str], what: str) -> dict:
    """The fields of a spec with a ``task`` tag from its JSON: the tag checked, unknown
    fields refused, the ``tuples`` keys made tuples (one-line ValueErrors naming ``what``)."""
    raw = json.loads(text)
    if raw.get("task") != task:
        raise ValueError(f"not {what} spec (task {raw.get('task')!r})")
    unknown = set(raw) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"unknown {what.split(' ', 1)[1]} spec fields: {sorted(unknown)}")
    for key in tuples:
        if key in raw:
            raw[key] = tuple(raw[key])
    return raw
