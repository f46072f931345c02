"""Clustering faces into persons and the per-person records."""

from __future__ import annotations

import numpy as np
import pytest

from faceattrs.pipeline.people import FaceRef, cluster_faces, group_people
from faceattrs.results import Face
from faceattrs.sheets import SHEET_CAPTION, _person_lines, contact_sheet


def _unit(rng, n, center=None, spread=0.05):
    center = rng.normal(size=16) if center is None else center
    x = center + rng.normal(scale=spread, size=(n, 16)) * np.linalg.norm(center)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_clusters_follow_the_threshold():
    rng = np.random.default_rng(0)
    a, b = _unit(rng, 4), _unit(rng, 3)
    labels = cluster_faces(np.concatenate([a, b]), threshold=0.6)
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1]  # largest group first
    assert len(set(cluster_faces(np.concatenate([a, b]), threshold=1e-3))) == 7


def test_faces_of_one_photo_are_never_merged():
    rng = np.random.default_rng(1)
    same = _unit(rng, 2)
    labels = cluster_faces(same, threshold=0.6, groups=["p.jpg", "p.jpg"])
    assert labels[0] != labels[1]
    assert cluster_faces(same, threshold=0.6, groups=["p.jpg", "q.jpg"]).tolist() == [0, 0]


def test_empty_input():
    assert cluster_faces(np.zeros((0, 128)), 0.4).shape == (0,)
    assert group_people([], 0.4) == []


def _face(age, male, embedding, expression=None):
    return Face(
        xyxy=(0.0, 0.0, 10.0, 10.0), score=0.9, keypoints=(), age=age,
        age_interval=(age - 5, age + 5), gender_probs={"male": male, "female": 1 - male},
        race_probs={"white": 0.5, "black": 0.5}, embedding=embedding,
        expression_probs=expression,
    )  # fmt: skip


def test_person_records_average_the_faces():
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 3), _unit(rng, 1)
    refs = [FaceRef(f"{i}.jpg", _face(20 + 10 * i, 0.9, e)) for i, e in enumerate(a)]
    refs.append(FaceRef("x.jpg", _face(60, 0.1, b[0])))
    people = group_people(refs, threshold=0.6)
    assert [p["person_id"] for p in people] == [1, 2]
    first = people[0]
    assert first["n_faces"] == 3 and first["n_photos"] == 3
    assert first["age"] == 30 and first["age_interval"] == [25, 35]
    assert first["gender"] == "male" and first["gender_probs"]["male"] == pytest.approx(0.9)
    assert {f["path"] for f in first["faces"]} == {"0.jpg", "1.jpg", "2.jpg"}
    assert "embedding" not in str(people)
    sheet = contact_sheet(people, {("0.jpg", (0.0, 0.0, 10.0, 10.0)): np.zeros((96, 96, 3))})
    assert sheet.ndim == 3 and sheet.shape[0] > 2 * 96


def test_faces_without_embedding_are_refused():
    with pytest.raises(ValueError, match="embedding"):
        group_people([FaceRef("a.jpg", _face(30, 0.5, None))], 0.4)


def test_person_records_average_expressions_when_every_face_has_one():
    rng = np.random.default_rng(3)
    a = _unit(rng, 2)
    happy, sad = {"happy": 0.8, "sad": 0.2}, {"happy": 0.3, "sad": 0.7}
    refs = [
        FaceRef("0.jpg", _face(30, 0.9, a[0], happy)),
        FaceRef("1.jpg", _face(30, 0.9, a[1], sad)),
    ]
    (person,) = group_people(refs, threshold=0.6)
    assert person["expression"] == "happy"
    assert person["expression_probs"] == pytest.approx({"happy": 0.55, "sad": 0.45})
    assert _person_lines(person)[2:] == ["male 90%, 30 [25-35]", "white? 50%", "happy? 55%"]
    partly = [refs[0], FaceRef("1.jpg", _face(30, 0.9, a[1]))]  # a face without the head
    (person,) = group_people(partly, threshold=0.6)
    assert "expression" not in person and "expression_probs" not in person
    assert len(_person_lines(person)) == 4


def test_the_sheet_says_the_attributes_are_perceived():
    """The caption is drawn above the rows, wrapped to the sheet's width."""
    embedding = _unit(np.random.default_rng(4), 1)[0]
    people = group_people([FaceRef("0.jpg", _face(30, 0.9, embedding))], 0.6)
    sheet = contact_sheet(people, {}, tile=96)
    row = 96 + 2 * 6  # a person's row: the tile and its padding
    caption = sheet[: sheet.shape[0] - row - 2]  # less the row and the two rules under them
    assert "perceived" in SHEET_CAPTION.lower() and "not facts" in SHEET_CAPTION
    assert sheet.shape[1] == 328 and caption.shape[0] >= 3 * 18  # wrapped on several lines
    assert (caption < 128).any(), "caption text drawn"
    assert contact_sheet([], {}).shape[0] > caption.shape[0]  # "no faces" under the caption
