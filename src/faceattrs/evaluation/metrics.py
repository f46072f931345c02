"""Accuracy of an attribute model on a labelled split: metrics, JSON/Markdown report, figures.

Runs the shipped ONNX model through the same preprocessing as inference (no torch).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from faceattrs.resources import file_sha256
from faceattrs.spec import GENDERS, RACES

AGE_BANDS = ((0, 9), (10, 19), (20, 39), (40, 59), (60, 200))


def band_name(low: int, high: int) -> str:
    return f"{low}+" if high >= 200 else f"{low}-{high}"


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class probability, equal-width confidence bins."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def compute_metrics(
    age_true: np.ndarray,
    gender_true: np.ndarray,
    race_true: np.ndarray,
    age_pred: np.ndarray,
    gender_probs: np.ndarray,
    race_probs: np.ndarray,
    age_interval: np.ndarray | None = None,
) -> dict:
    """All figures of the evaluation report from labels and predictions (numpy only)."""
    age_true = np.asarray(age_true, np.float64)
    abs_err = np.abs(np.asarray(age_pred, np.float64) - age_true)
    gender_pred, race_pred = gender_probs.argmax(1), race_probs.argmax(1)
    out: dict = {
        "n": int(len(age_true)),
        "age_mae": float(abs_err.mean()),
        "age_cs5": float((abs_err <= 5).mean()),
        "age_mae_by_band": {},
        **classification_metrics(gender_true, race_true, gender_probs, race_probs),
    }
    if age_interval is not None:
        inside = (age_true >= age_interval[:, 0]) & (age_true <= age_interval[:, 1])
        out["age_interval_coverage"] = float(inside.mean())
    for low, high in AGE_BANDS:
        mask = (age_true >= low) & (age_true <= high)
        out["age_mae_by_band"][band_name(low, high)] = {
            "n": int(mask.sum()),
            "mae": float(abs_err[mask].mean()) if mask.any() else None,
        }
    out["race_confusion"] = confusion(race_true, race_pred, RACES)
    out["by_group"] = by_group(
        gender_true,
        race_true,
        {
            "gender_accuracy": gender_pred == gender_true,
            "race_accuracy": race_pred == race_true,
            "age_mae": abs_err,
        },
    )
    return out


def classification_metrics(
    gender_true: np.ndarray, race_true: np.ndarray, gender_probs: np.ndarray, race_probs: np.ndarray
) -> dict:
    """Gender and race accuracy and ECE."""
    return {
        "gender_accuracy": float((gender_probs.argmax(1) == gender_true).mean()),
        "race_accuracy": float((race_probs.argmax(1) == race_true).mean()),
        "gender_ece": expected_calibration_error(gender_probs, gender_true),
        "race_ece": expected_calibration_error(race_probs, race_true),
    }


def confusion(true: np.ndarray, pred: np.ndarray, labels: Sequence[str]) -> dict:
    """Counts with rows = annotated class, columns = predicted class."""
    counts = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(counts, (np.asarray(true, np.int64), np.asarray(pred, np.int64)), 1)
    return {"labels": list(labels), "rows_true_cols_pred": counts.tolist()}


def by_group(
    gender_true: np.ndarray, race_true: np.ndarray, columns: dict[str, np.ndarray]
) -> dict[str, dict]:
    """Mean of each per-face column in every race x gender group (None when empty)."""
    groups = {}
    for r, race in enumerate(RACES):
        for g, gender in enumerate(GENDERS):
            mask = (race_true == r) & (gender_true == g)
            row: dict = {"n": int(mask.sum())}
            for key, values in columns.items():
                row[key] = float(np.mean(values[mask])) if mask.any() else None
            groups[f"{race}/{gender}"] = row
    return groups


def predict_crops(model, paths: Sequence[Path], batch_size: int = 256, progress: bool = True):
    """Run an AttributeModel over UTKFace-framed crop files; returns AttributePredictions parts."""
    from faceattrs.pipeline.attributes import prepare_aligned

    ages, intervals, genders, races = [], [], [], []
    bar = tqdm(total=len(paths), desc="evaluate", unit="face", disable=not progress)
    for start in range(0, len(paths), batch_size):
        frames = []
        for path in paths[start : start + batch_size]:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"cannot read {path}")
            frames.append(bgr)
        pred = model.predict(prepare_aligned(frames, model.spec))
        ages.append(pred.age)
        intervals.append(pred.age_interval)
        genders.append(pred.gender_probs)
        races.append(pred.race_probs)
        bar.update(len(frames))
    bar.close()
    return (
        np.concatenate(ages),
        np.concatenate(intervals),
        np.concatenate(genders),
        np.concatenate(races),
    )


def analyze_crops(analyzer, paths: Sequence[Path], batch_size: int = 256, progress: bool = True):
    """The arrays of :func:`predict_crops` through ``analyzer.analyze_aligned`` (the path of
    crops already aligned, any tier)."""
    faces = []
    bar = tqdm(total=len(paths), desc="evaluate", unit="face", disable=not progress)
    for start in range(0, len(paths), batch_size):
        chunk = [str(p) for p in paths[start : start + batch_size]]
        faces += analyzer.analyze_aligned(chunk)
        bar.update(len(chunk))
    bar.close()
    genders, races = analyzer.spec.genders, analyzer.spec.races
    return (
        np.array([f.age for f in faces], np.float32),
        np.array([f.age_interval for f in faces], np.float32),
        np.array([[f.gender_probs[g] for g in genders] for f in faces], np.float32),
        np.array([[f.race_probs[r] for r in races] for f in faces], np.float32),
    )


def model_label(model_path, tier: str = "fast") -> str:
    """How reports name a model file (None: the packaged one) and its tier."""
    return str(model_path) + (" + accurate-tier heads" if tier == "accurate" else "")


def evaluate_model(
    model_path, data_dir, split_dir, split: str = "test", progress=True, tier: str = "fast"
) -> dict:
    """Metrics of an ONNX attribute model on one split of a UTKFace-style folder (``tier``
    "accurate": mixed with the packaged heads on each crop's embedding)."""
    from faceattrs.data.utkface import load_split
    from faceattrs.pipeline.attributes import AttributeModel

    samples = load_split(split_dir, split, data_dir)
    if not samples:
        raise ValueError(f"split {split!r} in {split_dir} is empty")
    paths = [s.path for s in samples]
    if tier == "accurate":
        from faceattrs.pipeline.analyzer import FaceAnalyzer

        analyzer = FaceAnalyzer(model_path, tier=tier, attributes="age,gender,race")
        age, interval, gender_probs, race_probs = analyze_crops(analyzer, paths, progress=progress)
    else:
        age, interval, gender_probs, race_probs = predict_crops(
            AttributeModel(model_path), paths, progress=progress
        )
    metrics = compute_metrics(
        np.array([s.age for s in samples]),
        np.array([s.gender for s in samples]),
        np.array([s.race for s in samples]),
        age,
        gender_probs,
        race_probs,
        interval,
    )
    metrics["model"] = model_label(model_path, tier)
    metrics["model_sha256"] = file_sha256(model_path)  # which file these figures are of
    metrics["split"] = f"{split_dir}:{split}"
    return metrics


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def years(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown_report(metrics: dict, title: str = "Evaluation") -> str:
    """A Markdown summary of ``compute_metrics`` output."""
    lines = [
        f"# {title}",
        "",
        f"Model: `{metrics.get('model', '?')}`, split: "
        f"`{metrics.get('split', '?')}`, {metrics['n']} faces.",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| age MAE (years) | {years(metrics['age_mae'])} |",
        f"| age CS@5 | {pct(metrics['age_cs5'])} |",
        f"| gender accuracy | {pct(metrics['gender_accuracy'])} |",
        f"| race accuracy (5 classes) | {pct(metrics['race_accuracy'])} |",
        f"| gender ECE | {metrics['gender_ece']:.3f} |",
        f"| race ECE | {metrics['race_ece']:.3f} |",
    ]
    if "age_interval_coverage" in metrics:
        lines.append(
            f"| true age inside the age interval | {pct(metrics['age_interval_coverage'])} |"
        )
    if "scenes" in metrics:
        lines += ["", scene_summary_markdown(metrics["scenes"])]
    lines += ["", "## Age MAE by age band", "", "| band | n | MAE |", "| --- | --- | --- |"]
    for band, row in metrics["age_mae_by_band"].items():
        lines.append(f"| {band} | {row['n']} | {years(row['mae'])} |")
    lines += ["", "## By race x gender (labels as annotated)", ""]
    lines += group_table(
        metrics["by_group"],
        (
            ("gender acc.", "gender_accuracy", pct),
            ("race acc.", "race_accuracy", pct),
            ("age MAE", "age_mae", years),
        ),
    )
    lines += ["", "## Race confusion (rows: annotated, columns: predicted)", ""]
    lines += confusion_table(metrics["race_confusion"])
    return "\n".join(lines) + "\n"


def group_table(groups: dict[str, dict], columns: Sequence[tuple]) -> list[str]:
    """Markdown rows of a ``by_group`` dict; ``columns`` holds (header, key, formatter)."""
    lines = [
        "| group | n | " + " | ".join(c[0] for c in columns) + " |",
        "| --- | --- |" + " --- |" * len(columns),
    ]
    for group, row in groups.items():
        cells = " | ".join(fmt(row[key]) for _, key, fmt in columns)
        lines.append(f"| {group} | {row['n']} | {cells} |")
    return lines


def confusion_table(conf: dict) -> list[str]:
    """Markdown rows of a ``confusion`` dict."""
    lines = ["| | " + " | ".join(conf["labels"]) + " |", "| --- |" + " --- |" * len(conf["labels"])]
    for label, row in zip(conf["labels"], conf["rows_true_cols_pred"], strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def plot_confusion(conf: dict, path: Path, title: str) -> Path:
    """A row-normalised confusion matrix figure (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(conf["rows_true_cols_pred"], float)
    norm = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    labels = conf["labels"]
    side = max(5.0, 0.55 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(side, side * 0.84))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_report(metrics: dict, out_dir: Path) -> list[Path]:
    """Confusion matrix and per-band MAE figures (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [
        plot_confusion(
            metrics["race_confusion"],
            out_dir / "race_confusion.png",
            "race confusion (row-normalised)",
        )
    ]
    bands = metrics["age_mae_by_band"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(list(bands), [row["mae"] or 0 for row in bands.values()], color="#4c72b0")
    ax.set_ylabel("MAE (years)")
    ax.set_xlabel("annotated age band")
    ax.set_title(f"age MAE by band (overall {metrics['age_mae']:.2f})")
    fig.tight_layout()
    paths.append(out_dir / "age_mae_by_band.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write_report(metrics: dict, out_dir: str | Path, title: str = "Evaluation") -> list[Path]:
    """Write metrics.json, report.md and the figures into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "report.md").write_text(markdown_report(metrics, title))
    return [out / "metrics.json", out / "report.md", *plot_report(metrics, out)]


def scene_summary_markdown(result: dict) -> str:
    """A Markdown summary of :func:`faceattrs.evaluation.scenes.evaluate_in_scenes`."""
    keys = (
        ("age MAE (years)", "age_mae", "{:.2f}"),
        ("gender accuracy", "gender_accuracy", "{:.1%}"),
        ("race accuracy", "race_accuracy", "{:.1%}"),
        ("age CS@5", "age_cs5", "{:.1%}"),
    )
    a, b = result["through_detection_and_alignment"], result["on_original_crops_same_faces"]
    lines = [
        "## Through detection and alignment (crops pasted into 640x480 scenes)",
        "",
        f"Detected {result['detected']} of {result['n']} pasted faces "
        f"({result['detection_rate']:.1%}); metrics on the detected faces:",
        "",
        "| metric | original crops | detect + align in scenes |",
        "| --- | --- | --- |",
    ]
    for name, key, fmt in keys:
        lines.append(f"| {name} | {fmt.format(b[key])} | {fmt.format(a[key])} |")
    return "\n".join(lines) + "\n"
