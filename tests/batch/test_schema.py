"""Face rows: the explicit schema, one row per face, one null-face row per image without."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

NO_PYARROW = "pyarrow not installed: pip install 'faceattrs[parquet]'"
pa = pytest.importorskip("pyarrow", reason=NO_PYARROW)
pq = pytest.importorskip("pyarrow.parquet")

from faceattrs.batch.schema import (  # noqa: E402
    AnalysedImage,
    face_rows,
    face_schema,
    label_probs_group,
    vector_group,
)
from faceattrs.cli import main  # noqa: E402
from faceattrs.results import Face  # noqa: E402
from faceattrs.spec import GENDERS, RACES  # noqa: E402
from model_helpers import random_model_path  # noqa: E402,F401 (fixture)


def _face(x: float, gender_female: float = 0.7, keypoints: int = 6) -> Face:
    return Face(
        xyxy=(x, 2.0, x + 30.0, 40.0), score=0.9,
        keypoints=tuple((x + i, 5.0 + i) for i in range(keypoints)),
        age=31.25, age_interval=(25.0, 38.0),
        gender_probs={"male": 1 - gender_female, "female": gender_female},
        race_probs={"white": 0.1, "black": 0.1, "asian": 0.6, "indian": 0.1, "other": 0.1},
    )  # fmt: skip


def test_rows_one_per_face_and_one_per_faceless_image():
    images = [
        AnalysedImage("two.jpg", [_face(1), _face(50, 0.2)], None, 640, 480, 1234, 10**18),
        AnalysedImage("none.jpg", [], None, 100, 80, 99, 5),
        AnalysedImage("bad.jpg", [], "corrupt or truncated image", None, None, 7, 6),
    ]
    schema = face_schema(GENDERS, RACES)
    table = face_rows(images, schema, "ab" * 32)
    assert table.schema.equals(schema)
    rows = table.to_pylist()
    assert [r["path"] for r in rows] == ["two.jpg", "two.jpg", "none.jpg", "bad.jpg"]
    assert [r["face_index"] for r in rows] == [0, 1, None, None]
    assert [r["gender"] for r in rows] == ["female", "male", None, None]
    assert rows[0]["race"] == "asian" and rows[0]["race_probs"]["asian"] == pytest.approx(0.6)
    assert rows[0]["keypoints"][:2] == [1.0, 5.0] and len(rows[0]["keypoints"]) == 12
    assert rows[1]["x1"] == 50.0 and rows[1]["age_high"] == 38.0
    assert rows[2]["width"] == 100 and rows[2]["error"] is None and rows[2]["age"] is None
    assert rows[3]["error"] == "corrupt or truncated image" and rows[3]["width"] is None
    assert {r["model_sha256"] for r in rows} == {"ab" * 32}
    assert rows[0]["file_size"] == 1234
    assert table.column("file_mtime").cast(pa.int64()).to_pylist()[0] == 10**18


def test_types_float32_and_fixed_label_dictionaries():
    schema = face_schema(GENDERS, RACES)
    for name in ("x1", "score", "age", "age_low"):
        assert schema.field(name).type == pa.float32()
    assert schema.field("keypoints").type == pa.list_(pa.float32(), 12)
    assert schema.field("gender_probs").type == pa.struct([(g, pa.float32()) for g in GENDERS])
    table = face_rows([AnalysedImage("a.jpg", [_face(1, 0.1)])], schema, None)
    gender = table.column("gender").chunk(0)
    assert pa.types.is_dictionary(gender.type)
    assert gender.dictionary.to_pylist() == list(GENDERS)  # the model's label order, always
    assert table.column("race").chunk(0).dictionary.to_pylist() == list(RACES)


def test_aligned_faces_have_null_keypoints():
    image = AnalysedImage("c.jpg", [_face(0, keypoints=0)])
    table = face_rows([image], face_schema(GENDERS, RACES), None)
    assert table.column("keypoints").to_pylist() == [None]


def test_optional_column_groups_extend_the_schema_only_when_asked():
    labels = ["neutral", "happy"]
    expression = label_probs_group("expression", labels, lambda f: {"neutral": 0.25, "happy": 0.75})
    embedding = vector_group("embedding", 4, lambda f: [1.0, 0.0, 0.0, 0.0])
    base = face_schema(GENDERS, RACES)
    extended = face_schema(GENDERS, RACES, [expression, embedding])
    assert "expression" not in base.names
    assert extended.names[: base.names.index("error")] == base.names[: base.names.index("error")]
    images = [AnalysedImage("a.jpg", [_face(1)]), AnalysedImage("b.jpg", [])]
    rows = face_rows(images, extended, None, [expression, embedding]).to_pylist()
    assert rows[0]["expression"] == "happy" and rows[0]["expression_probs"]["happy"] == 0.75
    assert rows[0]["embedding"] == [1.0, 0.0, 0.0, 0.0]
    assert rows[1]["expression"] is None and rows[1]["embedding"] is None


def _images(root: Path, n: int, size: int = 120) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            root / f"{i:03d}.png"
        )
    return root


def test_cli_parquet_holds_the_jsonl_records(tmp_path, capsys, random_model_path):  # noqa: F811
    crops = _images(tmp_path / "crops", 4)
    (crops / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    args = ["analyze", str(crops), "--aligned", "--model", str(random_model_path), "-q"]
    assert main([*args, "--format", "parquet", "-o", str(tmp_path / "faces.parquet")]) == 1
    assert main([*args, "-o", str(tmp_path / "faces.jsonl")]) == 1
    records = [json.loads(line) for line in (tmp_path / "faces.jsonl").read_text().splitlines()]
    table = pq.read_table(tmp_path / "faces.parquet")
    assert b"not facts" in table.schema.metadata[b"faceattrs_notice"]  # said in the file itself
    rows = table.to_pylist()
    assert [r["path"] for r in rows] == [r["path"] for r in records]
    for row, record in zip(rows, records, strict=True):
        assert row["error"] == record["error"]
        if record["faces"]:
            face = record["faces"][0]
            assert row["age"] == pytest.approx(face["age"], abs=0.05)
            assert row["gender"] == face["gender"] and row["race"] == face["race"]
            assert [row[k] for k in ("x1", "y1", "x2", "y2")] == face["box"]
            assert row["width"] == row["height"] == 120
        else:
            assert row["face_index"] is None and row["width"] is None


def test_cli_parquet_without_pyarrow_exits_2_naming_the_extra(tmp_path, capsys, monkeypatch):
    crops = _images(tmp_path / "crops", 1)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    code = main(["analyze", str(crops), "--format", "parquet", "-o", str(tmp_path / "x.parquet")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "pip install 'faceattrs[parquet]'" in err
    assert not (tmp_path / "x.parquet").exists()


def test_cli_engine_ray_without_ray_exits_2_naming_the_extra(tmp_path, capsys, monkeypatch):
    crops = _images(tmp_path / "crops", 1)
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    code = main(["analyze", str(crops), "--engine", "ray", "--format", "parquet",
                 "-o", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "pip install 'faceattrs[ray]'" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resume"], "--resume needs --format parquet"),
        (["--format", "parquet"], "needs -o"),
        (["--format", "parquet", "-o", "x.parquet", "--address", "auto"], "--address needs"),
    ],
)
def test_cli_batch_usage_errors(tmp_path, capsys, extra, message):
    crops = _images(tmp_path / "crops", 1)
    assert main(["analyze", str(crops), *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.shared
def test_parquet_has_the_expression_columns_of_the_heads_asked_for(tmp_path, shared_dir):
    from faceattrs.cli import main

    photo = shared_dir / "media" / "face_recognition" / "two_people.jpg"
    both, only = tmp_path / "both.parquet", tmp_path / "only.parquet"
    assert main(["analyze", str(photo), "-q", "--format", "parquet", "-o", str(both)]) == 0
    assert main(["analyze", str(photo), "-q", "--format", "parquet", "-o", str(only),
                 "--attributes", "expression"]) == 0  # fmt: skip
    import pyarrow.parquet as pq

    rows = pq.read_table(both).to_pylist()
    assert len(rows) == 2 and all(r["expression"] and r["gender"] for r in rows)
    assert all(abs(sum(r["expression_probs"].values()) - 1) < 1e-3 for r in rows)
    rows = pq.read_table(only).to_pylist()
    assert all(r["expression"] and r["gender"] is None and r["age"] is None for r in rows)
