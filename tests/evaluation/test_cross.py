"""The cross-dataset table: model arguments, targets, the command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceattrs.evaluation.cross import cross_markdown, meets, parse_models
from model_helpers import write_constant_model


def test_models_are_name_path_pairs(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    assert parse_models([f"a={model}", f"b={model}"]) == {
        "a": (model, "fast"), "b": (model, "fast"),
    }  # fmt: skip
    assert parse_models(["c=accurate", f"d=accurate:{model}"]) == {
        "c": (None, "accurate"), "d": (model, "accurate"),
    }  # fmt: skip
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_models([str(model)])
    with pytest.raises(ValueError, match="twice"):
        parse_models([f"a={model}", f"a={model}"])
    with pytest.raises(FileNotFoundError):
        parse_models([f"a={tmp_path / 'missing.onnx'}"])


def test_targets_are_marked():
    assert meets("fairface", "gender_accuracy", 0.93) == " ✓"
    assert meets("fairface", "gender_accuracy", 0.91) == " ✗"
    assert meets("fairface", "race_accuracy", 0.70) == " ✗"
    assert meets("utkface", "age_mae", 4.3) == " ✓"
    assert meets("utkface", "age_mae", 4.5) == " ✗"
    assert meets("utkface", "age_cs5", 0.5) == ""


def _run(gender: float, race: float, age_bin: float, mae: float) -> dict:
    keys = ("gender_accuracy", "race_accuracy", "age_bin_accuracy", "age_bin_within_one")
    values = dict(zip(keys, (gender, race, age_bin, 0.9), strict=True))
    return {
        **values,
        "age_mae": mae,
        "age_cs5": 0.6,
        "end_to_end": {k: v * 0.99 for k, v in values.items()},
        "faces": {"missed": 3, "miss_rate": 0.01},
        "gender_ece": 0.02,
        "race_ece": 0.05,
        "age_interval_coverage": 0.79,
        "gender_gap_by_race": 0.06,
        "n": 1000,
    }


def test_table_has_targets_and_every_model():
    result = {
        "command": "faceattrs evaluate-cross --model a=a.onnx --out x",
        "face_sources": {"utkface": "detector", "fairface": "detector"},
        "models": {
            "a": {
                "fairface": _run(0.93, 0.5, 0.6, 0),
                "utkface_detected": _run(0.95, 0.9, 0.5, 4.3),
            },
        },
    }
    text = cross_markdown(result)
    assert result["command"] in text
    assert "| target | >= 92% | >= 78% | >= 58% |" in text
    assert "| a | 93.0% ✓ | 50.0% ✗ | 60.0% ✓ |" in text
    assert "4.30 ✓" in text
    assert "| a | 6.0 points ✗ | - | - | 0.020 ✓ | 0.050 | 0.020 ✓ | 79.0% ✓ |" in text
    # 95% Wilson intervals at n = 1000: 93.0% -> 91.25-94.42%
    assert "| a | 91.2-94.4% | 46.9-53.1% | 56.9-63.0% | 93.5-96.2% | 88.0-91.7% |" in text


def test_the_gap_is_shown_against_what_sampling_noise_alone_gives():
    from faceattrs.evaluation.cross import gap_noise_cells, gender_by_race, summary_of

    groups = {f"{race}/{g}": {"n": 250, "gender_accuracy": acc}
              for race, acc in (("white", 0.92), ("black", 0.86), ("asian", 0.9))
              for g in ("male", "female")}  # fmt: skip
    assert gender_by_race(groups) == {"white": [460, 500], "black": [430, 500], "asian": [450, 500]}
    summary = summary_of({"by_group": groups, "n": 1500})
    assert summary["gender_gap_by_race"] == pytest.approx(0.06)
    interval, floor = gap_noise_cells(summary["gender_by_race"])
    low, high = (float(v) for v in interval.split("-"))
    assert low < 6.0 < high
    mean, p95 = (float(v) for v in floor.replace(" (95%:", "").rstrip(")").split())
    assert 0.5 < mean < p95 < 6.0  # three groups of 500 at 89.3%: about 2 and 4 points
    assert gap_noise_cells(None) == ["-", "-"]


def test_gender_gap_pools_both_genders_of_each_race():
    from faceattrs.evaluation.cross import gender_gap_by_race

    groups = {
        "white/male": {"n": 100, "gender_accuracy": 0.9},
        "white/female": {"n": 300, "gender_accuracy": 0.7},  # white: 0.75
        "black/male": {"n": 10, "gender_accuracy": 0.8},
        "black/female": {"n": 10, "gender_accuracy": 1.0},  # black: 0.9
        "other/male": {"n": 0, "gender_accuracy": None},
    }
    assert gender_gap_by_race(groups) == pytest.approx(0.15)


@pytest.mark.shared
def test_evaluate_cross_command(shared_dir, tmp_path):
    from faceattrs.cli import main

    data = shared_dir / "data"
    ff_splits, utk_splits = tmp_path / "ff", tmp_path / "utk"
    ff_splits.mkdir()
    utk_splits.mkdir()
    (ff_splits / "test.txt").write_text("train/4.jpg\ntrain/15.jpg\n")
    utk_names = Path(__file__).resolve().parents[2] / "splits" / "utkface" / "test.txt"
    (utk_splits / "test.txt").write_text("".join(utk_names.read_text().splitlines(True)[:2]))
    age = np.zeros(101)
    age[30] = 1.0
    models = [
        write_constant_model(
            tmp_path / f"{n}.onnx", age, [0.6, 0.4], np.full(5, 0.2) + np.eye(5)[i] * 0.1
        )
        for i, n in enumerate(("one", "two"))
    ]
    out = tmp_path / "cross"
    argv = ["evaluate-cross", "--model", f"one={models[0]}", "--model", f"two={models[1]}"]
    argv += ["--utkface-data", str(data / "utkface"), "--utkface-splits", str(utk_splits)]
    argv += ["--fairface-data", str(data / "fairface"), "--fairface-splits", str(ff_splits)]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "cross.json").read_text())
    assert list(result["models"]) == ["one", "two"]
    assert result["models"]["one"]["utkface_crops"]["n"] == 2
    assert result["models"]["two"]["fairface"]["faces"]["images"] == 2
    assert result["command"].startswith("faceattrs evaluate-cross --model one=")
    text = (out / "cross.md").read_text()
    assert result["command"] in text and "| two |" in text
    for sub in ("fairface_test_detected", "utkface_test_detected", "utkface_test_crops"):
        assert (out / "one" / sub / "report.md").is_file()
    # --split val reads the val lists (one face each here) and says so.
    (ff_splits / "val.txt").write_text("train/4.jpg\n")
    (utk_splits / "val.txt").write_text(utk_names.read_text().splitlines(True)[2])
    val_out = tmp_path / "cross_val"
    argv = [*argv[:3], "--split", "val", *argv[5:], "--no-crops", "--out", str(val_out)]
    assert main([*argv, "--quiet"]) == 0
    result = json.loads((val_out / "cross.json").read_text())
    assert result["split"] == "val" and "--split val" in result["command"]
    assert result["models"]["one"]["fairface"]["faces"]["images"] == 1
    assert f"`{ff_splits}/val.txt`" in (val_out / "cross.md").read_text()
    assert (val_out / "one" / "fairface_val_detected" / "report.md").is_file()
    assert main(["evaluate-cross", "--model", "bad", "--out", str(out)]) == 2
