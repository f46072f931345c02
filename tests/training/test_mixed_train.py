"""Interval-censored age loss, age-bin validation, a tiny run on both datasets' aligned caches."""

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from faceattrs.spec import ModelSpec  # noqa: E402
from faceattrs.training.export import tiny_config  # noqa: E402
from faceattrs.training.sources import parse_datasets, teacher_labels  # noqa: E402
from faceattrs.training.train import (  # noqa: E402
    TrainConfig,
    age_loss,
    distill_loss,
    evaluate_net,
    multitask_loss,
    train,
)

CFG = TrainConfig()


def one_hot_log_probs(ages: list[int], num_ages: int = 101, peak: float = 20.0) -> torch.Tensor:
    logits = torch.zeros(len(ages), num_ages)
    logits[torch.arange(len(ages)), torch.tensor(ages)] = peak
    return logits.log_softmax(1)


def test_interval_loss_is_minus_log_mass_inside_the_interval():
    log_probs = torch.randn(4, 101).log_softmax(1)
    low, high = torch.tensor([3.0, 10, 70, 0]), torch.tensor([9.0, 19, 100, 2])
    cfg = TrainConfig(age_l1_weight=0.0)
    got = age_loss(log_probs, low, high, cfg)
    probs = log_probs.exp()
    want = torch.stack(
        [
            -probs[i, int(lo) : int(hi) + 1].sum().log()
            for i, (lo, hi) in enumerate(zip(low, high, strict=True))
        ]
    )
    assert torch.allclose(got, want, atol=1e-5)


def test_interval_loss_prefers_mass_inside_and_exact_ages_keep_the_gaussian_kl():
    low, high = torch.tensor([20.0, 20.0]), torch.tensor([29.0, 29.0])
    loss = age_loss(one_hot_log_probs([25, 45]), low, high, CFG)
    assert loss[0] < 0.01 < 1.0 < loss[1]
    # Exact ages (low == high): KL to the Gaussian target plus L1 on the expected age.
    log_probs = torch.randn(3, 101).log_softmax(1)
    age = torch.tensor([5.0, 40.0, 90.0])
    got = age_loss(log_probs, age, age, CFG)
    target = torch.exp(-0.5 * ((torch.arange(101.0)[None] - age[:, None]) / CFG.age_sigma) ** 2)
    target = target / target.sum(1, keepdim=True)
    kl = (target * (target.clamp_min(1e-12).log() - log_probs)).sum(1)
    expected = (log_probs.exp() * torch.arange(101.0)).sum(1)
    assert torch.allclose(got, kl + CFG.age_l1_weight * (expected - age).abs(), atol=1e-4)


class FixedNet(torch.nn.Module):
    """Returns given logits in order, whatever the input."""

    def __init__(self, age_logits, gender_logits, race_logits):
        super().__init__()
        self.outputs = (age_logits, gender_logits, race_logits)

    def forward(self, x):
        return self.outputs


def test_evaluate_net_reports_mae_for_exact_ages_and_bin_accuracy_for_intervals():
    # Two exact ages (30, 50) and three FairFace-style intervals.
    predicted = [32, 50, 25, 65, 5]
    age_logits = one_hot_log_probs(predicted, peak=30.0)
    labels = {
        "age_low": torch.tensor([30.0, 50, 20, 50, 3]),
        "age_high": torch.tensor([30.0, 50, 29, 59, 9]),
        "gender": torch.tensor([0, 1, 0, 1, 0]),
        "race": torch.tensor([0, 1, 2, 3, 4]),
    }
    gender_logits = torch.tensor([[5.0, 0], [0, 5], [0, 5], [0, 5], [5, 0]])  # 4 of 5 right
    race_logits = torch.eye(5) * 5
    net = FixedNet(age_logits, gender_logits, race_logits)
    images = np.zeros((5, 16, 16, 3), np.uint8)
    metrics = evaluate_net(net, images, labels, ModelSpec(input_size=16), CFG, batch_size=8)
    assert metrics["age_mae"] == pytest.approx(1.0, abs=0.01)
    # Bins known from the labels: 3, 20, 50 (lower edges); 25 -> [20, 50) ok, 65 -> [50, ..) ok,
    # 5 -> [3, 20) ok.
    assert metrics["age_bin_acc"] == pytest.approx(1.0)
    assert metrics["gender_acc"] == pytest.approx(0.8) and metrics["race_acc"] == 1.0


