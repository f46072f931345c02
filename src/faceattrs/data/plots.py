"""The seed's three figures (age, race, gender distributions), before and after balancing.

matplotlib is imported lazily with the Agg backend, so nothing else in the package needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceattrs.data.utkface import GENDER_NAMES, RACE_NAMES, Sample

FIGURE_NAMES = ("age_distribution.png", "race_distribution.png", "gender_distribution.png")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(plt, title: str, before_label: str, after_label: str):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, constrained_layout=True)
    fig.suptitle(title)
    axes[0].set_title(before_label)
    axes[1].set_title(after_label)
    return fig, axes


def plot_distributions(
    before: Sequence[Sample],
    after: Sequence[Sample],
    out_dir: str | Path,
    after_weights: np.ndarray | None = None,
    after_title: str = "after balancing",
) -> list[Path]:
    """Write age/race/gender distribution figures (before | after panels) as PNG files.

    With ``after_weights`` (one per ``after`` sample) the right panels show effective
    (weighted) counts, for loss re-weighting instead of deletion.
    """
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if after_weights is not None and len(after_weights) != len(after):
        raise ValueError(f"{len(after_weights)} weights for {len(after)} samples")
    w_after = None if after_weights is None else np.asarray(after_weights, np.float64)
    total_after = len(after) if w_after is None else float(w_after.sum())
    left = f"before balancing (n={len(before)})"
    right = f"{after_title} (n={total_after:.0f}{' effective' if w_after is not None else ''})"
    ages_b = np.array([s.age for s in before])
    ages_a = np.array([s.age for s in after])
    max_age = int(max([*ages_b, *ages_a, 1]))
    bins = np.arange(0, max_age + 2) - 0.5
    paths = []

    fig, axes = _panels(plt, "Age distribution", left, right)
    axes[0].hist(ages_b, bins=bins, color="tab:blue")
    axes[1].hist(ages_a, bins=bins, weights=w_after, color="tab:orange")
    for ax in axes:
        ax.set_xlabel("age (years)")
    axes[0].set_ylabel("faces")
    paths.append(_save(plt, fig, out_dir / FIGURE_NAMES[0]))

    for name, attr, labels in (
        (FIGURE_NAMES[1], "race", RACE_NAMES),
        (FIGURE_NAMES[2], "gender", GENDER_NAMES),
    ):
        fig, axes = _panels(plt, f"{attr.capitalize()} distribution", left, right)
        for ax, samples, weights, color in (
            (axes[0], before, None, "tab:blue"),
            (axes[1], after, w_after, "tab:orange"),
        ):
            values = np.array([getattr(s, attr) for s in samples], dtype=int)
            counts = np.bincount(values, weights=weights, minlength=len(labels))[: len(labels)]
            bars = ax.bar(labels, counts, color=color)
            ax.bar_label(bars, labels=[f"{c:.0f}" for c in counts])
            ax.set_xlabel(attr)
        axes[0].set_ylabel("faces")
        paths.append(_save(plt, fig, out_dir / name))
    return paths


def _save(plt, fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
