import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceattrs.cli import main
from faceattrs.spec import GENDERS, RACES
from model_helpers import random_model_path  # noqa: F401 (fixture)

FACE_KEYS = {
    "box", "score", "keypoints", "age", "age_interval", "gender", "gender_probs", "race",
    "race_probs", "expression", "expression_probs",
}  # fmt: skip


def _crop(path: Path, seed: int, size: int = 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture()
def crops_dir(tmp_path) -> Path:
    root = tmp_path / "crops"
    _crop(root / "a.jpg", 1)
    _crop(root / "b.png", 2)
    _crop(root / "sub" / "c.webp", 3)
    return root


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _check_face(face: dict) -> None:
    assert set(face) == FACE_KEYS
    assert len(face["box"]) == 4
    assert face["gender"] in GENDERS and face["race"] in RACES
    assert list(face["gender_probs"]) == list(GENDERS)
    assert list(face["race_probs"]) == list(RACES)
    assert sum(face["gender_probs"].values()) == pytest.approx(1, abs=1e-3)
    assert sum(face["race_probs"].values()) == pytest.approx(1, abs=1e-3)
    low, high = face["age_interval"]
    assert low <= face["age"] <= high


def test_aligned_jsonl_one_record_per_image(capsys, crops_dir, random_model_path):  # noqa: F811
    code, out, err = _run(capsys, "analyze", crops_dir, "--aligned", "--model", random_model_path)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["path"]).name for r in records] == ["a.jpg", "b.png", "c.webp"]
    for record in records:
        assert list(record) == ["path", "faces", "error"]
        assert record["error"] is None
        assert len(record["faces"]) == 1
        _check_face(record["faces"][0])
        assert record["faces"][0]["box"] == [0, 0, 200, 200]
        assert record["faces"][0]["keypoints"] == []
    assert "3 images, 3 faces, 0 failed" in err


def test_bad_inputs_become_error_records_and_exit_1(capsys, crops_dir, random_model_path):  # noqa: F811
    (crops_dir / "broken.jpg").write_bytes(b"not a jpeg at all")
    missing = crops_dir.parent / "missing.png"
    code, out, err = _run(
        capsys, "analyze", crops_dir, missing, "--aligned", "--model", random_model_path
    )
    assert code == 1
    records = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    assert len(records) == 5
    assert "not an image" in records["broken.jpg"]["error"]
    assert "broken.jpg" not in records["broken.jpg"]["error"], "the path is in the record already"
    assert f"{crops_dir / 'broken.jpg'}: not an image" in err
    assert "no such file" in records["missing.png"]["error"]
    assert records["broken.jpg"]["faces"] == [] and records["a.jpg"]["error"] is None
    assert "Traceback" not in err
    assert "2 failed" in err


def test_json_is_the_same_records_as_an_array(capsys, crops_dir, random_model_path):  # noqa: F811
    args = ("analyze", crops_dir, "--aligned", "--model", random_model_path, "-q")
    _, jsonl, _ = _run(capsys, *args)
    code, array, err = _run(capsys, *args, "--format", "json")
    assert code == 0 and err == ""
    assert json.loads(array) == [json.loads(line) for line in jsonl.splitlines()]


def test_csv_has_a_row_per_face_and_per_failed_image(capsys, crops_dir, random_model_path):  # noqa: F811
    (crops_dir / "zz_bad.png").write_text("nope")
    code, out, _ = _run(
        capsys, "analyze", crops_dir, "--aligned", "--model", random_model_path, "--format", "csv"
    )
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = ["path", "face", "x1", "y1", "x2", "y2", "score", "age", "age_low", "age_high",
                "gender", "p_male", "p_female", "race", "p_white", "p_black", "p_asian",
                "p_indian", "p_other", "expression", "p_angry", "p_disgust", "p_fear",
                "p_happy", "p_neutral", "p_sad", "p_surprise", "error"]  # fmt: skip
    assert list(rows[0]) == expected
    assert len(rows) == 4
    good = rows[0]
    (bad,) = [row for row in rows if row["path"].endswith("zz_bad.png")]
    assert good["face"] == "0" and good["error"] == "" and good["gender"] in GENDERS
    assert float(good["p_male"]) + float(good["p_female"]) == pytest.approx(1, abs=1e-3)
    assert bad["face"] == "" and bad["x1"] == "" and "not an image" in bad["error"]


