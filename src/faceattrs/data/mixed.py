"""UTKFace + FairFace as one list of training records with age intervals (no torch).

UTKFace ages are exact (interval ``[age, age]``, capped at ``max_age``); FairFace ages are
bins (``[low, high]``, ``70+`` is ``[70, max_age]``). Crops come from the aligned caches
(:mod:`faceattrs.data.aligned_cache`), looked up by the file name relative to the data
folder; images the detector missed are left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceattrs.data.aligned_cache import AlignedCache
from faceattrs.data.fairface import FairSample
from faceattrs.data.utkface import Sample


@dataclass(frozen=True)
class IntervalSample:
    """A face with its age as an interval (both ends included) and product labels."""

    name: str  # path relative to the data folder (the cache key)
    dataset: str  # "utkface" | "fairface"
    age_low: int
    age_high: int
    gender: int  # 0 male, 1 female
    race: int  # index into spec.RACES


def interval_samples(
    samples: Sequence[Sample | FairSample], data_dir: str | Path, max_age: int = 100
) -> list[IntervalSample]:
    """UTKFace ``Sample``s or FairFace ``FairSample``s as ``IntervalSample``s."""
    data_dir = Path(data_dir)
    out = []
    for s in samples:
        name = s.path.relative_to(data_dir).as_posix()
        if isinstance(s, FairSample):
            low, high = min(s.age_low, max_age), min(s.age_high, max_age)
            out.append(IntervalSample(name, "fairface", low, high, s.gender, s.race5))
        else:
            age = min(s.age, max_age)
            out.append(IntervalSample(name, "utkface", age, age, s.gender, s.race))
    return out


def gather(
    cache: AlignedCache, samples: Sequence[IntervalSample]
) -> tuple[np.ndarray, list[IntervalSample], list[str]]:
    """``(crops, kept samples, missed names)``: the cached crops (RGB uint8) of the samples
    whose face was found, in order; every sample must be in the cache."""
    rows = cache.rows([s.name for s in samples])
    found = cache.found[rows]
    kept = [s for s, ok in zip(samples, found, strict=True) if ok]
    missed = [s.name for s, ok in zip(samples, found, strict=True) if not ok]
    return cache.crops[rows[found]], kept, missed


def label_arrays(samples: Sequence[IntervalSample]) -> dict[str, np.ndarray]:
    """Label columns: age_low, age_high (int64), gender, race (int64), exact_age (bool)."""
    low = np.array([s.age_low for s in samples], np.int64)
    high = np.array([s.age_high for s in samples], np.int64)
    return {
        "age_low": low,
        "age_high": high,
        "exact_age": low == high,
        "gender": np.array([s.gender for s in samples], np.int64),
        "race": np.array([s.race for s in samples], np.int64),
    }
