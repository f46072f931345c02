"""Accuracy through detection and alignment, on FairFace (age bins) or UTKFace (exact ages).

Every test image goes through the face source of :mod:`faceattrs.evaluation.faces` (detector +
alignment, or an aligned cache made the same way). Figures are given two ways:

- *detected faces*: over the faces the detector found (misses left out);
- *end-to-end*: over all test images, a miss counting as wrong.

Age on FairFace is scored against its 9 bins: the predicted bin is the bin with the largest
summed probability of the model's age distribution; also reported are the bin of the
expected age (rounded to whole years, as displayed) and the share within one bin. UTKFace's
exact ages are scored as in :mod:`faceattrs.evaluation.metrics` plus the same bins, so the two
datasets compare. Gender, race, ECE, confusion and group tables reuse that module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceattrs.data.fairface import AGE_BINS, RACE7
from faceattrs.evaluation.metrics import (
    by_group,
    classification_metrics,
    compute_metrics,
    confusion,
    confusion_table,
    group_table,
    model_label,
    pct,
    plot_confusion,
    years,
)
from faceattrs.spec import RACES

DATASETS = ("utkface", "fairface")
DEFAULT_DATA = {"utkface": "../shared/data/utkface", "fairface": "../shared/data/fairface"}
DEFAULT_SPLITS = {"utkface": "splits/utkface", "fairface": "splits/fairface"}
BIN_NAMES = tuple(name for name, _, _ in AGE_BINS)
BIN_LOWS = np.array([low for _, low, _ in AGE_BINS])
# keys scaled by the detection rate in the end-to-end figures (a miss is wrong)
ACCURACY_KEYS = (
    "gender_accuracy",
    "race_accuracy",
    "age_bin_accuracy",
    "age_bin_accuracy_expected_age",
    "age_bin_within_one",
    "age_cs5",
)


def age_bin_of(ages: np.ndarray) -> np.ndarray:
    """FairFace bin index of each age (whole years; 70 and over is the last bin)."""
    return np.searchsorted(BIN_LOWS, np.asarray(ages), side="right") - 1


def bin_probs(age_probs: np.ndarray) -> np.ndarray:
    """(N, 9) probability mass of the age distribution (ages 0..max_age) in each bin."""
    edges = np.append(BIN_LOWS, age_probs.shape[1])
    cumulative = np.concatenate([np.zeros((len(age_probs), 1)), np.cumsum(age_probs, 1)], 1)
    return cumulative[:, edges[1:]] - cumulative[:, edges[:-1]]


def age_bin_metrics(age_probs: np.ndarray, true_bin: np.ndarray) -> dict:
    """Age-bin accuracy (most probable bin), from the expected age, within one bin; confusion."""
    true_bin = np.asarray(true_bin, np.int64)
    mass_bin = bin_probs(age_probs).argmax(1)
    expected = age_probs @ np.arange(age_probs.shape[1])
    expected_bin = age_bin_of(np.round(expected))
    per_bin = {}
    for b, name in enumerate(BIN_NAMES):
        mask = true_bin == b
        per_bin[name] = {
            "n": int(mask.sum()),
            "accuracy": float((mass_bin[mask] == b).mean()) if mask.any() else None,
        }
    return {
        "age_bin_accuracy": float((mass_bin == true_bin).mean()),
        "age_bin_accuracy_expected_age": float((expected_bin == true_bin).mean()),
        "age_bin_within_one": float((np.abs(mass_bin - true_bin) <= 1).mean()),
        "age_bin_by_bin": per_bin,
        "age_bin_confusion": confusion(true_bin, mass_bin, BIN_NAMES),
    }


def fairface_metrics(
    true_bin: np.ndarray,
    gender_true: np.ndarray,
    race_true: np.ndarray,
    race7_true: np.ndarray,
    age_probs: np.ndarray,
    gender_probs: np.ndarray,
    race_probs: np.ndarray,
) -> dict:
    """All figures for FairFace-labelled faces (age as bin index, race in 5 and 7 classes)."""
    gender_pred, race_pred = gender_probs.argmax(1), race_probs.argmax(1)
    out = {
        "n": int(len(true_bin)),
        **classification_metrics(gender_true, race_true, gender_probs, race_probs),
        **age_bin_metrics(age_probs, true_bin),
    }
    out["race_confusion"] = confusion(race_true, race_pred, RACES)
    bin_ok = bin_probs(age_probs).argmax(1) == true_bin
    out["by_group"] = by_group(
        gender_true,
        race_true,
        {
            "gender_accuracy": gender_pred == gender_true,
            "race_accuracy": race_pred == race_true,
            "age_bin_accuracy": bin_ok,
        },
    )
    out["race_by_race7"] = {
        name: {
            "n": int((race7_true == r).sum()),
            "as": RACES[int(np.bincount(race_true[race7_true == r], minlength=5).argmax())]
            if (race7_true == r).any()
            else None,
            "race_accuracy": float((race_pred == race_true)[race7_true == r].mean())
            if (race7_true == r).any()
            else None,
        }
        for r, name in enumerate(RACE7)
    }
    return out


def end_to_end(metrics: dict, found: int, images: int) -> dict:
    """Accuracies over all images, a missed face counting as wrong."""
    rate = found / max(images, 1)
    return {k: metrics[k] * rate for k in ACCURACY_KEYS if k in metrics}


def evaluate_detected(
    model_path: str | Path,
    dataset: str = "fairface",
    split: str = "test",
    data_dir: str | Path | None = None,
    split_dir: str | Path | None = None,
    cache: str | Path | None = None,
    threads: int | None = None,
    progress: bool = True,
    located=None,
    tier: str = "fast",
) -> dict:
    """Metrics of an ONNX model on one split, faces through detection + alignment (or
    ``cache``; ``located``: the detections of an earlier run on the same split, reused).
    ``tier`` "accurate": mixed with the packaged heads on each face's embedding."""
    from faceattrs.evaluation.faces import face_embeddings, load_faces, locate_faces, miss_summary
    from faceattrs.pipeline.attributes import AttributeModel

    samples, names = split_samples(dataset, split, data_dir, split_dir)
    model = AttributeModel(model_path, threads=threads)
    paths = [s.path for s in samples]
    if tier == "accurate" and cache is None and located is None:
        from faceattrs.evaluation.faces import default_detector

        located = locate_faces(paths, names, default_detector(threads=threads), progress)
    faces = load_faces(paths, names, model.spec, cache, located, threads, progress)
    if not faces.found.any():
        raise ValueError(f"no face found in any of the {len(samples)} images")
    pred = model.predict(faces.crops_bgr)
    if tier == "accurate":
        from faceattrs.pipeline.embedding_heads import EmbeddingHeads

        embeddings, features = face_embeddings(
            dataset, names, faces.found, cache, located, threads, progress
        )
        pred = EmbeddingHeads(threads=threads).refine(model.spec, pred, embeddings, features)
    kept = [s for s, ok in zip(samples, faces.found, strict=True) if ok]
    gender = np.array([s.gender for s in kept])
    if dataset == "fairface":
        metrics = fairface_metrics(
            np.array([age_bin_of(s.age_low) for s in kept]),
            gender,
            np.array([s.race5 for s in kept]),
            np.array([s.race7 for s in kept]),
            pred.age_probs,
            pred.gender_probs,
            pred.race_probs,
        )
    else:
        ages = np.array([s.age for s in kept])
        race = np.array([s.race for s in kept])
        metrics = compute_metrics(
            ages, gender, race, pred.age, pred.gender_probs, pred.race_probs, pred.age_interval
        )
        metrics.update(age_bin_metrics(pred.age_probs, age_bin_of(ages)))
    metrics["end_to_end"] = end_to_end(metrics, metrics["n"], faces.n)
    metrics.update(
        dataset=dataset,
        model=model_label(model_path, tier),
        split=f"{split_dir or DEFAULT_SPLITS[dataset]}:{split}",
        faces=miss_summary(faces),
        misses=faces.misses,
    )
    return metrics


