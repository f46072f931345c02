"""FairFace evaluation: age-bin scoring, end-to-end figures, the report, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceattrs.evaluation.fairface import (
    BIN_NAMES,
    age_bin_metrics,
    age_bin_of,
    bin_probs,
    end_to_end,
    fairface_metrics,
    markdown_detected,
)
from model_helpers import write_constant_model


def test_age_bins_follow_fairface_edges():
    ages = np.array([0, 2, 3, 9, 10, 19, 20, 69, 70, 100])
    assert age_bin_of(ages).tolist() == [0, 0, 1, 1, 2, 2, 3, 7, 8, 8]


def test_bin_probs_sum_the_mass_of_each_bin():
    probs = np.zeros((1, 101))
    probs[0, [1, 5, 9, 75]] = [0.1, 0.2, 0.3, 0.4]
    mass = bin_probs(probs)
    assert mass.shape == (1, len(BIN_NAMES))
    assert mass[0].tolist() == pytest.approx([0.1, 0.5, 0, 0, 0, 0, 0, 0, 0.4])


def test_most_probable_bin_and_expected_age_bin_can_differ():
    probs = np.zeros((2, 101))
    probs[0, [20, 29]] = 0.3  # 60% in 20-29 ...
    probs[0, 90] = 0.4  # ... but the expected age (50.7) is in 50-59
    probs[1, 35] = 1.0
    m = age_bin_metrics(probs, np.array([3, 6]))
    assert m["age_bin_accuracy"] == pytest.approx(0.5)  # bin 20-29 right, 30-39 wrong
    assert m["age_bin_accuracy_expected_age"] == pytest.approx(0.0)  # 50-59 and 30-39
    assert m["age_bin_within_one"] == pytest.approx(0.5)
    assert m["age_bin_by_bin"]["20-29"] == {"n": 1, "accuracy": 1.0}
    assert m["age_bin_confusion"]["rows_true_cols_pred"][6][4] == 1


def test_fairface_metrics_groups_and_end_to_end():
    n = 4
    age_probs = np.zeros((n, 101))
    age_probs[:, 25] = 1.0
    gender_probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]])
    race_probs = np.eye(5)[[0, 2, 2, 4]]
    race7 = np.array([0, 3, 4, 6])  # White, East Asian, Southeast Asian, Middle Eastern
    m = fairface_metrics(
        np.array([3, 3, 4, 3]),
        np.array([0, 1, 1, 0]),
        np.array([0, 2, 2, 4]),
        race7,
        age_probs,
        gender_probs,
        race_probs,
    )
    assert m["gender_accuracy"] == pytest.approx(3 / 4)
    assert m["race_accuracy"] == pytest.approx(1.0)
    assert m["age_bin_accuracy"] == pytest.approx(3 / 4)
    assert m["by_group"]["asian/female"] == {
        "n": 2,
        "gender_accuracy": 0.5,
        "race_accuracy": 1.0,
        "age_bin_accuracy": 0.5,
    }
    assert m["race_by_race7"]["Middle Eastern"]["as"] == "other"
    assert m["race_by_race7"]["Black"]["n"] == 0
    e2e = end_to_end(m, found=4, images=5)
    assert e2e["gender_accuracy"] == pytest.approx(3 / 5)
    assert "gender_ece" not in e2e
    m.update(
        end_to_end=e2e,
        model="m.onnx",
        split="s:test",
        faces={
            "images": 5,
            "found": 4,
            "missed": 1,
            "miss_rate": 0.2,
            "by_reason": {"no face detected": 1},
            "source": "detector",
        },
        misses=[{"name": "x.jpg", "reason": "no face detected"}],
    )
    text = markdown_detected(m, "T", "faceattrs evaluate m.onnx --dataset fairface")
    assert "| gender accuracy | 75.0% | 60.0% |" in text
    assert "faceattrs evaluate m.onnx --dataset fairface" in text
    assert "| Middle Eastern | 1 | other | 100.0% |" in text


@pytest.mark.shared
def test_evaluate_fairface_command(shared_dir, tmp_path, capsys):
    from faceattrs.cli import main
    from faceattrs.data.fairface import load_fairface_split

    data = shared_dir / "data" / "fairface"
    splits = tmp_path / "splits"
    splits.mkdir()
    names = ["train/4.jpg", "train/15.jpg", "train/48.jpg", "train/1.jpg"]
    (splits / "test.txt").write_text("\n".join(names) + "\n")
    age = np.zeros(101)
    age[25] = 1.0  # always 20-29
    model = write_constant_model(tmp_path / "c.onnx", age, [0.3, 0.7], np.eye(5)[2] * 0.9 + 0.02)
    out = tmp_path / "report"
    args = ["evaluate", str(model), "--dataset", "fairface", "--data", str(data)]
    assert main([*args, "--splits", str(splits), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    samples = load_fairface_split(splits, "test", data)
    found = [
        s
        for s, name in zip(samples, names, strict=True)
        if name not in {m["name"] for m in metrics["misses"]}
    ]
    assert metrics["faces"]["images"] == 4 and metrics["n"] == len(found) > 0
    assert metrics["gender_accuracy"] == pytest.approx(np.mean([s.gender == 1 for s in found]))
    assert metrics["race_accuracy"] == pytest.approx(np.mean([s.race5 == 2 for s in found]))
    assert metrics["age_bin_accuracy"] == pytest.approx(np.mean([s.age_low == 20 for s in found]))
    assert metrics["command"].startswith(f"faceattrs evaluate {model} --dataset fairface")
    for name in ("report.md", "race_confusion.png", "age_bin_confusion.png"):
        assert (out / name).is_file()
    assert '"end_to_end"' in capsys.readouterr().out
    assert main(["evaluate", str(model), "--dataset", "fairface", "--scenes"]) == 2
