"""A narrower expression network cut from a trained one (issue #18's cost).

Each convolution keeps the output channels the rest of the network uses most: a channel's
importance is its mean activation (after batch norm and ReLU) on real faces times the sum of
the absolute weights that read it in the next layer (the next convolution, or the linear head
after the global pool), a first-order estimate of what removing it changes downstream
(Molchanov et al., 2017, and "network slimming", Liu et al., 2017, in one product). The cut
network computes the trained one minus the removed channels' contributions; its batch norms are
re-derived on the calibration faces (:func:`~faceattrs.training.warmstart.set_folded`), so a
fine-tune starts from that function.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from faceattrs.training.expression_model import ExpressionNet, ExpressionNetConfig
from faceattrs.training.warmstart import conv_bn_pairs, folded, onnx_weights, set_folded


def exported_config(onnx_path: str | Path, base: ExpressionNetConfig) -> ExpressionNetConfig:
    """``base`` with the widths and convolutions per stage of an exported expression model."""
    channels = [weight.shape[0] for weight, _ in onnx_weights(onnx_path)[0]]
    widths = tuple(dict.fromkeys(channels))
    per_stage = len(channels) // max(1, len(widths))
    if [w for w in widths for _ in range(per_stage)] != channels:
        raise ValueError(f"{onnx_path}: convolution widths {channels} are not equal stages")
    return replace(base, widths=widths, convs_per_stage=per_stage)


@torch.no_grad()
def channel_importance(net: ExpressionNet, calibration: torch.Tensor) -> list[np.ndarray]:
    """Per conv-BN pair, each output channel's mean activation on ``calibration`` times the
    absolute weight the next layer gives it."""
    pairs = conv_bn_pairs(net)
    means: list[torch.Tensor] = []
    hooks = [
        bn.register_forward_hook(lambda _m, _i, out: means.append(out.relu().mean((0, 2, 3))))
        for _, bn in pairs
    ]
    net.eval()
    try:
        net(calibration)
    finally:
        for hook in hooks:
            hook.remove()
    readers = [conv.weight.abs().sum((0, 2, 3)) for conv, _ in pairs[1:]]
    readers.append(net.head.weight.abs().sum(0))
    return [(m * r).numpy() for m, r in zip(means, readers, strict=True)]


@torch.no_grad()
def slim_expression_net(
    net: ExpressionNet, widths: tuple[int, ...], calibration: torch.Tensor
) -> ExpressionNet:
    """A copy of ``net`` with ``widths`` channels per stage (each at most ``net``'s), keeping
    the most important channels of every convolution; batch norms re-derived on
    ``calibration`` (a normalised NCHW batch of faces, a few hundred)."""
    config = net.config
    if len(widths) != len(config.widths) or any(
        w < 1 or w > full for w, full in zip(widths, config.widths, strict=True)
    ):
        raise ValueError(f"widths {widths} do not fit in {config.widths}")
    slim = ExpressionNet(replace(config, widths=tuple(widths)))
    importance = channel_importance(net, calibration)
    keep_in = np.arange(1)  # the grey input
    cut = []
    for (weight, bias), scores, conv in zip(
        folded(net), importance, (c for c, _ in conv_bn_pairs(slim)), strict=True
    ):
        keep = np.sort(np.argsort(-scores, kind="stable")[: conv.out_channels])
        cut.append((weight[keep][:, keep_in].copy(), bias[keep].copy()))
        keep_in = keep
    slim.head.weight.copy_(net.head.weight[:, torch.from_numpy(keep_in)])
    slim.head.bias.copy_(net.head.bias)
    set_folded(slim, cut, calibration)
    return slim


def parse_widths(text: str) -> tuple[int, ...]:
    """``"24,48,96,192"`` -> (24, 48, 96, 192)."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"widths must be comma-separated integers, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive, got {text!r}")
    return widths
