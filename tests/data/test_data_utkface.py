"""Audit, split and load of a UTKFace-style folder (synthetic, in tmp_path)."""

from __future__ import annotations

import os

import pytest
from utk_synth import SynthFolder, build_folder

from faceattrs.data import utkface
from faceattrs.data.utkface import CONFLICT, DUPLICATE, KEPT, REJECTED


@pytest.fixture
def utk_folder(tmp_path) -> SynthFolder:
    """A fresh synthetic UTKFace-style folder (see utk_synth.py)."""
    return build_folder(tmp_path / "utk")


def kept_names(synth: SynthFolder) -> set[str]:
    return set(synth.valid) | set(synth.warned) | set(synth.duplicates.values())


@pytest.mark.parametrize(
    ("file_name", "labels"),
    [
        ("25_0_0_20170116220224657.jpg.chip.jpg", (25, 0, 0)),
        ("1_1_4_20161219190025955.jpg.chip.jpg", (1, 1, 4)),
        ("116_1_3_20170116220224657.jpg", (116, 1, 3)),
    ],
)
def test_parse_name_reads_labels(file_name: str, labels: tuple[int, int, int]) -> None:
    assert utkface.parse_name(file_name) == (labels, "")


@pytest.mark.parametrize(
    ("file_name", "reason"),
    [
        ("25_1_20170116.jpg.chip.jpg", "got 3 fields"),
        ("25_1_0_2_20170116.jpg.chip.jpg", "got 5 fields"),
        ("25_1_0_20170116000000000.png", "does not end with .jpg"),
        ("-1_1_0_20170116000000000.jpg.chip.jpg", "age field"),
        ("٣_1_0_20170116000000000.jpg.chip.jpg", "age field"),
        ("121_1_0_20170116000000000.jpg.chip.jpg", "age=121"),
        ("25_2_0_20170116000000000.jpg.chip.jpg", "gender=2"),
        ("25_0_5_20170116000000000.jpg.chip.jpg", "race=5"),
    ],
)
def test_parse_name_rejects(file_name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        utkface.parse_name(file_name)


@pytest.mark.parametrize(
    ("file_name", "warning"),
    [
        ("26_0_1_2017011622022465 .jpg.chip.jpg", "odd date part '2017011622022465 '"),
        ("27_1_2_20170116232725357jpg.chip.jpg", "odd ending 'jpg.chip.jpg'"),
        ("28_1_2_201701161846515488.jpg.chip.jpg", "odd date part '201701161846515488'"),
        ("14_0_0_2017011022340900.jpg.chip.jpg", "odd date part '2017011022340900'"),
    ],
)
def test_parse_name_odd_date_keeps_labels_with_warning(file_name: str, warning: str) -> None:
    labels, got = utkface.parse_name(file_name)
    assert labels == tuple(int(v) for v in file_name.split("_")[:3])
    assert got == f"{warning} (labels kept)"


def test_audit_accounts_for_every_entry(utk_folder: SynthFolder) -> None:
    result = utkface.audit(utk_folder.path)
    by_name = {r.name: r for r in result.records}
    assert set(by_name) == set(os.listdir(utk_folder.path))
    for file_name, reason in utk_folder.rejected.items():
        assert by_name[file_name].status == REJECTED, file_name
        assert by_name[file_name].reason.startswith(reason), by_name[file_name].reason
    for file_name, original in utk_folder.duplicates.items():
        assert by_name[file_name].status == DUPLICATE
        assert by_name[file_name].reason == f"duplicate of {original}"
    for file_name in utk_folder.conflicts:
        assert by_name[file_name].status == CONFLICT
        assert "disagree" in by_name[file_name].reason
    assert {r.name for r in result.kept} == kept_names(utk_folder)
    assert {r.name for r in result.records if r.warning} == set(utk_folder.warned)


def test_audit_duplicate_groups(utk_folder: SynthFolder) -> None:
    groups = utkface.audit(utk_folder.path).duplicate_groups
    # agreeing pair, agreeing triple, conflicting pair, conflicting triple, malformed+valid pair
    assert sorted((len(g.names), g.conflicting) for g in groups) == [
        (2, False),
        (2, False),
        (2, True),
        (3, False),
        (3, True),
    ]
    for g in groups:
        assert (g.kept is None) == g.conflicting
        assert not g.conflicting or set(g.names) <= utk_folder.conflicts
    malformed_pair = next(g for g in groups if "25_1_20170116.jpg.chip.jpg" in g.names)
    assert malformed_pair.kept == "25_1_3_20170101000009240.jpg.chip.jpg"


def test_audit_size_any_accepts_other_sizes(utk_folder: SynthFolder) -> None:
    result = utkface.audit(utk_folder.path, size=None)
    odd = "32_0_0_20170116000000008.jpg.chip.jpg"
    assert next(r for r in result.records if r.name == odd).status == KEPT


def test_audit_missing_dir_is_clear(tmp_path) -> None:
    with pytest.raises(NotADirectoryError, match="not a directory"):
        utkface.audit(tmp_path / "nope")


def test_split_covers_kept_files_once_and_is_deterministic(utk_folder: SynthFolder) -> None:
    result = utkface.audit(utk_folder.path)
    splits = utkface.split(result.records, seed=0)
    all_names = [n for names in splits.values() for n in names]
    assert len(all_names) == len(set(all_names))
    assert set(all_names) == kept_names(utk_folder)
    assert not set(all_names) & (set(utk_folder.duplicates) | utk_folder.conflicts)
    assert utkface.split(utkface.audit(utk_folder.path).records, seed=0) == splits
    assert all(names == sorted(names) for names in splits.values())


def test_split_is_stratified_per_cell(utk_folder: SynthFolder) -> None:
    splits = utkface.split(utkface.audit(utk_folder.path).records, seed=0)
    where = {n: s for s, names in splits.items() for n in names}
    for cell_names in utk_folder.cells.values():
        n = len(cell_names)
        got = {s: sum(where[c] == s for c in cell_names) for s in utkface.SPLIT_NAMES}
        expected_small = int(n * 0.1 + 0.5)
        assert got == {
            "train": n - 2 * expected_small,
            "val": expected_small,
            "test": expected_small,
        }
    # cells with fewer than 5 files (1..4 files each) all go to train
    small = [n for n in utk_folder.valid if n.split("_")[0] in ("45", "65", "85", "15")]
    assert {where[n] for n in small} == {"train"}


def test_split_seed_changes_assignment_not_sizes(utk_folder: SynthFolder) -> None:
    records = utkface.audit(utk_folder.path).records
    a, b = utkface.split(records, seed=0), utkface.split(records, seed=1)
    assert a != b
    assert {k: len(v) for k, v in a.items()} == {k: len(v) for k, v in b.items()}


def test_split_rejects_bad_fractions(utk_folder: SynthFolder) -> None:
    records = utkface.audit(utk_folder.path).records
    with pytest.raises(ValueError, match="fractions"):
        utkface.split(records, fractions=(0.8, 0.3, 0.1))


def test_write_split_and_load_split(utk_folder: SynthFolder, tmp_path) -> None:
    result = utkface.audit(utk_folder.path)
    splits = utkface.split(result.records)
    out = tmp_path / "splits"
    utkface.write_split(out, result, splits, "cmd")
    listed = {
        line.split("\t")[0]: line.split("\t", 1)[1]
        for line in (out / "excluded.txt").read_text().splitlines()
    }
    in_split = {n: s for s in utkface.SPLIT_NAMES for n in utkface.read_names(out / f"{s}.txt")}
    assert set(listed) | set(in_split) == set(os.listdir(utk_folder.path))
    assert not set(listed) & set(in_split)
    # every extra copy names its kept copy and lands in the kept copy's split
    for extra, original in utk_folder.duplicates.items():
        assert listed[extra] == f"duplicate of {original} (in {in_split[original]})"
    for clash in utk_folder.conflicts:
        assert listed[clash].startswith("conflict: ")
    for bad, reason in utk_folder.rejected.items():
        assert listed[bad].startswith(f"rejected: {reason}")
    assert "cmd" in (out / "README.md").read_text()

    samples = utkface.load_split(out, "train", utk_folder.path)
    assert [s.path.name for s in samples] == splits["train"]
    for s in samples:
        assert s.path.is_file()
        assert (s.age, s.gender, s.race) == utkface.parse_name(s.path.name)[0]


def test_load_split_errors(utk_folder: SynthFolder, tmp_path) -> None:
    result = utkface.audit(utk_folder.path)
    out = tmp_path / "splits"
    utkface.write_split(out, result, utkface.split(result.records))
    with pytest.raises(ValueError, match="unknown split"):
        utkface.load_split(out, "dev", utk_folder.path)
    with pytest.raises(FileNotFoundError, match="split list not found"):
        utkface.load_split(tmp_path / "none", "train", utk_folder.path)
    with pytest.raises(FileNotFoundError, match="missing in"):
        utkface.load_split(out, "train", tmp_path)
    assert utkface.load_split(out, "train", tmp_path, check_exists=False)


def test_build_folder_is_reproducible(tmp_path) -> None:
    a, b = build_folder(tmp_path / "a"), build_folder(tmp_path / "b")
    for file_name in os.listdir(a.path):
        if (a.path / file_name).is_file():
            assert (a.path / file_name).read_bytes() == (b.path / file_name).read_bytes()
