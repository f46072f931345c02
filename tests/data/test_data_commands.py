"""``faceattrs data audit|split|balance|plot`` on a synthetic folder."""

from __future__ import annotations

import json
import os

import pytest
from utk_synth import SynthFolder, build_folder

from faceattrs.cli import main
from faceattrs.data import utkface


@pytest.fixture
def utk_folder(tmp_path) -> SynthFolder:
    """A fresh synthetic UTKFace-style folder (see utk_synth.py)."""
    return build_folder(tmp_path / "utk")


def test_audit_json_reports_every_problem(utk_folder: SynthFolder, tmp_path, capsys) -> None:
    md, js = tmp_path / "audit.md", tmp_path / "audit.json"
    code = main(
        [
            "data",
            "audit",
            str(utk_folder.path),
            "--json",
            "--report-md",
            str(md),
            "--report-json",
            str(js),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(js.read_text())
    assert report["files"] == len(os.listdir(utk_folder.path))
    assert report["status_counts"]["rejected"] == len(utk_folder.rejected)
    assert report["status_counts"]["duplicate"] == len(utk_folder.duplicates)
    assert report["status_counts"]["conflict"] == len(utk_folder.conflicts)
    assert sum(report["status_counts"].values()) == report["files"]
    assert {r["name"] for r in report["rejected"]} == set(utk_folder.rejected)
    assert {w["name"] for w in report["warnings"]} == set(utk_folder.warned)
    assert report["conflicting_group_count"] == 2
    assert report["counts_kept"]["total"] == report["status_counts"]["kept"]
    assert sum(report["counts_kept"]["race"].values()) == report["status_counts"]["kept"]
    text = md.read_text()
    for file_name in [*utk_folder.rejected, *utk_folder.conflicts, *utk_folder.duplicates]:
        assert file_name in text


def test_split_command_matches_library(utk_folder: SynthFolder, tmp_path, capsys) -> None:
    out = tmp_path / "splits"
    assert main(["data", "split", str(utk_folder.path), "--out", str(out)]) == 0
    assert "excluded" in capsys.readouterr().out
    expected = utkface.split(utkface.audit(utk_folder.path).records)
    for name in utkface.SPLIT_NAMES:
        assert utkface.read_names(out / f"{name}.txt") == expected[name]
    assert f"--out {out}" in (out / "README.md").read_text()


def test_balance_command_drop_and_weight(utk_folder: SynthFolder, tmp_path, capsys) -> None:
    split_dir = tmp_path / "splits"
    main(["data", "split", str(utk_folder.path), "--out", str(split_dir)])
    capsys.readouterr()
    kept = tmp_path / "kept.txt"
    args = ["data", "balance", str(utk_folder.path), "--split-dir", str(split_dir)]
    assert main([*args, "--cap", "age_band,race=5", "--json", "--out", str(kept)]) == 0
    report = json.loads(capsys.readouterr().out)
    train = utkface.read_names(split_dir / "train.txt")
    assert report["before"]["total"] == len(train)
    assert report["after"]["total"] == len(utkface.read_names(kept)) < len(train)
    assert max(report["after"]["race"].values()) <= 5 * 9
    weights = tmp_path / "weights.csv"
    assert main([*args, "--mode", "weight", "--out", str(weights)]) == 0
    assert "effective" in capsys.readouterr().out
    rows = [line.split(",") for line in weights.read_text().splitlines()]
    assert [r[0] for r in rows] == train
    assert all(float(r[1]) == 0 for r in rows if int(r[0].split("_")[0]) > 80)


def test_plot_command_writes_three_pngs(utk_folder: SynthFolder, tmp_path, capsys) -> None:
    out = tmp_path / "figs"
    assert main(["data", "plot", str(utk_folder.path), "--out", str(out), "--cap", "race=10"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["age_distribution.png", "race_distribution.png", "gender_distribution.png", "balance.md"]
    )


def test_bad_input_is_one_line_error(tmp_path, capsys) -> None:
    assert main(["data", "audit", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("faceattrs: error: not a directory") and "\n" not in err
    assert main(["data", "balance", str(tmp_path), "--split-dir", str(tmp_path)]) == 2
    assert "split list not found" in capsys.readouterr().err
    assert main(["data", "balance", str(tmp_path), "--mode", "weight", "--by", "x"]) == 2
    assert "cell keys" in capsys.readouterr().err
