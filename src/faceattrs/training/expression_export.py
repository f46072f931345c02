"""Export a trained expression network to ONNX (float and int8) with its spec in metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from faceattrs.spec import METADATA_KEY, ExpressionSpec
from faceattrs.training.expression_model import (
    ExpressionNet,
    ExpressionNetConfig,
    ExpressionProbabilityModel,
)


def load_expression_checkpoint(path: str | Path) -> tuple[ExpressionNet, dict]:
    """The EMA network of a ``best.pt``/``last.pt`` and the run config it was trained with."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    config = ckpt["config"]
    net = ExpressionNet(ExpressionNetConfig.from_dict(config["net"]))
    net.load_state_dict(ckpt["ema"])
    return net.eval(), config


def spec_for(config: dict, template_json: str | Path | None) -> ExpressionSpec:
    """The spec of a run: its normalisation, and the measured template when given."""
    spec = ExpressionSpec(mean=float(config["mean"]), std=float(config["std"]))
    if template_json:
        raw = json.loads(Path(template_json).read_text())
        template = tuple(tuple(float(v) for v in p) for p in raw["template"])
        spec = ExpressionSpec(mean=spec.mean, std=spec.std, template=template)
    return spec


def export_expression_onnx(
    net: ExpressionNet, spec: ExpressionSpec, path: str | Path, flip: bool = True, opset: int = 17
) -> Path:
    """Write ``net`` (softmax, optional flip averaging) as ONNX with ``spec`` in metadata."""
    from faceattrs.training.export import save_with_spec, trace_to_onnx

    wrapper = ExpressionProbabilityModel(net.eval(), flip=flip).eval()
    dummy = torch.zeros(1, 1, spec.input_size, spec.input_size)
    model = trace_to_onnx(wrapper, dummy, spec, opset)
    doc = "faceattrs facial expression model (FER2013 classes)"
    return save_with_spec(model, spec, path, doc)


def quantize_expression(
    source: str | Path, target: str | Path, gray_crops: np.ndarray, command: str = ""
) -> Path:
    """int8 version of an exported expression model, calibrated on FER crops (N, 48, 48)."""
    import onnx

    from faceattrs.training.quantize import quantize_inputs

    model = onnx.load(str(source))
    meta = {p.key: p.value for p in model.metadata_props}
    spec = ExpressionSpec.from_json(meta[METADATA_KEY])
    inputs = spec.preprocess(gray_crops)
    return quantize_inputs(source, target, inputs, spec.input_name, {"command": command})


def random_expression_model(path: str | Path, spec: ExpressionSpec | None = None, seed: int = 0):
    """A tiny randomly initialised expression model (for tests)."""
    torch.manual_seed(seed)
    net = ExpressionNet(ExpressionNetConfig(widths=(4, 8), convs_per_stage=1, dropout=0.0))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 2.0)
                module.running_mean.normal_(0, 0.1)
    return export_expression_onnx(net.eval(), spec or ExpressionSpec(), path, flip=False)
