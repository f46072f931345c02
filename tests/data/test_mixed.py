"""UTKFace + FairFace samples as age-interval records joined with an aligned cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceattrs.data.aligned_cache import AlignedCache
from faceattrs.data.fairface import FairSample
from faceattrs.data.mixed import gather, interval_samples, label_arrays
from faceattrs.data.utkface import Sample

DATA = Path("/data/x")


def test_interval_samples_and_labels() -> None:
    samples = [
        Sample(DATA / "25_1_2_x.jpg", 25, 1, 2),
        Sample(DATA / "110_0_0_x.jpg", 110, 0, 0),
        FairSample(DATA / "train/7.jpg", 70, 100, 0, 4, 6),
        FairSample(DATA / "train/8.jpg", 3, 9, 1, 2, 4),
    ]
    records = interval_samples(samples, DATA, max_age=100)
    assert [r.name for r in records] == [
        "25_1_2_x.jpg",
        "110_0_0_x.jpg",
        "train/7.jpg",
        "train/8.jpg",
    ]
    assert [(r.age_low, r.age_high) for r in records] == [(25, 25), (100, 100), (70, 100), (3, 9)]
    assert [r.dataset for r in records] == ["utkface", "utkface", "fairface", "fairface"]
    labels = label_arrays(records)
    assert labels["exact_age"].tolist() == [True, True, False, False]
    assert labels["race"].tolist() == [2, 0, 4, 2] and labels["gender"].tolist() == [1, 0, 0, 1]


def test_gather_leaves_out_misses() -> None:
    n = 3
    crops = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    cache = AlignedCache(
        names=np.array(["a.jpg", "b.jpg", "c.jpg"]),
        crops=crops,
        found=np.array([True, False, True]),
        xyxy=np.zeros((n, 4), np.float32),
        keypoints=np.zeros((n, 6, 2), np.float32),
        scores=np.ones(n, np.float32),
        outside=np.zeros(n, np.float32),
        meta={},
    )
    records = interval_samples(
        [Sample(DATA / name, 30, 0, 1) for name in ("c.jpg", "b.jpg", "a.jpg")], DATA
    )
    got, kept, missed = gather(cache, records)
    assert got[:, 0, 0, 0].tolist() == [2, 0]
    assert [r.name for r in kept] == ["c.jpg", "a.jpg"] and missed == ["b.jpg"]
    with pytest.raises(KeyError, match="d.jpg"):
        gather(cache, interval_samples([Sample(DATA / "d.jpg", 30, 0, 1)], DATA))
