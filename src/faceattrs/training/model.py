"""The multi-task network: a small residual CNN with age, gender and race heads."""

from __future__ import annotations

import torch
from torch import nn

from faceattrs.training.config import NetConfig


def conv_bn(c_in: int, c_out: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    )


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convolutions) with an identity or strided shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, stride)
        self.conv2 = conv_bn(c_out, c_out)
        self.act = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv1(x))
        return self.act(self.conv2(y) + self.shortcut(x))


class FaceAttrNet(nn.Module):
    """Shared backbone with three heads; ``forward`` returns raw logits per head."""

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or NetConfig()
        self.stem = nn.Sequential(conv_bn(3, config.stem_width, 2), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        c_in = config.stem_width
        for i, (width, depth) in enumerate(zip(config.widths, config.depths, strict=True)):
            for j in range(depth):
                stride = 2 if (j == 0 and i > 0) else 1
                layers.append(BasicBlock(c_in, width, stride))
                c_in = width
        self.backbone = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.age_head = nn.Linear(c_in, config.num_ages)
        self.gender_head = nn.Linear(c_in, config.num_genders)
        self.race_head = nn.Linear(c_in, config.num_races)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for block in self.backbone:
            nn.init.zeros_(block.conv2[1].weight)  # residual branches start as identity

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.backbone(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.dropout(self.features(x))
        return self.age_head(f), self.gender_head(f), self.race_head(f)


class ProbabilityModel(nn.Module):
    """Wraps the network for export: softmax per head of the logits divided by the head's
    temperature (age, gender, race; 1 = unscaled), optional test-time flip averaging."""

    def __init__(
        self, net: FaceAttrNet, flip: bool = True, temperatures: tuple[float, ...] = (1, 1, 1)
    ) -> None:
        super().__init__()
        self.net = net
        self.flip = flip
        self.temperatures = tuple(float(t) for t in temperatures)

    def _probs(self, logits: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        return [
            (z if t == 1.0 else z / t).softmax(1)
            for z, t in zip(logits, self.temperatures, strict=True)
        ]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        probs = self._probs(self.net(x))
        if self.flip:
            mirrored = self._probs(self.net(torch.flip(x, dims=[3])))
            return tuple((a + b) / 2 for a, b in zip(probs, mirrored, strict=True))
        return tuple(probs)
