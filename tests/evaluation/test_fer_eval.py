"""FER evaluation metrics and report."""

import numpy as np
import pytest

from faceattrs.evaluation.fer import expression_metrics, markdown_fer_report


def test_metrics_of_a_known_confusion_matrix():
    labels = np.array([0, 0, 1, 1, 2, 2])
    preds = np.array([0, 1, 1, 1, 2, 0])
    m = expression_metrics(labels, preds, total=8)
    assert np.array(m["confusion"]["rows_true_cols_pred"])[:3, :3].tolist() == [
        [1, 1, 0],
        [0, 2, 0],
        [1, 0, 1],
    ]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["end_to_end_accuracy"] == pytest.approx(4 / 8)
    assert m["recall"]["angry"] == pytest.approx(0.5)
    assert m["recall"]["disgust"] == pytest.approx(1.0)
    # F1: angry 0.5, disgust 0.8, fear 2/3; the four absent classes 0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 7)


def test_report_lists_every_section():
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 7, 50), rng.integers(0, 7, 50)
    m = expression_metrics(labels, preds, total=60)
    pipe = {
        "images": 60,
        "detected": 50,
        "detection_rate": 50 / 60,
        "upscale": 4,
        "border": "constant",
        "detected_faces": m,
        "with_crop_fallback": m,
    }
    result = {"model": "m.onnx", "split": "val", "crops": m, "pipeline": pipe, "command": "x"}
    text = markdown_fer_report(result, "FER")
    assert "detected faces" in text and "where missed" in text and "surprise" in text
    assert f"{100 * m['accuracy']:.1f}%" in text


@pytest.mark.shared
def test_pipeline_evaluation_aligns_the_same_faces_both_ways(shared_dir):
    """``evaluate --dataset fer``: one detection pass, the found faces aligned from
    replicated edges (the figures) and from black (reported beside), misses counted."""
    from faceattrs.evaluation.fer import evaluate_fer_pipeline
    from faceattrs.pipeline.detection import FaceDetector
    from faceattrs.pipeline.expression import ExpressionModel

    model, detector = ExpressionModel(threads=1), FaceDetector("full", threads=1)
    data = shared_dir / "data" / "fer2013"
    pipe = evaluate_fer_pipeline(model, detector, data, "val", limit=30, progress=False)
    black = pipe["other_alignments"]["constant"]
    assert pipe["align_border"] == "replicate" and list(pipe["other_alignments"]) == ["constant"]
    assert pipe["images"] == 30 and 24 <= pipe["detected"] <= 30
    assert pipe["detected_faces"]["n"] == black["detected_faces"]["n"] == pipe["detected"]
    assert pipe["with_crop_fallback"]["n"] == black["with_crop_fallback"]["n"] == 30
    result = {"model": "m", "split": "val", "crops": pipe["detected_faces"], "pipeline": pipe}
    text = markdown_fer_report(result, "FER")
    assert "padded with black; aligned from the crop padded with its edges replicated" in text
    assert "Detected faces aligned from the crop padded with black" in text
