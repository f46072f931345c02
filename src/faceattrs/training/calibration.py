"""Temperature scaling fitted on the validation faces (Guo et al., 2017), baked into the export.

Gender and race: the temperature that minimises the negative log-likelihood of the true class.
Age: the temperature whose 80% central interval (the one inference reports) covers 80% of the
exact-age validation faces, so the interval means what it says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from faceattrs.evaluation.metrics import expected_calibration_error
from faceattrs.pipeline.attributes import postprocess
from faceattrs.spec import ModelSpec
from faceattrs.training.config import TrainConfig
from faceattrs.training.dataset import to_input
from faceattrs.training.model import FaceAttrNet
from faceattrs.training.sources import (
    FaceSet,
    aligned_cache_path,
    aligned_sets,
    dataset_dirs,
    parse_datasets,
)

GRID = np.round(np.arange(0.5, 5.001, 0.01), 3)


@torch.no_grad()
def collect_logits(
    net: FaceAttrNet, sets: Sequence[FaceSet], spec: ModelSpec, flip: bool, batch: int = 256
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Logits of every face of ``sets`` (per head; with ``flip``, of the face and its mirror
    stacked on a last axis of size 2) and the concatenated labels."""
    net.eval()
    outs: list[list[torch.Tensor]] = [[], [], []]
    for face_set in sets:
        for start in range(0, len(face_set), batch):
            x = to_input(
                torch.from_numpy(face_set.images[start : start + batch]),
                spec.input_size,
                spec.mean,
                spec.std,
            )
            views = [net(x)] + ([net(torch.flip(x, dims=[3]))] if flip else [])
            for head in range(3):
                outs[head].append(torch.stack([v[head] for v in views], -1))
    labels = {k: torch.cat([s.labels[k] for s in sets]) for k in sets[0].labels}
    return [torch.cat(o) for o in outs], labels


def probabilities(logits: torch.Tensor, temperature: float) -> np.ndarray:
    """Softmax of ``logits / temperature``, averaged over the views (last axis)."""
    return (logits / temperature).softmax(1).mean(-1).numpy()


def _nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1)).mean())


def fit_class_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The grid temperature with the lowest negative log-likelihood."""
    y = labels.numpy()
    losses = [_nll(probabilities(logits, t), y) for t in GRID]
    return float(GRID[int(np.argmin(losses))])


def interval_coverage(spec: ModelSpec, age_probs: np.ndarray, ages: np.ndarray) -> float:
    """Share of ``ages`` inside the central interval inference reports."""
    n = len(ages)
    dummy = np.full((n, 2), 0.5, np.float32)
    interval = postprocess(spec, age_probs, dummy, dummy).age_interval
    return float(((ages >= interval[:, 0]) & (ages <= interval[:, 1])).mean())


def fit_age_temperature(spec: ModelSpec, logits: torch.Tensor, low, high) -> float:
    """The grid temperature whose interval coverage on exact ages is nearest the nominal one."""
    exact = (low == high).numpy()
    if not exact.any():
        return 1.0
    ages = low.numpy()[exact]
    logits = logits[torch.from_numpy(exact)]
    coarse = GRID[::5]
    gaps = [
        abs(interval_coverage(spec, probabilities(logits, t), ages) - spec.age_interval_coverage)
        for t in coarse
    ]
    return float(coarse[int(np.argmin(gaps))])


def fit_temperatures(
    net: FaceAttrNet, sets: Sequence[FaceSet], spec: ModelSpec, flip: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """Temperatures per head, and the validation figures before and after scaling."""
    (age, gender, race), labels = collect_logits(net, sets, spec, flip)
    temps = {
        "age": fit_age_temperature(spec, age, labels["age_low"], labels["age_high"]),
        "gender": fit_class_temperature(gender, labels["gender"]),
        "race": fit_class_temperature(race, labels["race"]),
    }
    exact = (labels["age_low"] == labels["age_high"]).numpy()
    ages = labels["age_low"].numpy()[exact]
    report = {}
    for name, scale in (("before", None), ("after", temps)):
        t = scale or {"age": 1.0, "gender": 1.0, "race": 1.0}
        report[f"gender_ece_{name}"] = expected_calibration_error(
            probabilities(gender, t["gender"]), labels["gender"].numpy()
        )
        report[f"race_ece_{name}"] = expected_calibration_error(
            probabilities(race, t["race"]), labels["race"].numpy()
        )
        if exact.any():
            report[f"age_interval_coverage_{name}"] = interval_coverage(
                spec, probabilities(age[torch.from_numpy(exact)], t["age"]), ages
            )
    return temps, report


def validation_sets(cfg: TrainConfig, spec: ModelSpec) -> list[FaceSet]:
    """The run's validation faces from its aligned caches (what model selection saw)."""
    if cfg.source != "aligned":
        raise ValueError("calibration needs a run trained on the aligned caches (--source aligned)")
    sets = []
    for dataset in parse_datasets(cfg.datasets):
        dirs = dataset_dirs(cfg, dataset)
        cache = aligned_cache_path(cfg, dataset)
        sets += aligned_sets(dataset, ("val",), *dirs, cache, spec.max_age)
    return sets
