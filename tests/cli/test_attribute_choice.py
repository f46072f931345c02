"""``--attributes`` in the CLI: only the heads asked for run (and load); ``faceattrs video``'s
timeline and summary leave out the rest, as ``analyze``'s records do."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceattrs.cli.video as video_command
from faceattrs import FaceAnalyzer
from faceattrs.cli import build_parser, main
from fakes import AttributeHead, CentreDetector, ExpressionHead


@pytest.fixture()
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for _ in range(6):
        writer.write(np.full((120, 160, 3), 120, np.uint8))
    writer.release()
    return path


@pytest.fixture()
def heads(monkeypatch):
    """The command's analyzer, with stand-in detector and heads that count their runs."""
    made = {"attributes": AttributeHead(), "expression": ExpressionHead()}

    def analyzer(width, height, **options):
        made["options"] = options
        return FaceAnalyzer(
            detector=CentreDetector(), model=made["attributes"],
            expression_model=made["expression"], attributes=options["attributes"],
        )  # fmt: skip

    monkeypatch.setattr(video_command, "default_analyzer", analyzer)
    return made


def test_video_runs_only_the_heads_asked_for(clip, heads, tmp_path):
    timeline, summary = tmp_path / "t.jsonl", tmp_path / "s.json"
    argv = ["video", str(clip), "--jsonl", str(timeline), "--summary", str(summary), "-q"]
    assert main([*argv, "--attributes", "age,expression"]) == 0
    assert heads["options"]["attributes"] == "age,expression"
    faces = [f for line in timeline.read_text().splitlines() for f in json.loads(line)["faces"]]
    assert faces
    for face in faces:
        assert {"age", "expression"} <= set(face) and not {"gender", "race"} & set(face)
    (track,) = json.loads(summary.read_text())["tracks"]
    assert "age" in track and "expression_shares" in track
    assert not {"gender", "gender_probs", "race", "race_probs"} & set(track)


def test_video_without_expression_never_runs_it(clip, heads, tmp_path):
    heads["expression"].refuse = True
    summary = tmp_path / "s.json"
    assert main(["video", str(clip), "--summary", str(summary), "-q", "--attributes", "race"]) == 0
    (track,) = json.loads(summary.read_text())["tracks"]
    assert track["race"] == "white" and not {"age", "gender", "expression_shares"} & set(track)
    assert heads["attributes"].calls > 0


def test_video_attributes_default_to_every_head():
    args = build_parser().parse_args(["video", "clip.mp4"])
    assert args.attributes == "age,gender,race,expression"


def test_unknown_attributes_are_a_one_line_usage_error(clip, capsys):
    assert main(["video", str(clip), "--attributes", "age,mood", "-q"]) == 2
    assert "mood" in capsys.readouterr().err


def test_analyze_with_expression_alone_never_loads_the_attribute_model(
    monkeypatch, tmp_path, capsys
):
    from faceattrs.pipeline.attributes import AttributeModel

    def refuse(self):
        raise AssertionError("the attribute model was loaded although not asked for")

    monkeypatch.setattr(AttributeModel, "_load_spec", refuse)
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((64, 64, 3), 128, np.uint8))
    argv = ["analyze", str(image), "--attributes", "expression", "--format", "csv", "-q"]
    assert main(argv) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert "expression" in header and not {"age", "gender", "race"} & set(header)
