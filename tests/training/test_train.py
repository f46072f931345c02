"""A tiny end-to-end training run on a synthetic UTKFace-style folder."""

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from faceattrs.spec import ModelSpec  # noqa: E402
from faceattrs.training.export import tiny_config  # noqa: E402
from faceattrs.training.train import TrainConfig, age_targets, lr_at, train  # noqa: E402


def make_folder(tmp_path, n=48):
    data, splits = tmp_path / "utk", tmp_path / "splits"
    data.mkdir()
    splits.mkdir()
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        age, gender, race = int(rng.integers(1, 90)), i % 2, i % 5
        name = f"{age}_{gender}_{race}_2017011{i:011d}.jpg.chip.jpg"
        img = np.full((200, 200, 3), 20 + 2 * age, np.uint8)
        img[:, :, gender] = 200  # learnable signal
        cv2.imwrite(str(data / name), img)
        names.append(name)
    (splits / "train.txt").write_text("\n".join(names[:40]) + "\n")
    (splits / "val.txt").write_text("\n".join(names[40:]) + "\n")
    return data, splits


def test_tiny_run_writes_checkpoints_curves_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, splits = make_folder(tmp_path)
    cfg = TrainConfig(
        data=str(data),
        split=str(splits),
        epochs=2,
        batch_size=8,
        threads=1,
        net=tiny_config().to_dict(),
        source_size=40,
        spec=json.loads(ModelSpec(input_size=32).to_json()),
    )
    out = train(cfg, tmp_path / "run")
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(np.isfinite(h["train_loss_total"]) for h in history)
    for name in ("config.json", "last.pt", "best.pt", "loss_curves.png"):
        assert (out / name).is_file(), name
    # Resuming a finished run trains nothing more and keeps the history.
    train(cfg, tmp_path / "run")
    assert len(json.loads((out / "history.json").read_text())) == 2


@pytest.mark.parametrize("bf16", [None, True])
def test_bfloat16_autocast_trains_and_is_recorded(tmp_path, monkeypatch, bf16):
    from faceattrs.training.config import cpu_has_fast_bf16

    monkeypatch.chdir(tmp_path)
    data, splits = make_folder(tmp_path)
    cfg = TrainConfig(
        data=str(data), split=str(splits), epochs=1, batch_size=8, threads=1, bf16=bf16,
        net=tiny_config().to_dict(), source_size=40,
        spec=json.loads(ModelSpec(input_size=32).to_json()),
    )  # fmt: skip
    out = train(cfg, tmp_path / "run")
    history = json.loads((out / "history.json").read_text())
    assert np.isfinite(history[0]["train_loss_total"]) and np.isfinite(history[0]["val_loss_total"])
    saved = json.loads((out / "config.json").read_text())["bf16"]
    assert saved is (cpu_has_fast_bf16() if bf16 is None else True)  # never None


def test_age_targets_are_distributions_centred_on_the_age():
    t = age_targets(torch.tensor([0.0, 30.0, 100.0]), 101, 2.0)
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert t.argmax(1).tolist() == [0, 30, 100]


def test_learning_rate_warms_up_then_decays_to_zero():
    assert lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(100, 100, 10, 1.0) == pytest.approx(0.0, abs=1e-9)


def test_fewer_images_than_a_batch_train_one_small_batch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, splits = make_folder(tmp_path, n=44)
    cfg = TrainConfig(
        data=str(data), split=str(splits), epochs=1, batch_size=128, limit=16, threads=1,
        net=tiny_config().to_dict(), source_size=40,
        spec=json.loads(ModelSpec(input_size=32).to_json()),
    )  # fmt: skip
    history = json.loads((train(cfg, tmp_path / "run") / "history.json").read_text())
    assert np.isfinite(history[0]["train_loss_total"])


def test_a_teacher_with_utkface_crops_is_refused(tmp_path):
    data, splits = make_folder(tmp_path, n=8)
    cfg = TrainConfig(data=str(data), split=str(splits), teacher=str(tmp_path), threads=1)
    with pytest.raises(ValueError, match="source 'aligned'"):
        train(cfg, tmp_path / "run")
