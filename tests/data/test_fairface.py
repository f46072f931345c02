"""FairFace audit, split, label mapping and loading, on a synthetic FairFace-style folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from utk_synth import jpeg_bytes

from faceattrs.cli import main
from faceattrs.data import fairface, fairface_report
from faceattrs.data.fairface_report import audit_markdown, audit_summary
from faceattrs.spec import RACES

SPLIT_DIR = Path(__file__).resolve().parents[2] / "splits" / "fairface"
HEADER = "file,age,gender,race,service_test\n"


@dataclass
class FairSynth:
    path: Path
    valid: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # name -> reason fragment
    duplicates: dict[str, str] = field(default_factory=dict)  # extra image -> kept image
    repeated: list[str] = field(default_factory=list)  # rows repeated with the same labels
    conflicts: set[str] = field(default_factory=set)
    identical: dict[tuple[str, ...], bool] = field(default_factory=dict)  # names -> conflicting


def build_fairface(root: Path) -> FairSynth:
    """A FairFace-style folder with every defect the audit must find."""
    (root / "train").mkdir(parents=True)
    synth = FairSynth(root)
    rows: list[str] = []
    counter = iter(range(1, 10_000))

    def image(data: bytes | None = None) -> str:
        i = next(counter)
        name = f"train/{i}.jpg"
        (root / name).write_bytes(data if data is not None else jpeg_bytes(i, (160, 160)))
        return name

    def row(name: str, age: str, gender: str, race: str, service: str = "TRUE") -> None:
        rows.append(f"{name},{age},{gender},{race},{service}\n")

    # Big cells (stratification visible), including the mangled age texts.
    for (age, gender, race), n in {
        ("20-29", "Male", "White"): 30,
        ("03-Sep", "Female", "Black"): 20,
        ("Oct-19", "Male", "East Asian"): 10,
    }.items():
        for _ in range(n):
            name = image()
            row(name, age, gender, race)
            synth.valid.append(name)
    for age, gender, race in [
        ("0-2", "Female", "Southeast Asian"),
        ("more than 70", "Male", "Indian"),
        ("60-69", "Female", "Latino_Hispanic"),
        ("50-59", "Male", "Middle Eastern"),
    ]:
        name = image()
        row(name, age, gender, race, "FALSE")
        synth.valid.append(name)

    for age, gender, race, why in [
        ("25-29", "Male", "White", "unknown label: age"),
        ("20-29", "male", "White", "unknown label: gender"),
        ("20-29", "Male", "Asian", "unknown label: race"),
    ]:
        name = image()
        row(name, age, gender, race)
        synth.rejected[name] = why
    row("train/9999.jpg", "20-29", "Male", "White")
    synth.rejected["train/9999.jpg"] = "missing file"
    broken = image(jpeg_bytes(500, (160, 160))[:500])
    row(broken, "20-29", "Male", "White")
    synth.rejected[broken] = "unreadable image"
    text = image(b"not an image\n" * 10)
    row(text, "20-29", "Male", "White")
    synth.rejected[text] = "not an image"
    small = image(jpeg_bytes(501, (100, 100)))
    row(small, "20-29", "Male", "White")
    synth.rejected[small] = "unexpected size"
    row("../outside.jpg", "20-29", "Male", "White")
    synth.rejected["../outside.jpg"] = "bad file path"
    unlisted = image()
    synth.rejected[unlisted] = "not named by any CSV row"

    # The same row twice (agreeing), a file named twice with different labels.
    twice = image()
    row(twice, "30-39", "Female", "Indian")
    row(twice, "30-39", "Female", "Indian")
    synth.valid.append(twice)
    synth.repeated.append(twice)
    clash_row = image()
    row(clash_row, "30-39", "Female", "Indian")
    row(clash_row, "40-49", "Female", "Indian")
    synth.conflicts.add(clash_row)

    # Byte-identical images: agreeing pair, conflicting pair.
    same = jpeg_bytes(700, (160, 160))
    first, second = image(same), image(same)
    row(first, "40-49", "Male", "Black")
    row(second, "40-49", "Male", "Black")
    synth.valid.append(first)
    synth.duplicates[second] = first
    clash = jpeg_bytes(701, (160, 160))
    a, b = image(clash), image(clash)
    row(a, "40-49", "Male", "Black")
    row(b, "40-49", "Female", "Black")
    synth.conflicts |= {a, b}
    synth.identical = {(first, second): False, (a, b): True}

    (root / "fairface_label_train.csv").write_text(HEADER + "".join(rows) + "a,b\n")
    return synth


@pytest.fixture
def synth(tmp_path: Path) -> FairSynth:
    return build_fairface(tmp_path / "fairface")


def test_parse_labels_maps_mangled_bins() -> None:
    assert fairface.parse_labels("03-Sep", "Male", "White")[0][0] == 1
    assert fairface.AGE_BINS[fairface.parse_labels("Oct-19", "Male", "White")[0][0]][1:] == (10, 19)
    (age_bin, gender, race7), _ = fairface.parse_labels("more than 70", "Female", "Black")
    assert fairface.AGE_BINS[age_bin][1:] == (70, 100) and (gender, race7) == (1, 1)
    with pytest.raises(ValueError, match="unknown label: gender"):
        fairface.parse_labels("20-29", "M", "White")


def test_race_mapping_to_product_classes() -> None:
    expected = {
        "White": "white",
        "Black": "black",
        "East Asian": "asian",
        "Southeast Asian": "asian",
        "Indian": "indian",
        "Latino_Hispanic": "other",
        "Middle Eastern": "other",
    }
    got = {r: RACES[fairface.RACE5_OF_RACE7[i]] for i, r in enumerate(fairface.RACE7)}
    assert got == expected


def test_audit_finds_every_defect(synth: FairSynth) -> None:
    result = fairface.audit(synth.path)
    by_status: dict[str, set[str]] = {}
    for r in result.records:
        by_status.setdefault(r.status, set()).add(r.name)
    assert by_status["kept"] == set(synth.valid)
    for name, why in synth.rejected.items():
        reasons = [r.reason for r in result.records if r.name == name]
        assert reasons and why in reasons[0], (name, reasons)
    malformed = [r for r in result.records if r.reason.startswith("malformed row")]
    assert len(malformed) == 1
    dup = {r.name: r.reason for r in result.with_status("duplicate")}
    for extra, kept in synth.duplicates.items():
        assert dup[extra] == f"duplicate of {kept}"
    assert all(dup[n].startswith("repeated row") for n in synth.repeated)
    assert by_status["conflict"] == synth.conflicts
    # every row and every image file is accounted for exactly once
    n_rows = (synth.path / "fairface_label_train.csv").read_text().count("\n") - 1
    assert len([r for r in result.records if r.source != "unlisted"]) == n_rows
    assert {g.names: g.conflicting for g in result.duplicate_groups} == synth.identical


def test_audit_summary_counts(synth: FairSynth) -> None:
    summary = audit_summary(fairface.audit(synth.path))
    kept = summary["counts_kept"]
    assert kept["total"] == len(synth.valid)
    assert kept["age_bin"]["3-9"] == 20 and kept["age_bin"]["10-19"] == 10
    assert kept["race5"]["asian"] == 11  # 10 East Asian + 1 Southeast Asian
    assert summary["age_text_counts"]["03-Sep"] == 20
    text = audit_markdown(summary)
    assert "race (product classes)" in text and "missing file" in text


def test_split_is_deterministic_stratified_and_disjoint(synth: FairSynth) -> None:
    result = fairface.audit(synth.path)
    splits = fairface.split(result.records)
    assert splits == fairface.split(fairface.audit(synth.path).records)
    names = [n for s in splits.values() for n in s]
    assert sorted(names) == sorted(synth.valid) and len(set(names)) == len(names)
    white_men = set(synth.valid[:30])
    assert [len(white_men & set(splits[s])) for s in ("train", "val", "test")] == [24, 3, 3]
    assert splits != fairface.split(result.records, seed=1)
    assert splits["train"] == sorted(splits["train"], key=fairface.natural_key)


def test_write_and_load_split(synth: FairSynth, tmp_path: Path) -> None:
    result = fairface.audit(synth.path)
    splits = fairface.split(result.records)
    out = tmp_path / "split"
    fairface_report.write_split(out, result, splits, "faceattrs data split-fairface X --out Y")
    excluded = (out / "excluded.txt").read_text().splitlines()
    assert len(excluded) == len(result.records) - len(synth.valid)
    assert any(line.startswith(f"{synth.repeated[0]}\t") and "(in " in line for line in excluded)
    samples = fairface.load_fairface_split(out, "train", synth.path)
    assert [s.path.relative_to(synth.path).as_posix() for s in samples] == splits["train"]
    by_name = {s.path.relative_to(synth.path).as_posix(): s for s in samples}
    young = next(s for n, s in by_name.items() if n in synth.valid[30:50])
    assert (young.age_low, young.age_high, young.gender, RACES[young.race5]) == (
        3,
        9,
        1,
        "black",
    )
    assert fairface.RACE7[young.race7] == "Black"
    with pytest.raises(ValueError, match="unknown split"):
        fairface.load_fairface_split(out, "dev", synth.path)
    (out / "val.txt").write_text("train/12345.jpg\n")
    with pytest.raises(ValueError, match="no valid CSV row"):
        fairface.load_fairface_split(out, "val", synth.path)


def test_cli_audit_and_split(synth: FairSynth, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli_split"
    assert main(["data", "split-fairface", str(synth.path), "--out", str(out)]) == 0
    assert "split-fairface" in (out / "README.md").read_text()
    assert main(["data", "audit-fairface", str(synth.path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert summary["status_counts"]["kept"] == len(synth.valid)
    assert main(["data", "audit-fairface", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fairface_label_train.csv").write_text("file,age\n")
    assert main(["data", "audit-fairface", str(tmp_path / "bad")]) == 2
    assert "missing column" in capsys.readouterr().err


@pytest.mark.shared
def test_shared_fairface_split_equals_committed(shared_dir: Path, tmp_path: Path) -> None:
    data = shared_dir / "data" / "fairface"
    if not data.is_dir():
        pytest.skip(f"FairFace not found: {data}")
    result = fairface.audit(data)
    splits = fairface.split(result.records)
    out = tmp_path / "split"
    fairface_report.write_split(out, result, splits)
    for name in (*fairface.SPLIT_NAMES, "excluded"):
        committed = (SPLIT_DIR / f"{name}.txt").read_text()
        assert (out / f"{name}.txt").read_text() == committed, f"{name}.txt differs"
    samples = fairface.load_fairface_split(SPLIT_DIR, "val", data)
    assert len(samples) == len(splits["val"])
