"""``faceattrs compare``, ``faceattrs people`` and ``analyze --embeddings`` on shared photos."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from faceattrs.cli import main

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def photos(tmp_path_factory, shared_dir):
    """obama.jpg, biden.jpg, obama_and_biden.jpg (3 faces: Biden, Obama, a child's
    partly hidden face) and a file that is not an image."""
    folder = tmp_path_factory.mktemp("photos")
    for name in ("obama.jpg", "biden.jpg", "obama_and_biden.jpg"):
        src = shared_dir / "media" / "face_recognition" / name
        if not src.is_file():
            pytest.skip(f"{src} missing")
        shutil.copy(src, folder / name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_same_and_different(capsys, photos):
    code, out, _ = _run(capsys, "compare", photos / "obama.jpg", photos / "obama.jpg", "--json")
    assert code == 0 and json.loads(out)["same_person"] and json.loads(out)["distance"] < 1e-3
    code, out, _ = _run(capsys, "compare", photos / "obama.jpg", photos / "biden.jpg")
    assert code == 0 and "different people" in out


def test_compare_several_faces_needs_largest(capsys, photos):
    code, out, err = _run(capsys, "compare", photos / "obama.jpg", photos / "obama_and_biden.jpg")
    assert code == 2 and out == "" and "--largest" in err and len(err.splitlines()) == 1
    code, out, _ = _run(capsys, "compare", photos / "biden.jpg", photos / "obama_and_biden.jpg",
                        "--largest", "--json")  # fmt: skip
    assert code == 0 and "distance" in json.loads(out)


def test_compare_no_face(capsys, photos, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    code, _, err = _run(capsys, "compare", photos / "obama.jpg", blank)
    assert code == 1 and "no face" in err and len(err.splitlines()) == 1
    code, _, err = _run(capsys, "compare", photos / "obama.jpg", photos / "broken.jpg")
    assert code == 1 and len(err.splitlines()) == 1


def test_people_groups_the_same_person(capsys, photos, tmp_path):
    out_file, sheet = tmp_path / "people.jsonl", tmp_path / "people.png"
    code, _, err = _run(capsys, "people", photos, "-o", out_file, "--sheet", sheet)
    assert code == 1 and "broken.jpg" in err  # the unreadable file is reported, the run goes on
    people = [json.loads(line) for line in out_file.read_text().splitlines()]
    by_photos = sorted(sorted(f["path"].rsplit("/", 1)[1] for f in p["faces"]) for p in people)
    assert ["biden.jpg", "obama_and_biden.jpg"] in by_photos
    assert ["obama.jpg", "obama_and_biden.jpg"] in by_photos
    assert all(p["n_photos"] == p["n_faces"] for p in people)
    assert {"person_id", "age", "age_interval", "gender_probs", "race_probs"} <= set(people[0])
    assert all(sum(p["expression_probs"].values()) == pytest.approx(1, abs=1e-3) for p in people)
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[0] >= 96 * len(people)


def test_people_tiers_group_alike_and_estimate_apart(capsys, photos, tmp_path):
    found = {}
    for tier in ("fast", "accurate"):  # accurate is people's default: the embedding is paid for
        out_file = tmp_path / f"{tier}.jsonl"
        code, _, _ = _run(capsys, "people", photos, "-o", out_file, "--model", tier, "-q")
        assert code == 1  # broken.jpg
        found[tier] = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [p["faces"] for p in found["fast"]] == [p["faces"] for p in found["accurate"]]
    assert [p["age"] for p in found["fast"]] != [p["age"] for p in found["accurate"]]


def test_analyze_embeddings_only_when_asked(capsys, photos):
    code, out, _ = _run(capsys, "analyze", photos / "obama.jpg", "-q")
    assert code == 0 and "embedding" not in out
    code, out, _ = _run(capsys, "analyze", photos / "obama.jpg", "-q", "--embeddings")
    embedding = np.asarray(json.loads(out)["faces"][0]["embedding"])
    assert embedding.shape == (128,) and abs(np.linalg.norm(embedding) - 1) < 1e-3
    code, _, err = _run(capsys, "analyze", photos / "obama.jpg", "--embeddings", "--format", "csv")
    assert code == 2 and "CSV" in err
