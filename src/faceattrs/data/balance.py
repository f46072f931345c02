"""Balancing a labelled sample list: age cap, random down-sampling of cells, or loss weights.

The seed project dropped ages above 80 and randomly deleted faces of over-represented
groups (ages 22-25, White). Here that is configurable: ``balance`` returns the indices
kept, ``sample_weights`` returns per-sample loss weights instead (nothing deleted), and
both come with counts before and after (``label_counts`` per age band, gender, race).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from faceattrs.data.report import label_counts
from faceattrs.data.utkface import GENDER_NAMES, RACE_NAMES, Sample, age_band

CELL_KEYS = ("age", "age_band", "gender", "race")
DEFAULT_BY = "age_band,gender,race"


def parse_keys(by: str | Sequence[str]) -> tuple[str, ...]:
    """``"age,race"`` or ``("age", "race")`` -> validated key tuple."""
    keys = tuple(k.strip() for k in (by.split(",") if isinstance(by, str) else by) if k.strip())
    unknown = [k for k in keys if k not in CELL_KEYS]
    if not keys or unknown:
        raise ValueError(f"cell keys must be a subset of {','.join(CELL_KEYS)}, got {by!r}")
    return keys


def cell_key(sample: Sample, keys: Sequence[str]) -> str:
    """The cell of a sample for the given keys, e.g. ``"age=26/race=white"``."""
    values = {
        "age": str(sample.age),
        "age_band": age_band(sample.age),
        "gender": GENDER_NAMES[sample.gender],
        "race": RACE_NAMES[sample.race],
    }
    return "/".join(f"{k}={values[k]}" for k in keys)


def _labels(samples: Sequence[Sample]) -> list[tuple[int, int, int]]:
    return [(s.age, s.gender, s.race) for s in samples]


@dataclass(frozen=True)
class Balanced:
    """Indices into the input kept by ``balance``, with counts before and after."""

    indices: list[int]
    before: dict
    after: dict
    steps: list[dict] = field(default_factory=list)  # what each step removed

    def select(self, samples: Sequence[Sample]) -> list[Sample]:
        return [samples[i] for i in self.indices]


def balance(
    samples: Sequence[Sample],
    age_cap: int | None = 80,
    cap_per_cell: int | Mapping[str, int] | None = None,
    by: str | Sequence[str] = DEFAULT_BY,
    seed: int = 0,
) -> Balanced:
    """Drop ages above ``age_cap``, then randomly down-sample cells above a cap.

    ``cap_per_cell`` is an int (cells defined by ``by``) or an ordered mapping of
    ``keys -> cap`` applied one after the other, e.g. ``{"age": 400, "race": 3500}``
    (the seed's "too many 22-25 year olds, too many White faces"). Deterministic:
    within a cell, samples are ordered by file name and shuffled with ``(seed, cell)``.
    """
    if age_cap is not None and age_cap < 0:
        raise ValueError(f"age cap must be >= 0, got {age_cap}")
    if isinstance(cap_per_cell, Mapping):
        caps = [(parse_keys(k), int(v)) for k, v in cap_per_cell.items()]
    elif cap_per_cell is not None:
        caps = [(parse_keys(by), int(cap_per_cell))]
    else:
        caps = []
    if any(cap < 1 for _, cap in caps):
        raise ValueError(f"caps per cell must be >= 1, got {cap_per_cell!r}")

    indices = list(range(len(samples)))
    steps = []
    if age_cap is not None:
        dropped = [i for i in indices if samples[i].age > age_cap]
        indices = [i for i in indices if samples[i].age <= age_cap]
        steps.append({"step": f"age <= {age_cap}", "removed": len(dropped)})
    for keys, cap in caps:
        cells: dict[str, list[int]] = defaultdict(list)
        for i in indices:
            cells[cell_key(samples[i], keys)].append(i)
        kept = []
        for cell in sorted(cells):
            members = sorted(cells[cell], key=lambda i: (str(samples[i].path), i))
            if len(members) > cap:
                random.Random(f"{seed}/{cell}").shuffle(members)
                members = members[:cap]
            kept += members
        steps.append(
            {"step": f"at most {cap} per {','.join(keys)}", "removed": len(indices) - len(kept)}
        )
        indices = sorted(kept)
    return Balanced(
        indices=indices,
        before=label_counts(_labels(samples)),
        after=label_counts(_labels([samples[i] for i in indices])),
        steps=steps,
    )


def sample_weights(
    samples: Sequence[Sample],
    by: str | Sequence[str] = DEFAULT_BY,
    age_cap: int | None = None,
    power: float = 1.0,
    max_weight: float = 10.0,
) -> np.ndarray:
    """Per-sample loss weights (float32, mean 1 over weighted samples) instead of deleting.

    Weight is ``count(cell) ** -power`` (``power=1`` makes every cell weigh the same,
    ``0.5`` is milder), clipped to ``max_weight`` times the smallest weight, then scaled to
    mean 1. Ages above ``age_cap`` get weight 0.
    """
    if power < 0 or max_weight < 1:
        raise ValueError(f"need power >= 0 and max_weight >= 1, got {power}, {max_weight}")
    keys = parse_keys(by)
    active = np.array([age_cap is None or s.age <= age_cap for s in samples], dtype=bool)
    cells = [cell_key(s, keys) for s in samples]
    counts: dict[str, int] = defaultdict(int)
    for cell, on in zip(cells, active, strict=True):
        counts[cell] += int(on)
    weights = np.zeros(len(samples), np.float64)
    for i, (cell, on) in enumerate(zip(cells, active, strict=True)):
        if on:
            weights[i] = counts[cell] ** -power
    if active.any():
        low = weights[active].min()
        weights[active] = np.minimum(weights[active], low * max_weight)
        weights[active] /= weights[active].mean()
    return weights.astype(np.float32)


def weighted_counts(samples: Sequence[Sample], weights: np.ndarray) -> dict:
    """Effective counts (sum of weights) per age band, gender and race, rounded."""
    weights = np.asarray(weights, np.float64)
    if len(weights) != len(samples):
        raise ValueError(f"{len(weights)} weights for {len(samples)} samples")
    out: dict = {"age_band": {}, "gender": {}, "race": {}}
    base = label_counts(_labels(samples))
    for band in base["age_band"]:
        out["age_band"][band] = sum(
            w for s, w in zip(samples, weights, strict=True) if age_band(s.age) == band
        )
    for i, name in enumerate(GENDER_NAMES):
        out["gender"][name] = sum(w for s, w in zip(samples, weights, strict=True) if s.gender == i)
    for i, name in enumerate(RACE_NAMES):
        out["race"][name] = sum(w for s, w in zip(samples, weights, strict=True) if s.race == i)
    for group in out.values():
        for k in group:
            group[k] = round(float(group[k]), 1)
    out["total"] = round(float(weights.sum()), 1)
    return out


def counts_markdown(before: dict, after: dict, after_title: str = "after") -> str:
    """Side-by-side Markdown tables of counts before and after balancing."""
    lines = []
    for group, title in (("age_band", "age band"), ("gender", "gender"), ("race", "race")):
        lines += [f"| {title} | before | {after_title} |", "| --- | ---: | ---: |"]
        for key in before[group]:
            lines.append(f"| {key} | {before[group][key]} | {after[group].get(key, 0)} |")
        lines.append("")
    lines.append(f"total: {before['total']} before, {after['total']} {after_title}")
    return "\n".join(lines) + "\n"
