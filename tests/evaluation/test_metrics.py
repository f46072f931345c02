import numpy as np
import pytest

from faceattrs.evaluation.metrics import (
    compute_metrics,
    expected_calibration_error,
    markdown_report,
)


def test_metrics_on_known_predictions():
    age_true = np.array([5, 15, 30, 50, 70])
    age_pred = np.array([7, 15, 40, 50, 64])
    gender_true = np.array([0, 1, 0, 1, 0])
    gender_probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])
    race_true = np.array([0, 1, 2, 3, 4])
    race_probs = np.eye(5)[[0, 1, 2, 0, 4]] * 0.9 + 0.02
    m = compute_metrics(
        age_true,
        gender_true,
        race_true,
        age_pred,
        gender_probs,
        race_probs,
        np.stack([age_true - 1, age_true + 1], 1) + np.array([[0, 0]] * 4 + [[9, 9]]),
    )
    assert m["age_mae"] == pytest.approx((2 + 0 + 10 + 0 + 6) / 5)
    assert m["age_cs5"] == pytest.approx(3 / 5)
    assert m["gender_accuracy"] == pytest.approx(4 / 5)
    assert m["race_accuracy"] == pytest.approx(4 / 5)
    assert m["age_interval_coverage"] == pytest.approx(4 / 5)
    assert m["age_mae_by_band"]["20-39"] == {"n": 1, "mae": 10.0}
    assert m["race_confusion"]["rows_true_cols_pred"][3][0] == 1
    assert m["by_group"]["indian/female"]["race_accuracy"] == 0.0
    assert m["by_group"]["other/female"]["n"] == 0
    assert "| gender accuracy | 80.0% |" in markdown_report(m)


def test_ece_is_zero_when_confidence_matches_accuracy():
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([1, 1, 1, 1])) == pytest.approx(0.75)


def test_evaluate_command_writes_the_report(tmp_path, capsys):
    pytest.importorskip("torch")
    import cv2

    from faceattrs.cli import main
    from faceattrs.training.export import export_random

    data, splits = tmp_path / "utk", tmp_path / "splits"
    data.mkdir()
    splits.mkdir()
    names = []
    for i, (age, gender, race) in enumerate([(5, 0, 0), (30, 1, 2), (70, 0, 3)]):
        name = f"{age}_{gender}_{race}_2017011{i:011d}.jpg.chip.jpg"
        cv2.imwrite(str(data / name), np.full((200, 200, 3), 60 * (i + 1), np.uint8))
        names.append(name)
    (splits / "test.txt").write_text("\n".join(names) + "\n")
    model = export_random(tmp_path / "m.onnx")
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            str(model),
            "--data",
            str(data),
            "--splits",
            str(splits),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    assert '"n": 3' in capsys.readouterr().out
    for name in ("metrics.json", "report.md", "race_confusion.png", "age_mae_by_band.png"):
        assert (out / name).is_file()
    assert main(["evaluate", str(model), "--data", str(tmp_path / "missing")]) == 2
