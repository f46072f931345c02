"""The CLI basics: --version, python -m faceattrs, licences, providers, shared options."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from faceattrs.cli import build_parser, main
from faceattrs.resources import LICENSE_FILES, MODELS_DIR


def test_version_names_the_package_folder(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("faceattrs ") and str(MODELS_DIR.parent) in out


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "faceattrs", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("faceattrs ")


def test_licenses_lists_files_that_ship_with_the_models(capsys):
    assert main(["licenses"]) == 0
    out = capsys.readouterr().out
    for name in LICENSE_FILES:
        assert (MODELS_DIR / name).is_file(), name
        assert str(MODELS_DIR / name) in out
    assert "missing" not in out and "non-commercial" in out


def test_a_provider_that_is_not_installed_is_one_line_and_exit_2(tmp_path, capsys):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is installed here")
    photo = tmp_path / "x.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(photo), np.zeros((64, 64, 3), np.uint8))
    assert main(["analyze", str(photo), "--provider", "cuda", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "onnxruntime-gpu" in err[0]


@pytest.mark.parametrize("command", ["analyze", "video"])
def test_model_options_are_the_same_in_every_command(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    flags = {flag for action in sub._actions for flag in action.option_strings}
    assert {"--model", "--detector", "--score-threshold", "--min-face", "--provider"} <= flags
    assert sub.parse_args(["x", "--min-face", "0"]).min_face == 0  # 0 accepted in both
    with pytest.raises(SystemExit):
        sub.parse_args(["x", "--score-threshold", "1.5"])


def test_every_subcommand_has_a_description_and_shows_its_defaults():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in choices.items():
        assert sub.description, f"{name} has no description"
        if sub.formatter_class is argparse.ArgumentDefaultsHelpFormatter:
            continue  # argparse adds "(default: ...)" to every option
        for action in sub._actions:
            if action.default not in (None, False, "==SUPPRESS==") and action.help:
                assert "default" in action.help, f"{name} {action.option_strings}: no default"
