"""PyTorch vs ONNX Runtime parity on a tiny randomly initialised model."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from faceattrs.pipeline.attributes import AttributeModel  # noqa: E402
from faceattrs.spec import ModelSpec  # noqa: E402
from faceattrs.training.export import export_onnx, tiny_config  # noqa: E402
from faceattrs.training.model import FaceAttrNet, ProbabilityModel  # noqa: E402


@pytest.mark.parametrize("flip", [False, True])
def test_onnx_matches_pytorch(tmp_path, flip):
    torch.manual_seed(1)
    spec = ModelSpec(input_size=32)
    net = FaceAttrNet(tiny_config()).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.running_mean.normal_(0, 0.2)
    path = export_onnx(net, spec, tmp_path / "m.onnx", flip=flip)
    rgb = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    x = spec.preprocess(rgb)
    with torch.no_grad():
        expected = [t.numpy() for t in ProbabilityModel(net, flip=flip)(torch.from_numpy(x))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(spec.outputs), {spec.input_name: x})
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)
    # The inference code reads the spec back from the metadata.
    model = AttributeModel(path)
    assert model.spec == spec
    pred = model.predict(np.ascontiguousarray(rgb[..., ::-1]))
    np.testing.assert_allclose(pred.gender_probs, got[1], atol=1e-5)


def test_flip_averaging_is_mirror_invariant(tmp_path):
    torch.manual_seed(2)
    spec = ModelSpec(input_size=32)
    path = export_onnx(FaceAttrNet(tiny_config()).eval(), spec, tmp_path / "m.onnx", flip=True)
    model = AttributeModel(path)
    bgr = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    a, b = model.predict(bgr), model.predict(np.ascontiguousarray(bgr[:, :, ::-1]))
    np.testing.assert_allclose(a.race_probs, b.race_probs, atol=1e-5)


def test_half_weights_halve_the_file_and_keep_the_outputs(tmp_path):
    torch.manual_seed(3)
    spec = ModelSpec(input_size=32)
    net = FaceAttrNet(tiny_config()).eval()
    full = export_onnx(net, spec, tmp_path / "full.onnx", flip=False)
    half = export_onnx(net, spec, tmp_path / "half.onnx", flip=False, half_weights=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    bgr = np.random.default_rng(4).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    a, b = AttributeModel(full).predict(bgr), AttributeModel(half).predict(bgr)
    np.testing.assert_allclose(a.race_probs, b.race_probs, atol=2e-3)
    np.testing.assert_allclose(a.age, b.age, atol=0.1)
