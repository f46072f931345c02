"""What a new user hit first: one-line errors for a missing optional package."""

from __future__ import annotations

import sys

from faceattrs.cli import main


def test_evaluate_without_matplotlib_says_so_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on a plain install
    out = tmp_path / "report"
    model = str(tmp_path / "model.onnx")
    assert main(["evaluate", model, "--out", str(out), "--data", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs matplotlib" in err
    assert not out.exists()