def test_parse_datasets():
    assert parse_datasets("utkface+fairface") == ("utkface", "fairface")
    with pytest.raises(ValueError, match="datasets"):
        parse_datasets("utkface+imdb")


def write_cache(path, names, size, found, template):
    n = len(names)
    rng = np.random.default_rng(len(names))
    spec = json.loads(ModelSpec(input_size=size, template=template).to_json())
    np.savez(
        path,
        names=np.asarray(names, dtype=str),
        crops=rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8),
        found=np.asarray(found),
        xyxy=np.zeros((n, 4), np.float32),
        keypoints=np.zeros((n, 6, 2), np.float32),
        scores=np.ones(n, np.float32),
        outside=np.zeros(n, np.float32),
        meta=np.asarray(json.dumps({"size": size, "spec": spec})),
    )


def test_distill_loss_is_the_kl_to_the_teacher_over_faces_that_have_one():
    logits = (torch.randn(3, 101), torch.randn(3, 2), torch.randn(3, 5))
    own = torch.cat([h.softmax(1) for h in logits], 1)
    has = torch.tensor([True, True, False])
    assert distill_loss(logits, own, has).item() == pytest.approx(0.0, abs=1e-5)
    other = torch.cat([torch.randn(3, n).softmax(1) for n in (101, 2, 5)], 1)
    other[2] = own[2]  # the face without a teacher does not count
    got = distill_loss(logits, other, has)
    want = sum(
        (other[:2, a:b] * (other[:2, a:b].log() - h[:2].log_softmax(1))).sum(1)
        for h, (a, b) in zip(logits, ((0, 101), (101, 103), (103, 108)), strict=True)
    ).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-4) and got.item() > 0.01


def test_weighted_losses_are_the_weighted_means_of_the_face_losses():
    logits = (torch.randn(4, 101), torch.randn(4, 2), torch.randn(4, 5))
    labels = {
        "age_low": torch.tensor([20.0, 30.0, 40.0, 50.0]),
        "age_high": torch.tensor([20.0, 30.0, 49.0, 50.0]),
        "gender": torch.tensor([0, 1, 0, 1]),
        "race": torch.tensor([0, 1, 2, 3]),
    }
    plain = multitask_loss(logits, labels, CFG)
    only_first = multitask_loss(logits, {**labels, "weight": torch.tensor([1.0, 0, 0, 0])}, CFG)
    first = {k: v[:1] for k, v in labels.items()}
    alone = multitask_loss(tuple(h[:1] for h in logits), first, CFG)
    for head in ("age", "gender"):
        assert only_first[head].item() == pytest.approx(alone[head].item(), rel=1e-5)
        assert only_first[head].item() != pytest.approx(plain[head].item(), rel=1e-3)
    assert only_first["race"].item() == pytest.approx(plain["race"].item())  # not weighted
    # A gender weight (group DRO) replaces the face weights for gender only.
    dro = multitask_loss(logits, {**labels, "weight": torch.tensor([1.0, 0, 0, 0]),
                                  "gender_weight": torch.ones(4)}, CFG)  # fmt: skip
    assert dro["gender"].item() == pytest.approx(plain["gender"].item(), rel=1e-5)
    assert dro["age"].item() == pytest.approx(only_first["age"].item(), rel=1e-5)


def test_teacher_labels_are_looked_up_by_name_and_missing_faces_have_none(tmp_path):
    probs = np.arange(3 * 108, dtype=np.float32).reshape(3, 108)
    path = tmp_path / "teacher_fairface.npz"
    np.savez(path, names=np.asarray(["a", "b", "c"]), found=np.array([True, False, True]),
             probs=probs)  # fmt: skip
    got = teacher_labels(path, ["c", "b", "z", "a"])
    assert got["has_teacher"].tolist() == [True, False, False, True]
    assert np.array_equal(got["teacher"][0].numpy(), probs[2])
    assert np.array_equal(got["teacher"][3].numpy(), probs[0])
    assert not got["teacher"][1:3].any()
    with pytest.raises(ValueError, match="teacher file not found"):
        teacher_labels(tmp_path / "teacher_utkface.npz", ["a"])