def test_output_file_is_written_whole_and_format_follows_suffix(
    capsys,
    crops_dir,
    random_model_path,  # noqa: F811
    tmp_path,
):
    target = tmp_path / "out" / "faces.csv"
    code, out, _ = _run(
        capsys, "analyze", crops_dir, "--aligned", "--model", random_model_path, "-o", target
    )
    assert code == 0 and out == ""
    assert target.read_text().startswith("path,face,x1")
    assert os.listdir(target.parent) == ["faces.csv"], "no temporary files left behind"


def test_annotate_keeps_the_folder_structure(capsys, crops_dir, random_model_path, tmp_path):  # noqa: F811
    before = {p: p.read_bytes() for p in crops_dir.rglob("*") if p.is_file()}
    target = tmp_path / "annotated"
    code, _, err = _run(
        capsys, "analyze", crops_dir, "--aligned", "--model", random_model_path,
        "--annotate", target, "-q",
    )  # fmt: skip
    assert code == 0, err
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert written == ["a.jpg", "b.png", "sub/c.webp"]
    width, height = Image.open(target / "sub" / "c.webp").size
    assert width == 200 and height > 200  # the face fills the crop: its label below it
    assert {p: p.read_bytes() for p in crops_dir.rglob("*") if p.is_file()} == before


def test_annotate_one_image_into_a_file_name(capsys, crops_dir, random_model_path, tmp_path):  # noqa: F811
    """`--annotate out.jpg` with one input image writes that file (not a folder of that
    name); with several inputs, or onto the input itself, it is a one-line usage error."""
    target = tmp_path / "out" / "annotated.png"
    base = ["analyze", "--aligned", "--model", random_model_path, "--annotate"]
    code, out, err = _run(capsys, *base[:-1], crops_dir / "a.jpg", "--annotate", target, "-q")
    assert code == 0 and len(out.splitlines()) == 1, err
    assert target.is_file() and Image.open(target).format == "PNG"
    code, _, err = _run(capsys, *base, tmp_path / "many.jpg", crops_dir)
    assert code == 2 and "names one image file but there are 3 input images" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "many.jpg").exists()
    before = (crops_dir / "a.jpg").read_bytes()
    code, _, err = _run(capsys, *base, crops_dir / "a.jpg", crops_dir / "a.jpg")
    assert code == 2 and "is an input" in err and (crops_dir / "a.jpg").read_bytes() == before
    folder = tmp_path / "looks.png"  # an existing folder with an image-like name stays a folder
    folder.mkdir()
    code, _, err = _run(capsys, *base, folder, crops_dir / "b.png", "-q")
    assert code == 0 and (folder / "b.png").is_file(), err


def test_annotate_into_an_input_folder_is_refused_or_skipped(capsys, crops_dir, random_model_path):  # noqa: F811
    code, _, err = _run(
        capsys, "analyze", crops_dir / "a.jpg", "--aligned", "--model", random_model_path,
        "--annotate", crops_dir,
    )  # fmt: skip
    assert code == 2 and "overwrite" in err
    # An annotation folder inside the scanned folder is not analysed itself.
    inner = crops_dir / "annotated"
    for _ in range(2):
        code, out, _ = _run(
            capsys, "analyze", crops_dir, "--aligned", "--model", random_model_path,
            "--annotate", inner, "-q",
        )  # fmt: skip
        assert code == 0 and len(out.splitlines()) == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "{empty}", "--aligned", "--model", "{model}"], "no images found"),
        (["analyze", "{crops}", "--model", "{empty}/nope.onnx"], "not found"),
    ],
)
def test_usage_errors_exit_2(capsys, tmp_path, crops_dir, random_model_path, argv, message):  # noqa: F811
    empty = tmp_path / "empty"
    empty.mkdir()
    values = {"empty": empty, "model": random_model_path, "crops": crops_dir}
    code, out, err = _run(capsys, *(a.format(**values) for a in argv))
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", [["--min-face", "-1"], ["--format", "xml"], ["--batch-size", "0"]])
def test_bad_options_exit_2(capsys, crops_dir, flag):
    with pytest.raises(SystemExit) as info:
        main(["analyze", str(crops_dir), *flag])
    assert info.value.code == 2


