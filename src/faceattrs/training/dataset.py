"""In-memory face datasets and batched augmentation (plain torch, no torchvision)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from faceattrs.data.utkface import Sample


def load_images(
    samples: Sequence[Sample], size: int, cache_dir: str | Path | None = "cache"
) -> np.ndarray:
    """Decode every sample's crop, resized to ``size`` squared, as RGB uint8 (N, size, size, 3).

    The array is cached under ``cache_dir`` keyed by the file list and size.
    """
    key = hashlib.sha1(("\n".join(str(s.path) for s in samples) + f"|{size}").encode()).hexdigest()[
        :16
    ]
    cache_path = Path(cache_dir) / f"crops_{size}_{key}.npy" if cache_dir else None
    if cache_path is not None and cache_path.exists():
        return np.load(cache_path)
    out = np.empty((len(samples), size, size, 3), np.uint8)
    for i, sample in enumerate(tqdm(samples, desc=f"decode {size}px", unit="img", leave=False)):
        bgr = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read {sample.path}")
        out[i] = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1]
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(cache_path)
    return out


def to_input(
    rgb_uint8: torch.Tensor, size: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB -> normalised NCHW float at ``size`` (no augmentation)."""
    x = rgb_uint8.permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return normalise(x, mean, std)


def normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    mean_t = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def augment(
    rgb_uint8: torch.Tensor,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    generator: torch.Generator,
    strength: float = 1.0,
    erase_prob: float = 0.0,
) -> torch.Tensor:
    """Random flip, small affine (scale, rotation, shift), colour jitter, grayscale and blur,
    then random erasing with probability ``erase_prob`` (0: none, and no random draws)."""
    n = rgb_uint8.shape[0]
    x = rgb_uint8.permute(0, 3, 1, 2).float() / 255.0

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    scale = 1.0 + strength * uniform(-0.1, 0.1)
    angle = strength * uniform(-12, 12) * math.pi / 180
    shift_x, shift_y = strength * uniform(-0.06, 0.06), strength * uniform(-0.06, 0.06)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift_x], 1), torch.stack([sin * flip, cos, shift_y], 1)], 1
    )
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    if x.shape[-1] > 2 * size:
        x = F.interpolate(x, scale_factor=0.5, mode="area")
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    brightness = 1.0 + strength * uniform(-0.3, 0.3).view(n, 1, 1, 1)
    contrast = 1.0 + strength * uniform(-0.3, 0.3).view(n, 1, 1, 1)
    saturation = 1.0 + strength * uniform(-0.4, 0.4).view(n, 1, 1, 1)
    gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = x * brightness
    x = (x - gray.mean((2, 3), keepdim=True)) * contrast + gray.mean((2, 3), keepdim=True)
    gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = gray + (x - gray) * saturation
    to_gray = (torch.rand(n, generator=generator) < 0.1 * strength).view(n, 1, 1, 1)
    x = torch.where(to_gray, gray.expand_as(x), x)
    blur = (torch.rand(n, generator=generator) < 0.2 * strength).view(n, 1, 1, 1)
    small = F.interpolate(x, scale_factor=0.5, mode="area")
    x = torch.where(blur, F.interpolate(small, size=(size, size), mode="bilinear"), x)
    if erase_prob > 0:
        x = random_erase(x.clamp(0, 1), erase_prob, generator)
    return normalise(x.clamp(0, 1), mean, std)


def random_erase(x: torch.Tensor, prob: float, generator: torch.Generator) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020): with probability ``prob`` each image of ``x``
    (N, C, H, W, values in [0, 1]) gets a rectangle of 1/6 to 1/3 of its sides filled with
    one random grey level."""
    n, _, h, w = x.shape
    erase = torch.rand(n, generator=generator) < prob
    if not erase.any():
        return x
    size = torch.randint(h // 6, h // 3 + 1, (n, 2), generator=generator)
    top = (torch.rand(n, generator=generator) * (h - size[:, 0])).long()
    left = (torch.rand(n, generator=generator) * (w - size[:, 1])).long()
    rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    box = (
        (rows >= top[:, None, None])
        & (rows < (top + size[:, 0])[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + size[:, 1])[:, None, None])
        & erase[:, None, None]
    )
    return torch.where(box[:, None], torch.rand(n, 1, 1, 1, generator=generator), x)


def mixup(
    x: torch.Tensor, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Mixup (Zhang et al., 2018): ``lam * x + (1 - lam) * x[perm]``, the batch blended with
    a shuffled copy of itself, ``lam ~ Beta(alpha, alpha)``; returns the blend, ``lam`` and
    ``perm`` (the losses are blended the same way). Draws come from ``generator``."""
    perm = torch.randperm(len(x), generator=generator)
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    return lam * x + (1.0 - lam) * x[perm], lam, perm
