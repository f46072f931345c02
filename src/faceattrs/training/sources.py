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
    teacher_dir: str | Path | None = None,
) -> list[FaceSet]:
    """Splits of one dataset cut from its aligned cache (loaded once); faces the detector
    missed are left out and named in ``missed``. With ``teacher_dir``, the train split's
    labels also hold the teacher's soft labels (:func:`teacher_labels`)."""
    cache = load_aligned_cache(cache_path)
    out = []
    for split in splits:
        if dataset == "utkface":
            samples = load_split(split_dir, split, data_dir, check_exists=False)
        else:
            samples = load_fairface_split(split_dir, split, data_dir, check_exists=False)
        crops, kept, missed = gather(cache, interval_samples(samples, data_dir, max_age))
        labels = tensors_of(kept)
        if teacher_dir and split == "train":
            path = Path(teacher_dir) / f"teacher_{dataset}.npz"
            labels.update(teacher_labels(path, [s.name for s in kept]))
        out.append(FaceSet(f"{dataset}_{split}", crops, labels, missed))
    return out


def teacher_labels(path: str | Path, names: list[str]) -> dict[str, torch.Tensor]:
    """``teacher`` (N, ages + genders + races) probabilities of ``names`` from a
    ``teacher_<dataset>.npz``, and ``has_teacher`` (faces it has no row for get none)."""
    if not Path(path).is_file():
        raise ValueError(f"teacher file not found: {path} (scripts/distill_teacher.py writes it)")
    with np.load(path, allow_pickle=False) as z:
        index = {str(n): i for i, n in enumerate(z["names"])}
        found, probs = z["found"], z["probs"]
    rows = np.array([index.get(n, -1) for n in names], np.int64)
    has = (rows >= 0) & found[np.maximum(rows, 0)]
    teacher = np.where(has[:, None], probs[np.maximum(rows, 0)], 0.0).astype(np.float32)
    return {"teacher": torch.from_numpy(teacher), "has_teacher": torch.from_numpy(has)}


def concat(sets: list[FaceSet], name: str) -> FaceSet:
    images = np.concatenate([s.images for s in sets])
    labels = {k: torch.cat([s.labels[k] for s in sets]) for k in sets[0].labels}
    return FaceSet(name, images, labels, [m for s in sets for m in s.missed])


def cache_template(cache_path: str | Path) -> list[list[float]]:
    """The alignment template the cache's crops were made with (reads only the metadata)."""
    with np.load(cache_path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
    return [list(map(float, p)) for p in meta["spec"]["template"]]
