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
