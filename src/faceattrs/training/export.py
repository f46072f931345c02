"""Export a trained network to ONNX with the preprocessing spec in its metadata."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from faceattrs.spec import METADATA_KEY, ModelSpec
from faceattrs.training.model import FaceAttrNet, NetConfig, ProbabilityModel


def export_onnx(
    net: FaceAttrNet,
    spec: ModelSpec,
    path: str | Path,
    flip: bool = True,
    opset: int = 17,
    half_weights: bool = False,
    temperatures: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Path:
    """Write ``net`` (softmax heads, optional flip averaging) as ONNX with ``spec`` in metadata.

    ``half_weights`` stores large weight tensors as float16 (half the file size); a Cast
    node restores float32, which ONNX Runtime folds at load, so inference stays float32.
    """

    wrapper = ProbabilityModel(net, flip=flip, temperatures=temperatures).eval()
    model = trace_to_onnx(wrapper, torch.zeros(1, 3, spec.input_size, spec.input_size), spec, opset)
    if half_weights:
        store_weights_as_float16(model)
    return save_with_spec(model, spec, path, "faceattrs perceived age/gender/race model")


def trace_to_onnx(wrapper: torch.nn.Module, dummy: torch.Tensor, spec, opset: int = 17):
    """``wrapper`` traced to an ONNX model with ``spec``'s input and output names and a
    dynamic batch axis (the legacy TorchScript exporter)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                (dummy,),
                str(raw),
                input_names=[spec.input_name],
                output_names=list(spec.outputs),
                dynamic_axes={name: {0: "batch"} for name in (spec.input_name, *spec.outputs)},
                opset_version=opset,
                dynamo=False,
            )
        return onnx.load(str(raw))


def save_with_spec(model, spec, path: str | Path, doc: str) -> Path:
    """Put ``spec`` into the model's metadata, check it and write it atomically to ``path``."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    model.doc_string = doc
    onnx.checker.check_model(model)
    fd, tmp_path = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    onnx.save(model, tmp_path)
    os.chmod(tmp_path, 0o644)
    os.replace(tmp_path, path)
    return path


def store_weights_as_float16(model, min_elements: int = 1024) -> None:
    """Replace float32 initializers of ``min_elements`` or more by float16 + Cast to float32."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(init)
        if array.size < min_elements:
            continue
        half = numpy_helper.from_array(array.astype(np.float16), init.name + "_fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)


def tiny_config() -> NetConfig:
    """A very small architecture for tests (fast to build and run)."""
    return NetConfig(widths=(8, 16), depths=(1, 1), stem_width=8, dropout=0.0)


def export_random(
    path: str | Path, spec: ModelSpec | None = None, seed: int = 0, config: NetConfig | None = None
) -> Path:
    """Write a tiny randomly initialised model (for tests and development)."""
    spec = spec or ModelSpec()
    torch.manual_seed(seed)
    net = FaceAttrNet(config or tiny_config()).eval()
    with torch.no_grad():  # non-trivial BN statistics and residual weights, so outputs vary
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.running_var.uniform_(0.5, 2.0)
                module.running_mean.normal_(0, 0.1)
    return export_onnx(net, spec, path, flip=False)


def load_checkpoint_net(path: str | Path) -> tuple[FaceAttrNet, ModelSpec, dict]:
    """Load a training checkpoint and return the network, its spec and the raw checkpoint."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    net = FaceAttrNet(NetConfig.from_dict(ckpt["net_config"]))
    net.load_state_dict(ckpt.get("ema_state") or ckpt["model_state"])
    return net.eval(), ModelSpec.from_json(ckpt["spec"]), ckpt
