"""The seed baseline's training stops and resumes as if it had run through."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from faceattrs.training.baseline import BaselineConfig, run_baseline, train_head  # noqa: E402


def tiny_data(n_train=8, n_val=2):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n_train + n_val, 200, 200, 3), dtype=np.uint8)
    targets = torch.tensor(rng.integers(0, 2, n_train + n_val), dtype=torch.float32)
    images[targets.numpy() == 1, :, :, 0] = 255  # something to learn
    return images[:n_train], targets[:n_train], images[n_train:], targets[n_train:]


def losses(history):
    return [(h["epoch"], h["train_loss"], h["val_loss"]) for h in history]


@pytest.mark.parametrize("bf16", [False, True])
def test_a_stopped_run_resumes_where_it_stopped(tmp_path, bf16):
    data = tiny_data()
    whole, split = tmp_path / "whole", tmp_path / "split"
    whole.mkdir()
    split.mkdir()
    cfg = BaselineConfig(epochs=2, patience=5, batch_size=4, threads=1, bf16=bf16)
    model, history = train_head("gender", *data, cfg, whole)
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in history)

    one = BaselineConfig(epochs=1, patience=5, batch_size=4, threads=1, bf16=bf16)
    train_head("gender", *data, one, split)
    assert len(json.loads((split / "history_gender.json").read_text())) == 1
    resumed, resumed_history = train_head("gender", *data, cfg, split)
    assert losses(resumed_history) == losses(history)
    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    # a finished model is not trained again
    _, again = train_head("gender", *data, cfg, split)
    assert losses(again) == losses(history)


def test_resuming_with_other_settings_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**BaselineConfig().__dict__, "lr": 0.1}))
    with pytest.raises(ValueError, match="other settings .*lr"):
        run_baseline(BaselineConfig(epochs=30), tmp_path, tmp_path / "report")
