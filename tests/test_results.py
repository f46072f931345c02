import dataclasses

import pytest

from faceattrs.results import Face


def make(**kw):
    base = dict(
        xyxy=(10.0, 20.0, 110.0, 140.0),
        score=0.97,
        keypoints=((40.0, 60.0), (80.0, 60.0)),
        age=27.44,
        age_interval=(23.0, 32.0),
        gender_probs={"male": 0.08, "female": 0.92},
        race_probs={"white": 0.02, "black": 0.01, "asian": 0.9, "indian": 0.03, "other": 0.04},
    )
    base.update(kw)
    return Face(**base)


def test_labels_are_the_most_probable_classes():
    face = make()
    assert face.gender == "female" and face.race == "asian"
    assert face.label == "female, 27, asian"


def test_to_dict_has_exactly_the_cli_schema():
    out = make().to_dict()
    assert list(out) == [
        "box",
        "score",
        "keypoints",
        "age",
        "age_interval",
        "gender",
        "gender_probs",
        "race",
        "race_probs",
    ]
    assert out["box"] == [10.0, 20.0, 110.0, 140.0]
    assert out["age"] == 27.4
    assert out["age_interval"] == [23, 32] and isinstance(out["age_interval"][0], int)
    assert out["gender_probs"] == {"male": 0.08, "female": 0.92}
    assert "track_id" in make(track_id=3).to_dict()


def test_face_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().age = 3.0
    assert make().with_track(5).track_id == 5


EXPRESSION_PROBS = {
    "angry": 0.05, "disgust": 0.01, "fear": 0.04, "happy": 0.7,
    "neutral": 0.1, "sad": 0.05, "surprise": 0.05,
}  # fmt: skip


def test_expression_is_in_the_label_and_the_schema():
    face = make(expression_probs=EXPRESSION_PROBS)
    assert face.expression == "happy"
    assert face.label == "female, 27, asian, happy"
    out = face.to_dict()
    assert list(out)[-2:] == ["expression", "expression_probs"]
    assert out["expression"] == "happy" and out["expression_probs"]["happy"] == 0.7


def test_attributes_not_asked_for_are_left_out():
    face = Face(
        xyxy=(0.0, 0.0, 10.0, 10.0), score=0.9, keypoints=(), expression_probs=EXPRESSION_PROBS
    )
    assert face.age is None and face.gender is None and face.race is None
    assert face.label == "happy"
    assert list(face.to_dict()) == ["box", "score", "keypoints", "expression", "expression_probs"]
    assert "expression" not in make().to_dict()
