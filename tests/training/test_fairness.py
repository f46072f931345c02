"""Loss weights aimed at the gender gap: group balance and online group DRO."""

import pytest

torch = pytest.importorskip("torch")

from faceattrs.training.fairness import GroupDRO, group_weights  # noqa: E402


def test_group_weights_weigh_every_race_gender_group_the_same_at_power_one():
    gender = torch.tensor([0, 0, 0, 1, 0, 1])
    race = torch.tensor([0, 0, 0, 0, 1, 1])  # groups of 3, 1, 1, 1 faces
    weight = group_weights(gender, race, 1.0)
    assert weight.mean().item() == pytest.approx(1.0)
    assert weight[:3].sum().item() == pytest.approx(weight[3].item())  # a group weighs 1 face
    assert weight[3].item() == pytest.approx(weight[5].item())
    assert torch.allclose(group_weights(gender, race, 0.0), torch.ones(6))


def test_group_dro_weighs_the_groups_by_q_and_raises_the_worst_group():
    group = torch.tensor([0, 0, 0, 1, 2])  # groups of 3, 1, 1 faces; group 3 absent
    losses = torch.tensor([0.1, 0.1, 0.1, 1.0, 0.5])
    dro = GroupDRO(4, step=0.0)
    weight = dro.weights(losses, group)
    assert weight.mean().item() == pytest.approx(1.0)
    assert weight[:3].sum().item() == pytest.approx(weight[3].item())  # groups weigh the same
    assert torch.allclose(dro.q, torch.full((4,), 0.25))
    dro = GroupDRO(4, step=1.0)
    weight = dro.weights(losses, group)
    want = torch.tensor(
        [0.25 * 2.718281828**0.1, 0.25 * 2.718281828, 0.25 * 2.718281828**0.5, 0.25]
    )
    assert torch.allclose(dro.q, want / want.sum())
    assert dro.q[1] > dro.q[2] > dro.q[0] > dro.q[3]  # the worst group gains, an absent one loses
    weighted = (weight * losses).sum() / weight.sum()
    present = dro.q[:3]
    expected = (present * torch.tensor([0.1, 1.0, 0.5])).sum() / present.sum()
    assert weighted.item() == pytest.approx(expected.item(), rel=1e-5)


def test_group_dro_gender_weights_group_by_race_and_gender():
    dro = GroupDRO(4, step=1.0)
    logits = torch.tensor([[4.0, -4.0], [4.0, -4.0], [4.0, -4.0]])  # "male", sure
    labels = {"gender": torch.tensor([0, 1, 0]), "race": torch.tensor([0, 0, 1])}
    dro.gender_weights(logits, labels, smoothing=0.0)
    assert dro.q.argmax().item() == 1  # race 0, female: the only wrong face


def test_groups_are_per_dataset_where_the_labels_name_one():
    from faceattrs.training.fairness import dataset_race_gender_group

    labels = {"gender": torch.tensor([1, 1, 0]), "race": torch.tensor([2, 2, 4])}
    assert dataset_race_gender_group(labels, 5).tolist() == [5, 5, 8]
    labels["dataset"] = torch.tensor([0, 1, 1])
    assert dataset_race_gender_group(labels, 5).tolist() == [5, 15, 18]