def split_samples(
    dataset: str, split: str, data_dir: str | Path | None, split_dir: str | Path | None
) -> tuple[list, list[str]]:
    """``(samples, names)`` of a split; names are paths relative to the data folder."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    data_dir = Path(data_dir or DEFAULT_DATA[dataset])
    split_dir = Path(split_dir or DEFAULT_SPLITS[dataset])
    if not data_dir.is_dir():
        raise ValueError(f"data folder not found: {data_dir}")
    if dataset == "fairface":
        from faceattrs.data.fairface import load_fairface_split

        samples = load_fairface_split(split_dir, split, data_dir)
    else:
        from faceattrs.data.utkface import load_split

        samples = load_split(split_dir, split, data_dir)
    if not samples:
        raise ValueError(f"split {split!r} in {split_dir} is empty")
    return samples, [s.path.relative_to(data_dir).as_posix() for s in samples]


def locate_split(
    dataset: str,
    split: str = "test",
    data_dir: str | Path | None = None,
    split_dir: str | Path | None = None,
    threads: int | None = None,
    progress: bool = True,
):
    """The detector's centre face in every image of a split (to evaluate several models)."""
    from faceattrs.evaluation.faces import default_detector, locate_faces

    samples, names = split_samples(dataset, split, data_dir, split_dir)
    detector = default_detector(threads=threads)
    return locate_faces([s.path for s in samples], names, detector, progress)


