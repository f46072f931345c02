"""Where training faces come from: UTKFace crops, or the aligned caches of UTKFace and FairFace.

Every source yields RGB uint8 crops plus label tensors with the age as an interval
(``age_low``/``age_high``, equal for exact ages), so one loss serves both datasets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceattrs.data.aligned_cache import load_aligned_cache
from faceattrs.data.fairface import load_fairface_split
from faceattrs.data.mixed import IntervalSample, gather, interval_samples, label_arrays
from faceattrs.data.utkface import load_split

DATASETS = ("utkface", "fairface")


def dataset_dirs(cfg, dataset: str) -> tuple[str, str]:
    """(data folder, split folder) of ``dataset`` in a run's ``TrainConfig``."""
    if dataset == "utkface":
        return cfg.data, cfg.split
    return cfg.fairface_data, cfg.fairface_split


def aligned_cache_path(cfg, dataset: str) -> Path:
    """The aligned cache of ``dataset`` that a run's ``TrainConfig`` reads."""
    return Path(cfg.cache_dir) / f"aligned_{dataset}_{cfg.source_size}.npz"


@dataclass
class FaceSet:
    """Crops (N, S, S, 3) RGB uint8 with label tensors; ``missed`` names faces left out."""

    name: str
    images: np.ndarray
    labels: dict[str, torch.Tensor]
    missed: list[str]

    def __len__(self) -> int:
        return len(self.images)


def tensors_of(samples: list[IntervalSample]) -> dict[str, torch.Tensor]:
    arrays = label_arrays(samples)
    return {
        "age_low": torch.from_numpy(arrays["age_low"]).float(),
        "age_high": torch.from_numpy(arrays["age_high"]).float(),
        "gender": torch.from_numpy(arrays["gender"]),
        "race": torch.from_numpy(arrays["race"]),
    }


def parse_datasets(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split("+") if n.strip())
    unknown = [n for n in names if n not in DATASETS]
    if not names or unknown:
        raise ValueError(f"datasets must be names from {DATASETS} joined by '+', got {text!r}")
    return names


def aligned_sets(
    dataset: str,
    splits: tuple[str, ...],
    data_dir: str,
    split_dir: str,
    cache_path: str | Path,
    max_age: int,
) -> list[FaceSet]:
    """Splits of one dataset cut from its aligned cache (loaded once); faces the detector
    missed are left out and named in ``missed``."""
    cache = load_aligned_cache(cache_path)
    out = []
    for split in splits:
        if dataset == "utkface":
            samples = load_split(split_dir, split, data_dir, check_exists=False)
        else:
            samples = load_fairface_split(split_dir, split, data_dir, check_exists=False)
        crops, kept, missed = gather(cache, interval_samples(samples, data_dir, max_age))
        out.append(FaceSet(f"{dataset}_{split}", crops, tensors_of(kept), missed))
    return out


def concat(sets: list[FaceSet], name: str) -> FaceSet:
    images = np.concatenate([s.images for s in sets])
    labels = {k: torch.cat([s.labels[k] for s in sets]) for k in sets[0].labels}
    return FaceSet(name, images, labels, [m for s in sets for m in s.missed])


def cache_template(cache_path: str | Path) -> list[list[float]]:
    """The alignment template the cache's crops were made with (reads only the metadata)."""
    with np.load(cache_path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
    return [list(map(float, p)) for p in meta["spec"]["template"]]
