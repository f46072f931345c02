"""Int8 quantisation: a tiny exported model, and the shipped int8/float pair."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from faceattrs.data.utkface import read_names  # noqa: E402
from faceattrs.pipeline.attributes import DEFAULT_MODEL_PATH, AttributeModel  # noqa: E402
from faceattrs.resources import file_sha256 as sha256  # noqa: E402
from faceattrs.spec import METADATA_KEY, ModelSpec  # noqa: E402
from faceattrs.training.export import export_onnx, tiny_config  # noqa: E402
from faceattrs.training.model import FaceAttrNet  # noqa: E402
from faceattrs.training.quantize import (  # noqa: E402
    QUANT_METADATA_KEY,
    compare,
    every_kth,
    quantize_model,
)

FLOAT_MODEL = DEFAULT_MODEL_PATH.with_name("attributes_fp32.onnx")


def smooth_faces(count: int, size: int, seed: int) -> np.ndarray:
    """Blurry random colour fields (BGR uint8): image-like, not white noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, 4, 4, 3)).astype(np.float32)
    grid = np.linspace(0, 3, size)
    i0 = np.floor(grid).astype(int).clip(0, 2)
    t = (grid - i0)[None, :, None, None]
    rows = coarse[:, i0] * (1 - t) + coarse[:, i0 + 1] * t
    t = (grid - i0)[None, None, :, None]
    out = rows[:, :, i0] * (1 - t) + rows[:, :, i0 + 1] * t
    return out.round().astype(np.uint8)


def test_every_kth_spreads_over_the_list():
    names = [str(i) for i in range(10)]
    assert every_kth(names, 3) == ["0", "3", "6"]
    assert every_kth(names, 20) == names
    assert every_kth(names, 0) == [] and every_kth([], 3) == []


def test_calibration_split_lists_keep_a_name_with_a_space(tmp_path):
    # UTKFace's train list has "24_0_1_20170116220224657 .jpg.chip.jpg": split() on white
    # space made two names of it, and --samples 1000 stopped at ".jpg.chip.jpg".
    path = tmp_path / "train.txt"
    path.write_text("a.jpg\n24_0_1_2017 .jpg.chip.jpg\n\nb.jpg\n")
    assert read_names(path) == ["a.jpg", "24_0_1_2017 .jpg.chip.jpg", "b.jpg"]


def test_quantized_tiny_model_is_int8_keeps_the_spec_and_the_outputs(tmp_path):
    torch.manual_seed(0)
    spec = ModelSpec(input_size=32)
    net = FaceAttrNet(tiny_config()).eval()
    with torch.no_grad():  # spread the outputs, so that agreement means something
        for head in (net.age_head, net.gender_head, net.race_head):
            head.weight.mul_(40.0)
    source = export_onnx(net, spec, tmp_path / "float.onnx")
    calibration = smooth_faces(64, 32, seed=0)
    target = quantize_model(source, tmp_path / "int8.onnx", calibration, {"note": "test"})

    model = onnx.load(str(target))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8 = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    convs = sum(node.op_type == "Conv" for node in model.graph.node)
    assert len(int8) == convs  # every convolution's weights
    metadata = {p.key: p.value for p in model.metadata_props}
    assert ModelSpec.from_json(metadata[METADATA_KEY]) == spec
    record = json.loads(metadata[QUANT_METADATA_KEY])
    assert record["source_sha256"] == sha256(source)
    assert record["calibration_faces"] == 64 and record["note"] == "test"
    assert AttributeModel(target).spec == spec

    held_out = smooth_faces(32, 32, seed=1)
    ref, out = AttributeModel(source).predict(held_out), AttributeModel(target).predict(held_out)
    for a, b in [(ref.age, out.age), *zip(ref.race_probs.T, out.race_probs.T, strict=True)]:
        assert np.ptp(a) > 0.05  # the float model's outputs vary over the faces
        assert np.corrcoef(a, b)[0, 1] > 0.95
        assert np.abs(a - b).max() < 0.25 * np.ptp(a)
    assert not list(tmp_path.glob("*.data")) and sorted(p.name for p in tmp_path.iterdir()) == [
        "float.onnx",
        "int8.onnx",
    ]


@pytest.mark.skipif(not FLOAT_MODEL.is_file(), reason="packaged float model not present")
def test_shipped_int8_model_comes_from_the_shipped_float_model():
    model = onnx.load(str(DEFAULT_MODEL_PATH), load_external_data=False)
    metadata = {p.key: p.value for p in model.metadata_props}
    record = json.loads(metadata[QUANT_METADATA_KEY])
    assert record["source_sha256"] == sha256(FLOAT_MODEL)
    assert "faceattrs quantize" in record["command"]
    assert AttributeModel().spec == AttributeModel(FLOAT_MODEL).spec


@pytest.mark.shared
@pytest.mark.skipif(not FLOAT_MODEL.is_file(), reason="packaged float model not present")
def test_shipped_int8_model_agrees_with_the_float_model_on_photo_faces(shared_dir):
    from faceattrs.media import read_image
    from faceattrs.pipeline.alignment import align
    from faceattrs.pipeline.detection import FaceDetector

    detector = FaceDetector()
    spec = AttributeModel().spec
    crops = []
    for path in sorted((shared_dir / "media").glob("*/*.jpg")):
        bgr = read_image(path)
        crops.append(align(bgr, detector.detect(bgr).keypoints, spec))
    crops = np.concatenate(crops)
    assert len(crops) >= 15
    diffs = compare(FLOAT_MODEL, DEFAULT_MODEL_PATH, crops)
    # measured 1.2 years on 24 faces with ReLUs folded into the int8 ranges (1.9 before)
    assert diffs["age_years"] < 2.0
    assert diffs["gender_prob"] < 0.08 and diffs["race_prob"] < 0.1  # measured 0.008, 0.039
    assert diffs["gender_label_agreement"] >= 0.9 and diffs["race_label_agreement"] >= 0.9