def markdown_detected(metrics: dict, title: str, command: str = "") -> str:
    """Markdown report of :func:`evaluate_detected` output."""
    faces, e2e = metrics["faces"], metrics["end_to_end"]
    lines = [f"# {title}", ""]
    if command:
        lines += ["Reproduce:", "", f"    {command}", ""]
    lines += [
        f"Model: `{metrics['model']}`, split: `{metrics['split']}`, {faces['images']} images.",
        f"Faces from: {faces['source']} (centre face, model's alignment). Detected "
        f"{faces['found']} of {faces['images']}; {faces['missed']} missed "
        f"({pct(faces['miss_rate'])}). *Detected faces*: misses left out; *end-to-end*: "
        "a miss counts as wrong.",
        "",
        "| metric | detected faces | end-to-end |",
        "| --- | --- | --- |",
    ]
    rows = (
        ("age MAE (years)", "age_mae", years),
        ("age CS@5", "age_cs5", pct),
        ("age bin (most probable bin)", "age_bin_accuracy", pct),
        ("age bin (bin of the expected age)", "age_bin_accuracy_expected_age", pct),
        ("age bin within one bin", "age_bin_within_one", pct),
        ("gender accuracy", "gender_accuracy", pct),
        ("race accuracy (5 classes)", "race_accuracy", pct),
        ("gender ECE", "gender_ece", "{:.3f}".format),
        ("race ECE", "race_ece", "{:.3f}".format),
        ("true age inside the age interval", "age_interval_coverage", pct),
    )
    for name, key, fmt in rows:
        if key in metrics:
            lines.append(
                f"| {name} | {fmt(metrics[key])} | {fmt(e2e[key]) if key in e2e else '-'} |"
            )
    lines += ["", "## Age-bin accuracy by annotated bin", "", "| bin | n | accuracy |"]
    lines.append("| --- | --- | --- |")
    for name, row in metrics["age_bin_by_bin"].items():
        lines.append(f"| {name} | {row['n']} | {pct(row['accuracy'])} |")
    age_column = (
        ("age MAE", "age_mae", years)
        if "age_mae" in metrics
        else ("age-bin acc.", "age_bin_accuracy", pct)
    )
    columns = [("gender acc.", "gender_accuracy", pct), ("race acc.", "race_accuracy", pct)]
    columns.append(age_column)
    lines += ["", "## By race x gender (labels as annotated; detected faces)", ""]
    lines += group_table(metrics["by_group"], columns)
    if "race_by_race7" in metrics:
        lines += ["", "## 5-class race accuracy by FairFace race (7 classes)", ""]
        lines += ["| FairFace race | n | counted as | race acc. |", "| --- | --- | --- | --- |"]
        for name, row in metrics["race_by_race7"].items():
            lines.append(
                f"| {name} | {row['n']} | {row['as'] or '-'} | {pct(row['race_accuracy'])} |"
            )
    lines += ["", "## Race confusion (rows: annotated, columns: predicted)", ""]
    lines += confusion_table(metrics["race_confusion"])
    lines += ["", "## Age-bin confusion (rows: annotated, columns: predicted)", ""]
    lines += confusion_table(metrics["age_bin_confusion"])
    lines += ["", f"## Missed faces ({faces['missed']})", ""]
    lines += [f"- {reason}: {count}" for reason, count in faces["by_reason"].items()]
    if metrics["misses"]:
        lines += ["", "All misses are listed in metrics.json (`misses`)."]
    return "\n".join(lines) + "\n"


def write_detected_report(
    metrics: dict, out_dir: str | Path, title: str, command: str = ""
) -> list[Path]:
    """metrics.json, report.md, race_confusion.png and age_bin_confusion.png in ``out_dir``."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"command": command, **metrics}, indent=1))
    (out / "report.md").write_text(markdown_detected(metrics, title, command))
    return [
        out / "metrics.json",
        out / "report.md",
        plot_confusion(
            metrics["race_confusion"], out / "race_confusion.png", "race (row-normalised)"
        ),
        plot_confusion(
            metrics["age_bin_confusion"],
            out / "age_bin_confusion.png",
            "age bin (row-normalised)",
        ),
    ]
