"""Starting a run from an exported model: same function at the input size it was exported at,
a clear error for another architecture."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from faceattrs.spec import ModelSpec  # noqa: E402
from faceattrs.training.config import NetConfig  # noqa: E402
from faceattrs.training.export import export_onnx  # noqa: E402
from faceattrs.training.model import FaceAttrNet, ProbabilityModel  # noqa: E402
from faceattrs.training.warmstart import WarmStartError, load_exported  # noqa: E402

SMALL = NetConfig(widths=(8, 16), depths=(1, 2), stem_width=8)


def _trained_like(config: NetConfig) -> FaceAttrNet:
    """A network with non-trivial batch-norm statistics (as after training)."""
    torch.manual_seed(1)
    net = FaceAttrNet(config)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize("flip", [True, False])
def test_loaded_network_computes_the_exported_model_in_eval_and_train_mode(tmp_path, flip):
    path = export_onnx(_trained_like(SMALL), ModelSpec(input_size=32), tmp_path / "m.onnx", flip)
    x = torch.randn(16, 3, 32, 32)
    net = FaceAttrNet(SMALL)
    load_exported(net, path, x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        got = ProbabilityModel(net.eval(), flip=flip)(x)
        eval_logits = net(x)
        net.train()
        net.dropout.p = 0.0
        train_logits = net(x)  # batch statistics of the calibration batch == the loaded ones
    for want, out in zip(expected, got, strict=True):
        np.testing.assert_allclose(out.numpy(), want, atol=1e-5)
    for eval_out, train_out in zip(eval_logits, train_logits, strict=True):
        np.testing.assert_allclose(train_out.numpy(), eval_out.numpy(), atol=1e-4)


def test_another_architecture_is_refused(tmp_path):
    path = export_onnx(_trained_like(SMALL), ModelSpec(input_size=32), tmp_path / "m.onnx")
    other = FaceAttrNet(NetConfig(widths=(8, 16), depths=(1, 1), stem_width=8))
    with pytest.raises(WarmStartError, match="not the same architecture"):
        load_exported(other, path, torch.randn(4, 3, 32, 32))
