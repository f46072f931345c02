"""Start a run from an exported attribute model (``attributes_fp32.onnx``) instead of random
weights: the shipped model stays the one artefact a later run needs (checkpoints are not kept).

Export folds each batch norm into its convolution (``W' = W * g / s``, ``b' = beta - m * g / s``).
Loading ``W'`` into the convolution and then choosing the batch norm's scale and shift from the
statistics of ``W' x`` on real faces makes the training-mode network compute the exported
function again, so fine-tuning (for example at a larger input size) starts where the model was.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceattrs.spec import ModelSpec
from faceattrs.training.dataset import to_input


class WarmStartError(ValueError):
    """The ONNX model does not have the network's layers."""


def onnx_weights(path: str | Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict]:
    """(weight, bias) of the first trace's convolutions in graph order, and the heads' Gemms."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    tensors = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in graph.initializer}
    for node in graph.node:  # fp16-weight models reach their weights through Cast/Identity
        if node.op_type in ("Cast", "Identity") and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    convs, heads = [], {}
    for node in graph.node:
        if node.op_type == "Conv" and "_1/" not in node.output[0]:  # "_1": the flipped trace
            convs.append((tensors[node.input[1]], tensors[node.input[2]]))
        elif node.op_type == "Gemm" and "_1/" not in node.output[0]:
            heads[node.input[1].removeprefix("net.").removesuffix(".weight")] = (
                tensors[node.input[1]],
                tensors[node.input[2]],
            )
    return convs, heads


def calibration_batch(
    images: np.ndarray, spec: ModelSpec, seed: int, count: int = 512
) -> torch.Tensor:
    """``count`` faces picked at random from ``images`` (N, S, S, 3 RGB uint8), as the
    normalised input batch :func:`load_exported` re-derives the batch norms on."""
    picked = np.sort(np.random.default_rng(seed).permutation(len(images))[:count])
    return to_input(torch.from_numpy(images[picked]), spec.input_size, spec.mean, spec.std)


def conv_bn_pairs(net: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    modules = list(net.modules())
    return [
        (m, modules[i + 1])
        for i, m in enumerate(modules)
        if isinstance(m, nn.Conv2d) and isinstance(modules[i + 1], nn.BatchNorm2d)
    ]


def _output_of(conv: nn.Conv2d, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``conv`` outputs when ``net`` runs on ``x`` (earlier layers as they are now)."""
    captured: list[torch.Tensor] = []
    hook = conv.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        net(x)
    finally:
        hook.remove()
    return captured[0]


@torch.no_grad()
def load_exported(net: nn.Module, onnx_path: str | Path, calibration: torch.Tensor) -> None:
    """Copy an exported model's weights into ``net`` (a conv-BN network whose linear layers
    are its heads: :class:`FaceAttrNet` of the same :class:`NetConfig`, ``ExpressionNet``),
    with batch norms re-derived on ``calibration`` (a normalised NCHW batch of faces, a few
    hundred)."""
    convs, heads = onnx_weights(onnx_path)
    pairs = conv_bn_pairs(net)
    head_names = {name for name, m in net.named_modules() if isinstance(m, nn.Linear)}
    if len(convs) != len(pairs) or set(heads) != head_names:
        raise WarmStartError(
            f"{onnx_path} has {len(convs)} convolutions and heads {sorted(heads)}; "
            f"the network has {len(pairs)}: not the same architecture"
        )
    for (conv, _), (weight, _) in zip(pairs, convs, strict=True):
        if tuple(conv.weight.shape) != weight.shape:
            raise WarmStartError(
                f"{onnx_path}: weight {weight.shape} != {tuple(conv.weight.shape)}"
            )
    for name, (weight, bias) in heads.items():
        getattr(net, name).weight.copy_(torch.from_numpy(weight))
        getattr(net, name).bias.copy_(torch.from_numpy(bias))
    set_folded(net, convs, calibration)


def folded(net: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each conv-BN pair of ``net`` (eval mode) as one convolution's (weight, bias), the
    batch norm folded in as export folds it."""
    out = []
    for conv, bn in conv_bn_pairs(net):
        scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach()
        weight = conv.weight.detach() * scale[:, None, None, None]
        bias = bn.bias.detach() - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias.detach() * scale
        out.append((weight.numpy().copy(), bias.numpy().copy()))
    return out


@torch.no_grad()
def set_folded(
    net: nn.Module, convs: list[tuple[np.ndarray, np.ndarray]], calibration: torch.Tensor
) -> None:
    """Give ``net``'s conv-BN pairs the folded (weight, bias) of ``convs``, in order, with
    each batch norm re-derived on ``calibration`` so that both modes compute that function."""
    net.eval()
    for (conv, bn), (weight, bias) in zip(conv_bn_pairs(net), convs, strict=True):
        conv.weight.copy_(torch.from_numpy(weight))
        out = _output_of(conv, net, calibration)
        mean = out.mean((0, 2, 3))
        var = out.var((0, 2, 3), unbiased=False)
        std = (var + bn.eps).sqrt()
        # train mode: (y - mean) / std * weight + bias == y + b'  for weight = std, bias = mean + b'
        bn.weight.copy_(std)
        bn.bias.copy_(mean + torch.from_numpy(bias))
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
