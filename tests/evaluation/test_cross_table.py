"""The cross-dataset report's Markdown: targets marked, every model's row, the intervals."""

from __future__ import annotations

from faceattrs.evaluation.cross_table import cross_markdown, meets


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
