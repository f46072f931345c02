"""Static int8 quantisation of an exported attribute model (ONNX Runtime's tool).

The convolutions get int8 weights (per output channel) and uint8 activations,
calibrated on training-split faces cut the way the product cuts them: UTKFace
crops as given (``analyze --aligned``) and FairFace photos through detection and
alignment (``analyze``). The rest of the graph (heads, softmax, the flip
averaging) stays float. Weights use 7 bits (``reduce_range``) so x86 CPUs without
VNNI cannot saturate their 16-bit accumulation.

Needs the ``onnx`` package (in the train and dev extras); no torch.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceattrs.data.utkface import read_names
from faceattrs.resources import file_sha256
from faceattrs.spec import ModelSpec

QUANT_METADATA_KEY = "faceattrs_quantization"
DEFAULT_SAMPLES = 300  # faces per dataset
SPLIT_FILE = {"utkface": "splits/utkface/train.txt", "fairface": "splits/fairface/train.txt"}


def every_kth(names: list[str], count: int) -> list[str]:
    """``count`` names spread evenly over the list (deterministic)."""
    if count <= 0 or not names:
        return []
    step = max(1, len(names) // count)
    return names[::step][:count]


def calibration_crops(
    spec: ModelSpec,
    utkface_dir: str | Path,
    fairface_dir: str | Path,
    samples: int = DEFAULT_SAMPLES,
    progress: bool = True,
) -> np.ndarray:
    """Model-size BGR crops (N, S, S, 3) from the training splits of both datasets."""
    from faceattrs.media import read_image
    from faceattrs.pipeline.alignment import align
    from faceattrs.pipeline.attributes import prepare_aligned
    from faceattrs.pipeline.detection import FaceDetector

    utk = every_kth(read_names(SPLIT_FILE["utkface"]), samples)  # by line: a name has a space
    fair = every_kth(read_names(SPLIT_FILE["fairface"]), samples)
    crops = []
    bar = tqdm(total=len(utk) + len(fair), desc="calibration", unit="face", disable=not progress)
    with bar:
        for name in utk:
            crops.append(prepare_aligned([read_image(Path(utkface_dir) / name)], spec))
            bar.update()
        detector = FaceDetector("full", min_face=20)
        for name in fair:
            bgr = read_image(Path(fairface_dir) / name)
            dets = detector.detect(bgr)
            if len(dets):  # the most confident face: FairFace has one per image
                crops.append(align(bgr, dets.keypoints[:1], spec))
            bar.update()
    if not crops:
        raise ValueError("no calibration faces found")
    return np.concatenate(crops)


def quantize_model(
    source: str | Path,
    target: str | Path,
    crops_bgr: np.ndarray,
    provenance: dict | None = None,
) -> Path:
    """Write the int8 version of ``source`` to ``target``, calibrated on ``crops_bgr``
    (N, S, S, 3 BGR uint8). The spec metadata is copied; a ``faceattrs_quantization``
    entry records the source's sha256 and ``provenance``."""
    from faceattrs.pipeline.attributes import AttributeModel

    spec = AttributeModel(source, threads=1).spec
    inputs = spec.preprocess(np.ascontiguousarray(crops_bgr[..., ::-1]))
    return quantize_inputs(source, target, inputs, spec.input_name, provenance)


def quantize_inputs(
    source: str | Path,
    target: str | Path,
    inputs: np.ndarray,
    input_name: str,
    provenance: dict | None = None,
    options: dict | None = None,
) -> Path:
    """Write the int8 version of ``source`` to ``target``, calibrated on model ``inputs``
    (N, C, S, S float32, already preprocessed). Metadata as in :func:`quantize_model`;
    ``options`` override ONNX Runtime's ``quantize_static`` arguments (experiments)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = Path(source), Path(target)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items: Iterator[dict] = ({input_name: x[None]} for x in inputs)

        def get_next(self) -> dict | None:
            return next(self._items, None)

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faceattrs-quantize-") as tmp:
        # Fold the exported graph's constant casts and identities into plain
        # initializers (so the convolution weights are found and quantised).
        folded, staged = Path(tmp) / "folded.onnx", Path(tmp) / "model.onnx"
        quant_pre_process(str(source), str(folded), skip_symbolic_shape=True)
        settings = dict(
            quant_format=QuantFormat.QDQ,
            # Relu too: the quantizer then folds each ReLU into its convolution's output
            # range (one Q/DQ pair and the ReLU fewer per convolution): the expression
            # model ran about 18% faster at batch 6 on one thread (2026-11-29, later).
            op_types_to_quantize=["Conv", "Relu"],
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        quantize_static(str(folded), str(staged), Reader(), **{**settings, **(options or {})})
        model = onnx.load(str(staged))
    original = onnx.load(str(source))
    record = {"source_sha256": file_sha256(source), "calibration_faces": len(inputs)}
    record.update(provenance or {})
    del model.metadata_props[:]
    for prop in original.metadata_props:
        if prop.key != QUANT_METADATA_KEY:
            model.metadata_props.add(key=prop.key, value=prop.value)
    model.metadata_props.add(key=QUANT_METADATA_KEY, value=json.dumps(record, sort_keys=True))
    model.doc_string = (
        f"{original.doc_string.rstrip('.')}. Convolutions quantised to int8 by "
        f"faceattrs.training.quantize from a float model with sha256 {record['source_sha256']}."
    )
    onnx.save(model, str(target))
    return target


def compare(source: str | Path, target: str | Path, crops_bgr: np.ndarray) -> dict[str, float]:
    """Largest differences between the float and the int8 model on these crops."""
    from faceattrs.pipeline.attributes import AttributeModel

    ref = AttributeModel(source).predict(crops_bgr)
    out = AttributeModel(target).predict(crops_bgr)
    return {
        "age_years": float(np.abs(ref.age - out.age).max()),
        "gender_prob": float(np.abs(ref.gender_probs - out.gender_probs).max()),
        "race_prob": float(np.abs(ref.race_probs - out.race_probs).max()),
        "race_label_agreement": float(
            (ref.race_probs.argmax(1) == out.race_probs.argmax(1)).mean()
        ),
        "gender_label_agreement": float(
            (ref.gender_probs.argmax(1) == out.gender_probs.argmax(1)).mean()
        ),
    }
