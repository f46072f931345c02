"""The cross-dataset table: model arguments, targets, the command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceattrs.evaluation.cross import parse_models
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


def test_the_gap_is_shown_against_what_sampling_noise_alone_gives():
    from faceattrs.evaluation.cross import gender_by_race, summary_of
    from faceattrs.evaluation.cross_table import gap_noise_cells

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
