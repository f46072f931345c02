"""Expression evaluation on FER2013: crops as given, and through detection + alignment.

Through the pipeline each 48x48 crop is upscaled 4x and padded with black
(``pad_and_upscale``), run through the product's detector, and the face nearest the crop
centre is aligned onto the model's template and classified. Alignment reads the crop padded
with its edges replicated (the same geometry): aligned from the black padding, the crop
shows black wherever it reaches past FER's tight crop (17% of the pixels of a val face on
average: bands, and corners of turned faces), which no photo has and a model can learn (the
black-padding figures are reported beside, as ``other_alignments``). Misses are counted:
metrics over detected faces, and end to end (a miss counts as wrong).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from faceattrs.data.fer import align_pipeline, load_fer_split, pipeline_keypoints
from faceattrs.spec import EXPRESSIONS

DEFAULT_FER = "../shared/data/fer2013"
PADDING = {"constant": "black", "replicate": "its edges replicated"}


def confusion_counts(labels: np.ndarray, preds: np.ndarray, k: int = len(EXPRESSIONS)):
    """(k, k) counts, rows annotated class, columns predicted class."""
    return np.bincount(np.asarray(labels) * k + np.asarray(preds), minlength=k * k).reshape(k, k)


def expression_metrics(labels: np.ndarray, preds: np.ndarray, total: int | None = None) -> dict:
    """Accuracy, macro-F1, per-class recall/precision/F1 and the confusion matrix.

    ``total``: the number of faces asked for (misses count as wrong in ``end_to_end``).
    """
    counts = confusion_counts(labels, preds)
    tp = np.diag(counts).astype(np.float64)
    recall = tp / np.maximum(counts.sum(1), 1)
    precision = tp / np.maximum(counts.sum(0), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    out = {
        "n": int(counts.sum()),
        "accuracy": float(tp.sum() / max(counts.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "recall": dict(zip(EXPRESSIONS, recall.round(4).tolist(), strict=True)),
        "precision": dict(zip(EXPRESSIONS, precision.round(4).tolist(), strict=True)),
        "f1": dict(zip(EXPRESSIONS, f1.round(4).tolist(), strict=True)),
        "confusion": {"labels": list(EXPRESSIONS), "rows_true_cols_pred": counts.tolist()},
    }
    if total is not None:
        out["end_to_end_accuracy"] = float(tp.sum() / max(total, 1))
    return out


def evaluate_fer_crops(model, data: str | Path, split: str = "val", limit: int | None = None):
    """Metrics of ``model`` (an :class:`ExpressionModel`) on FER crops as given."""
    fer = load_fer_split(data, split, limit=limit)
    start = time.perf_counter()
    probs = model.predict(fer.gray)
    metrics = expression_metrics(fer.labels, probs.argmax(1))
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    return metrics, probs


def evaluate_fer_pipeline(
    model,
    detector,
    data: str | Path,
    split: str = "val",
    limit: int | None = None,
    border: str = "constant",
    upscale: int = 4,
    progress: bool = True,
    align_borders: tuple[str, ...] = ("replicate", "constant"),
) -> dict:
    """Metrics through detection (crops padded with ``border``) and alignment (from the crop
    padded with ``align_borders[0]``; the other borders' figures under ``other_alignments``),
    the crop's own prediction where missed."""
    fer = load_fer_split(data, split, limit=limit)
    start = time.perf_counter()
    keypoints, found = pipeline_keypoints(fer.gray, detector, border, upscale, progress)
    direct = model.predict(fer.gray[~found]).argmax(1)

    def metrics_aligned_on(align_border: str) -> dict:
        crops = align_pipeline(fer.gray, keypoints, found, model.spec, align_border, upscale)
        preds = np.zeros(len(fer), np.int64)
        preds[found], preds[~found] = model.predict(crops[found]).argmax(1), direct
        return {
            "detected_faces": expression_metrics(fer.labels[found], preds[found], len(fer)),
            "with_crop_fallback": expression_metrics(fer.labels, preds),
        }

    main = {"align_border": align_borders[0], **metrics_aligned_on(align_borders[0])}
    others = {b: metrics_aligned_on(b) for b in align_borders[1:]}
    per_class = [round(float(found[fer.labels == k].mean()), 4) for k in range(len(EXPRESSIONS))]
    return {
        "images": len(fer),
        "detected": int(found.sum()),
        "detection_rate": float(found.mean()),
        "detection_rate_per_class": dict(zip(EXPRESSIONS, per_class, strict=True)),
        **main,
        "other_alignments": others,
        "border": border,
        "upscale": upscale,
        "detect_align_seconds": round(time.perf_counter() - start, 1),
    }


def markdown_fer_report(result: dict, title: str) -> str:
    """A Markdown summary of an ``evaluate --dataset fer`` run."""
    from faceattrs.evaluation.metrics import confusion_table, pct

    lines = [f"# {title}", "", f"Model: `{result['model']}`, split `{result['split']}`.", ""]
    if "command" in result:
        lines += ["Reproduce:", "", "```bash", result["command"], "```", ""]
    sections = [("FER crops as given", result["crops"])]
    pipe = result.get("pipeline")
    if pipe:
        lines += [
            f"Through the pipeline the detector found the face in {pipe['detected']} of "
            f"{pipe['images']} crops ({pct(pipe['detection_rate'])}; crops upscaled "
            f"{pipe['upscale']}x and padded with {PADDING[pipe['border']]}; aligned from the "
            f"crop padded with {PADDING[pipe.get('align_border', pipe['border'])]}).",
            "",
        ]
        sections += [
            ("Through detection + alignment (detected faces)", pipe["detected_faces"]),
            (
                "Through detection + alignment, the crop as given where missed",
                pipe["with_crop_fallback"],
            ),
        ]
        sections += [
            (f"Detected faces aligned from the crop padded with {PADDING[b]}", m["detected_faces"])
            for b, m in pipe.get("other_alignments", {}).items()
        ]
    lines += ["| evaluation | n | accuracy | macro-F1 | " + " | ".join(EXPRESSIONS) + " |"]
    lines += ["| --- | --- | --- | --- |" + " --- |" * len(EXPRESSIONS)]
    for name, m in sections:
        recalls = " | ".join(pct(m["recall"][k]) for k in EXPRESSIONS)
        lines.append(
            f"| {name} | {m['n']} | {pct(m['accuracy'])} | {m['macro_f1']:.3f} | {recalls} |"
        )
    lines += ["", "Per-class columns are recall.", ""]
    if pipe:
        e2e = pipe["detected_faces"]["end_to_end_accuracy"]
        lines += [f"End to end (a missed face counts as wrong): accuracy {pct(e2e)}.", ""]
    for name, m in sections:
        lines += [f"## Confusion: {name} (rows annotated, columns predicted)", ""]
        lines += confusion_table(m["confusion"]) + [""]
    return "\n".join(lines)


def write_fer_report(result: dict, out_dir: str | Path, title: str) -> list[Path]:
    """metrics.json, report.md and confusion figures into ``out_dir``."""
    from faceattrs.evaluation.metrics import plot_confusion

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    (out / "report.md").write_text(markdown_fer_report(result, title))
    paths = [out / "metrics.json", out / "report.md"]
    paths.append(
        plot_confusion(
            result["crops"]["confusion"], out / "confusion_crops.png", "FER crops (row-normalised)"
        )
    )
    if "pipeline" in result:
        paths.append(
            plot_confusion(
                result["pipeline"]["detected_faces"]["confusion"],
                out / "confusion_pipeline.png",
                "through detection + alignment (row-normalised)",
            )
        )
    return paths
