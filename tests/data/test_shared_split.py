"""The committed split of ../shared/data/utkface is exactly what the code produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceattrs.data import utkface

SPLIT_DIR = Path(__file__).resolve().parents[2] / "splits" / "utkface"


@pytest.mark.shared
def test_shared_utkface_split_equals_committed(shared_dir: Path, tmp_path: Path) -> None:
    result = utkface.audit(shared_dir / "data" / "utkface")
    splits = utkface.split(result.records)
    out = tmp_path / "split"
    utkface.write_split(out, result, splits)
    for name in (*utkface.SPLIT_NAMES, "excluded"):
        committed = (SPLIT_DIR / f"{name}.txt").read_text()
        assert (out / f"{name}.txt").read_text() == committed, f"{name}.txt differs"
    assert len(result.records) == sum(
        len(utkface.read_names(SPLIT_DIR / f"{n}.txt")) for n in (*utkface.SPLIT_NAMES, "excluded")
    )