def test_tiny_run_on_aligned_caches_of_both_datasets(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    template = ((0.3, 0.3), (0.7, 0.3), (0.5, 0.5), (0.5, 0.7))
    utk, ff, cache = tmp_path / "utk", tmp_path / "ff", tmp_path / "cache"
    for folder in (utk / "split", ff / "split", ff / "train", cache):
        folder.mkdir(parents=True)
    utk_names = [f"{20 + i}_{i % 2}_{i % 5}_20170101{i:09d}.jpg.chip.jpg" for i in range(24)]
    ff_names = [f"train/{i}.jpg" for i in range(24)]
    bins = ["0-2", "03-Sep", "20-29", "more than 70"]
    races = ["White", "Black", "East Asian", "Indian", "Latino_Hispanic"]
    rows = [
        f"{name},{bins[i % 4]},{('Male', 'Female')[i % 2]},{races[i % 5]},TRUE\n"
        for i, name in enumerate(ff_names)
    ]
    (ff / "fairface_label_train.csv").write_text(
        "file,age,gender,race,service_test\n" + "".join(rows)
    )
    for names, folder in ((utk_names, utk), (ff_names, ff)):
        (folder / "split" / "train.txt").write_text("\n".join(names[:18]) + "\n")
        (folder / "split" / "val.txt").write_text("\n".join(names[18:]) + "\n")
    write_cache(cache / "aligned_utkface_20.npz", utk_names, 20, [True] * 24, template)
    ff_found = [i != 3 for i in range(24)]  # one miss in train
    write_cache(cache / "aligned_fairface_20.npz", ff_names, 20, ff_found, template)
    cfg = TrainConfig(
        data=str(utk),
        split=str(utk / "split"),
        fairface_data=str(ff),
        fairface_split=str(ff / "split"),
        datasets="utkface+fairface",
        source="aligned",
        cache_dir=str(cache),
        source_size=20,
        epochs=1,
        batch_size=8,
        threads=1,
        net=tiny_config().to_dict(),
        spec=json.loads(ModelSpec(input_size=16).to_json()),
    )
    out = train(cfg, tmp_path / "run")
    assert "1 faces the detector missed" in capsys.readouterr().out
    record = json.loads((out / "history.json").read_text())[0]
    assert {"val_utkface_val_age_mae", "val_fairface_val_age_bin_acc", "val_loss_total"} <= set(
        record
    )
    assert "train_loss_distill" not in record
    # Distillation: each dataset's teacher file (soft labels by name) joins the train loss.
    for dataset, names in (("utkface", utk_names), ("fairface", ff_names)):
        probs = np.random.default_rng(0).dirichlet(np.ones(108), len(names)).astype(np.float32)
        np.savez(tmp_path / f"teacher_{dataset}.npz", names=np.asarray(names),
                 found=np.ones(len(names), bool), probs=probs)  # fmt: skip
    distilled = train(replace(cfg, teacher=str(tmp_path)), tmp_path / "run_distilled")
    record = json.loads((distilled / "history.json").read_text())[0]
    assert record["train_loss_distill"] > 0
    balanced = train(replace(cfg, group_balance=1.0), tmp_path / "run_balanced")
    assert json.loads((balanced / "config.json").read_text())["group_balance"] == 1.0
    dro = train(replace(cfg, group_dro=0.5), tmp_path / "run_dro")
    q = json.loads((dro / "history.json").read_text())[0]["dro_q"]  # 2 datasets x 5 races x 2
    assert len(q) == 20 and sum(q) == pytest.approx(1.0, abs=1e-3) and len(set(q)) > 1
    mixed = train(replace(cfg, teacher=str(tmp_path), mixup_alpha=0.2), tmp_path / "run_mixup")
    record = json.loads((mixed / "history.json").read_text())[0]
    assert record["train_loss_distill"] > 0 and np.isfinite(record["train_loss_total"])
    with pytest.raises(ValueError, match="cannot be combined"):
        train(replace(cfg, group_dro=0.5, mixup_alpha=0.2), tmp_path / "run_both")
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    assert ModelSpec.from_json(ckpt["spec"]).template == template