def test_detection_on_a_photo_without_faces(capsys, tmp_path, random_model_path):  # noqa: F811
    path = tmp_path / "plain.png"
    Image.new("RGB", (320, 240), (90, 140, 200)).save(path)
    code, out, _ = _run(capsys, "analyze", path, "--model", random_model_path, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and rows[0]["face"] == "" and rows[0]["error"] == ""


@pytest.mark.shared
def test_detection_on_shared_photos(capsys, shared_dir, random_model_path, tmp_path):  # noqa: F811
    photos = [
        shared_dir / "media" / "face_recognition" / "obama_and_biden.jpg",
        shared_dir / "media" / "deepface" / "selfie-many-people.jpg",
    ]
    code, out, err = _run(
        capsys, "analyze", *photos, "--model", random_model_path, "--annotate", tmp_path, "-q"
    )
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records[0]["faces"]) >= 2
    assert len(records[1]["faces"]) >= 4
    for record in records:
        for face in record["faces"]:
            _check_face(face)
            assert len(face["keypoints"]) == 6
            x1, y1, x2, y2 = face["box"]
            assert x2 > x1 and y2 > y1
    assert (tmp_path / "obama_and_biden.jpg").is_file()


def test_entry_point_reports_one_line_and_no_traceback(tmp_path, random_model_path):  # noqa: F811
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = subprocess.run(
        [sys.executable, "-m", "faceattrs", "analyze", str(bad), "--aligned",
         "--model", str(random_model_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    record = json.loads(result.stdout)
    assert record["faces"] == [] and "not an image" in record["error"]
    assert "\n" not in record["error"]


def test_attributes_choose_the_heads_and_the_columns(capsys, crops_dir, random_model_path):  # noqa: F811
    code, out, err = _run(
        capsys, "analyze", crops_dir, "--aligned", "--model", random_model_path,
        "--attributes", "expression,age",
    )  # fmt: skip
    assert code == 0, err
    for record in map(json.loads, out.splitlines()):
        for face in record["faces"]:
            assert set(face) == {"box", "score", "keypoints", "age", "age_interval",
                                 "expression", "expression_probs"}  # fmt: skip
    code, out, err = _run(
        capsys, "analyze", crops_dir, "--aligned", "--model", random_model_path,
        "--attributes", "expression", "--format", "csv",
    )  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[7:9] == ["expression", "p_angry"] and "age" not in rows[0]
    assert all(row["expression"] for row in rows if row["face"] != "")


def test_unknown_attribute_is_a_usage_error(capsys, crops_dir, random_model_path):  # noqa: F811
    code, _, err = _run(capsys, "analyze", crops_dir, "--attributes", "age,mood")
    assert code == 2 and "unknown attributes" in err


@pytest.mark.shared
def test_accurate_tier_same_faces_other_estimates_no_embedding(capsys, shared_dir):
    photo = shared_dir / "media" / "face_recognition" / "obama_and_biden.jpg"
    records = {}
    for tier in ("fast", "accurate"):
        code, out, err = _run(capsys, "analyze", photo, "--model", tier, "-q", "--threads", "1")
        assert code == 0, err
        records[tier] = json.loads(out)["faces"]
    assert [f["box"] for f in records["fast"]] == [f["box"] for f in records["accurate"]]
    assert records["fast"] != records["accurate"]
    for face in records["accurate"]:
        _check_face(face)  # the same keys: no embedding unless asked for


def test_accurate_tier_on_aligned_crops(capsys, crops_dir):
    code, out, err = _run(capsys, "analyze", crops_dir, "--aligned", "--model", "accurate", "-q")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3
    for record in records:
        _check_face(record["faces"][0])
