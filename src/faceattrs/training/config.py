"""Run and network configuration (torch-free, so the CLI can show the defaults)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from faceattrs.spec import ModelSpec

_C = TypeVar("_C")  # a frozen training config with a bf16 field


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (AMX or AVX-512 BF16, from /proc/cpuinfo's
    flags). Elsewhere bfloat16 autocast is emulated: 13x slower than float32 on an AMD EPYC
    (Zen 3), against about 4x faster on a Xeon with AMX (the expression model's training)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def resolve_bf16(cfg: _C) -> _C:
    """``cfg`` (a frozen config dataclass with a ``bf16`` field) with ``bf16`` None replaced by
    :func:`cpu_has_fast_bf16`, so that a run records what it used."""
    return cfg if cfg.bf16 is not None else replace(cfg, bf16=cpu_has_fast_bf16())


def add_bf16_option(parser: argparse.ArgumentParser) -> None:
    """``--bf16/--no-bf16`` of the training commands (default None: :func:`cpu_has_fast_bf16`)."""
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        help="bfloat16 autocast for the training passes (default: where the CPU has AMX or "
        "AVX-512 BF16; elsewhere it is emulated and many times slower than float32)",
    )


@dataclass(frozen=True)
class NetConfig:
    """Architecture hyper-parameters (saved with every run and checkpoint)."""

    widths: tuple[int, ...] = (32, 64, 128, 192)
    depths: tuple[int, ...] = (1, 2, 2, 1)
    stem_width: int = 24
    dropout: float = 0.2
    num_ages: int = 101
    num_genders: int = 2
    num_races: int = 5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> NetConfig:
        raw = dict(raw)
        raw["widths"] = tuple(raw["widths"])
        raw["depths"] = tuple(raw["depths"])
        return cls(**raw)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run (saved as config.json in the run folder)."""

    data: str = "../shared/data/utkface"
    split: str = "splits/utkface"
    epochs: int = 40
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    age_sigma: float = 2.0
    age_l1_weight: float = 0.1
    ema_decay: float = 0.998
    augment_strength: float = 1.0
    erase_prob: float = 0.0  # random erasing's chance per training face (0: off)
    mixup_alpha: float = 0.0  # each batch blended with a shuffled copy, Beta(a, a) (0: off)
    source_size: int = 80
    seed: int = 0
    threads: int = 2
    limit: int = 0  # use only the first N training samples (smoke tests)
    datasets: str = "utkface"  # "utkface", "fairface" or "utkface+fairface"
    source: str = "crops"  # "crops": decode UTKFace files; "aligned": the aligned caches
    fairface_data: str = "../shared/data/fairface"
    fairface_split: str = "splits/fairface"
    cache_dir: str = "cache"
    interval_weight: float = 1.0  # weight of the interval-censored age loss
    init: str = ""  # an exported attributes_fp32.onnx to start from instead of random weights
    teacher: str = ""  # folder of teacher_<dataset>.npz soft labels (scripts/distill_teacher.py)
    distill_weight: float = 1.0  # weight of the KL to the teacher's soft labels, per head
    group_balance: float = 0.0  # age and gender losses weighted by (race x gender count) ** -p
    group_dro: float = 0.0  # online group DRO's step (dataset x race x gender, gender loss)
    bf16: bool | None = None  # bfloat16 autocast; None: where the CPU has bf16 units
    spec: dict = field(default_factory=lambda: json.loads(ModelSpec().to_json()))
    net: dict = field(default_factory=lambda: NetConfig().to_dict())
