"""The expression network: a small VGG-style CNN for 48x48 grayscale faces."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from faceattrs.data.fer import EXPRESSIONS


@dataclass(frozen=True)
class ExpressionNetConfig:
    """Architecture hyper-parameters (saved with every checkpoint)."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: int = 2
    dropout: float = 0.3
    num_classes: int = len(EXPRESSIONS)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> ExpressionNetConfig:
        raw = dict(raw)
        raw["widths"] = tuple(raw["widths"])
        return cls(**raw)


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]


class ExpressionNet(nn.Module):
    """Stages of 3x3 conv-BN-ReLU, 2x2 max-pool between stages, global average pool, linear."""

    def __init__(self, config: ExpressionNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ExpressionNetConfig()
        layers: list[nn.Module] = []
        c_in = 1
        for i, width in enumerate(config.widths):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(config.convs_per_stage):
                layers += _conv_bn_relu(c_in, width)
                c_in = width
        self.backbone = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(c_in, config.num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw logits (N, classes) for (N, 1, H, W) normalised input."""
        return self.head(self.dropout(self.pool(self.backbone(x)).flatten(1)))


class ExpressionProbabilityModel(nn.Module):
    """Wraps the network for export: softmax, optional test-time horizontal-flip averaging."""

    def __init__(self, net: ExpressionNet, flip: bool = True) -> None:
        super().__init__()
        self.net = net
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = self.net(x).softmax(1)
        if self.flip:
            probs = (probs + self.net(torch.flip(x, dims=[3])).softmax(1)) / 2
        return probs
