"""Loss weights aimed at the gender gap across race groups (issue #16, item 3).

Two kinds: fixed weights that make every race x gender group weigh the same
(:func:`group_weights`), and online group DRO (:class:`GroupDRO`, Sagawa et al. 2020,
"Distributionally robust neural networks"), whose weights follow each group's current loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def race_gender_group(gender: torch.Tensor, race: torch.Tensor) -> torch.Tensor:
    """Group index ``race * 2 + gender`` of each face."""
    return race.long() * 2 + gender.long()


def group_weights(gender: torch.Tensor, race: torch.Tensor, power: float) -> torch.Tensor:
    """Per-face loss weights ``count(race, gender) ** -power``, mean 1 over the faces: at
    power 1 each race x gender group weighs the same in the loss; at 0 all faces weigh the
    same."""
    group = race_gender_group(gender, race)
    counts = torch.bincount(group).float()
    weight = counts[group] ** -power
    return weight / weight.mean()


def dataset_race_gender_group(labels: dict[str, torch.Tensor], num_races: int) -> torch.Tensor:
    """Group index of each face: :func:`race_gender_group`, per source dataset where the
    labels name one (``dataset``: 0, 1, ...)."""
    group = race_gender_group(labels["gender"], labels["race"])
    if "dataset" in labels:
        group = group + labels["dataset"].long() * 2 * num_races
    return group


class GroupDRO:
    """Online group DRO: a distribution ``q`` over groups, raised after every batch by
    ``exp(step * group's mean loss)``; the loss is ``sum_g q_g * mean loss of group g``
    (:meth:`weights` gives it as per-face weights for a weighted mean). ``step`` 0 keeps
    ``q`` uniform over the groups present in each batch. The groups of
    :meth:`gender_weights` are dataset x race x gender: each dataset's faces of one race and
    gender are a group of their own (their labels and their difficulty differ)."""

    def __init__(self, num_groups: int, step: float, num_races: int = 5) -> None:
        self.step = step
        self.num_races = num_races
        self.q = torch.full((num_groups,), 1.0 / num_groups)

    def weights(self, losses: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        """Update ``q`` with this batch's per-face ``losses`` and return per-face weights
        (mean 1 over the batch) under which the weighted mean loss is
        ``sum_g q_g * mean_g / sum_{g present} q_g``."""
        num_groups = len(self.q)
        counts = torch.bincount(group, minlength=num_groups).float()
        sums = torch.zeros(num_groups).index_add_(0, group, losses.detach().float())
        means = sums / counts.clamp_min(1.0)
        self.q = self.q * torch.exp(self.step * means * (counts > 0))
        self.q = self.q / self.q.sum()
        weight = self.q[group] / counts[group]
        return weight * len(group) / weight.sum()

    def gender_weights(
        self, gender_logits: torch.Tensor, labels: dict[str, torch.Tensor], smoothing: float
    ) -> torch.Tensor:
        """:meth:`weights` for the gender cross-entropy over dataset x race x gender groups."""
        with torch.no_grad():
            each = F.cross_entropy(
                gender_logits.float(), labels["gender"], label_smoothing=smoothing,
                reduction="none",
            )  # fmt: skip
        return self.weights(each, dataset_race_gender_group(labels, self.num_races))
