"""The cross-dataset report's Markdown: the issue #16 targets, the main table with its
sampling intervals, end-to-end and crops tables, and the fairness and calibration table
(:mod:`faceattrs.evaluation.cross` runs the models and writes it)."""

from __future__ import annotations

from faceattrs.evaluation.fairface import DEFAULT_SPLITS
from faceattrs.evaluation.metrics import pct, years
from faceattrs.evaluation.uncertainty import equal_accuracy_gaps, gap_interval, wilson_interval

# issue #16: targets for the attribute model v2 on the project's own test splits
TARGETS = {
    "fairface": {"gender_accuracy": 0.92, "race_accuracy": 0.78, "age_bin_accuracy": 0.58},
    "utkface": {"age_mae": 4.4, "gender_accuracy": 0.95, "race_accuracy": 0.87},
}
GENDER_GAP_TARGET = 0.04  # across race groups, FairFace test
GENDER_ECE_TARGET = 0.03
INTERVAL_COVERAGE_TARGET = (0.78, 0.82)  # the 80% age interval, UTKFace test


def meets(dataset: str, key: str, value: float | None) -> str:
    """`` ✓`` / `` ✗`` against the issue's target, empty when there is none."""
    target = TARGETS[dataset].get(key)
    if target is None or value is None:
        return ""
    ok = value <= target if key == "age_mae" else value >= target
    return " ✓" if ok else " ✗"


def target_text(dataset: str, key: str) -> str:
    target = TARGETS[dataset].get(key)
    if target is None:
        return "-"
    return f"<= {target:.1f}" if key == "age_mae" else f">= {100 * target:.0f}%"


MAIN_COLUMNS = (
    ("FairFace gender", "fairface", "gender_accuracy", pct),
    ("FairFace race (5)", "fairface", "race_accuracy", pct),
    ("FairFace age bin", "fairface", "age_bin_accuracy", pct),
    ("FairFace age bin ±1", "fairface", "age_bin_within_one", pct),
    ("UTKFace age MAE", "utkface_detected", "age_mae", years),
    ("UTKFace CS@5", "utkface_detected", "age_cs5", pct),
    ("UTKFace gender", "utkface_detected", "gender_accuracy", pct),
    ("UTKFace race (5)", "utkface_detected", "race_accuracy", pct),
    ("UTKFace age bin", "utkface_detected", "age_bin_accuracy", pct),
)
CROP_COLUMNS = (
    ("age MAE", "age_mae", years),
    ("CS@5", "age_cs5", pct),
    ("gender", "gender_accuracy", pct),
    ("race (5)", "race_accuracy", pct),
)


def table_head(caption: str, headers: list[str]) -> list[str]:
    """A captioned Markdown table's first lines, one row per model below."""
    return [
        "",
        caption,
        "",
        "| model | " + " | ".join(headers) + " |",
        "| --- |" + " --- |" * len(headers),
    ]


def _mark(ok: bool) -> str:
    return " ✓" if ok else " ✗"


def fairness_lines(models: dict) -> list[str]:
    """Gender gap across race groups, calibration and the age interval's coverage."""
    low, high = INTERVAL_COVERAGE_TARGET
    lines = [
        "",
        "Fairness and calibration (detected faces): the gender accuracy gap between the best "
        "and the worst race group on FairFace, expected calibration errors, and the share of "
        "UTKFace true ages inside the reported 80% age interval.",
        "",
        "The gap's 95% interval resamples each race group's faces (it leans high, as any "
        "best-minus-worst of noisy figures does); the next column is the gap "
        "a model exactly as accurate for every race (at this model's overall accuracy) would "
        "show on groups of these sizes, its mean and 95th percentile: sampling noise alone.",
        "",
        "| model | FairFace gender gap across races | its 95% interval | gap of an equally "
        "accurate model | FairFace gender ECE | FairFace race ECE | UTKFace gender ECE "
        "| UTKFace age inside 80% interval |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| target | <= {100 * GENDER_GAP_TARGET:.0f} points | - | - | <= {GENDER_ECE_TARGET} | - "
        f"| <= {GENDER_ECE_TARGET} | {100 * low:.0f}-{100 * high:.0f}% |",
    ]
    for name, runs in models.items():
        ff, utk = runs["fairface"], runs["utkface_detected"]
        gap, coverage = ff.get("gender_gap_by_race"), utk.get("age_interval_coverage")
        cells = [
            "-" if gap is None else f"{100 * gap:.1f} points" + _mark(gap <= GENDER_GAP_TARGET),
            *gap_noise_cells(ff.get("gender_by_race")),
            f"{ff['gender_ece']:.3f}" + _mark(ff["gender_ece"] <= GENDER_ECE_TARGET),
            f"{ff['race_ece']:.3f}",
            f"{utk['gender_ece']:.3f}" + _mark(utk["gender_ece"] <= GENDER_ECE_TARGET),
            "-" if coverage is None else pct(coverage) + _mark(low <= coverage <= high),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def gap_noise_cells(tally: dict[str, list[int]] | None) -> list[str]:
    """The gap's 95% interval and the gap of an equally accurate model ("-" without the
    per-race tally, as in reports written before it was kept)."""
    if not tally or len(tally) < 2:
        return ["-", "-"]
    hits, sizes = zip(*tally.values(), strict=True)
    low, high = gap_interval(hits, sizes)
    mean, p95 = equal_accuracy_gaps(sizes, sum(hits) / sum(sizes))
    return [f"{100 * low:.1f}-{100 * high:.1f}", f"{100 * mean:.1f} (95%: {100 * p95:.1f})"]


def interval_lines(models: dict) -> list[str]:
    """95% Wilson intervals of the accuracies of the main table."""
    columns = [c for c in MAIN_COLUMNS if c[2] in ("gender_accuracy", "race_accuracy")]
    columns.insert(2, next(c for c in MAIN_COLUMNS if c[2] == "age_bin_accuracy"))
    lines = table_head(
        "Sampling uncertainty of the table above: 95% intervals (Wilson) of each accuracy "
        "over the detected faces. Models scored on the same faces differ more steadily than "
        "these intervals suggest; a difference smaller than them should hold on the val split "
        "too before it is read as real.",
        [c[0] for c in columns],
    )
    for name, runs in models.items():
        cells = []
        for _, run, key, _ in columns:
            value, n = runs[run].get(key), runs[run].get("n")
            if value is None or not n:
                cells.append("-")
                continue
            low, high = wilson_interval(value, n)
            cells.append(f"{100 * low:.1f}-{100 * high:.1f}%")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def cross_markdown(result: dict) -> str:
    """The cross-dataset table with targets, end-to-end figures and the crops table."""
    models, split = result["models"], result.get("split", "test")
    splits = result.get("splits", DEFAULT_SPLITS)
    lines = [
        "# Cross-dataset evaluation",
        "",
        "Reproduce:",
        "",
        f"    {result['command']}",
        "",
        f"Splits: `{splits['fairface']}/{split}.txt`, `{splits['utkface']}/{split}.txt`. "
        "Faces through the "
        "product's detection and alignment (face nearest the image centre; source: "
        + ", ".join(f"{d} {s}" for d, s in result["face_sources"].items())
        + "). Figures over the **detected faces**; ✓/✗ against the issue #16 targets.",
        "",
        "| model | " + " | ".join(c[0] for c in MAIN_COLUMNS) + " | missed (FF / UTK) |",
        "| --- |" + " --- |" * (len(MAIN_COLUMNS) + 1),
        "| target | "
        + " | ".join(target_text(d.split("_")[0], k) for _, d, k, _ in MAIN_COLUMNS)
        + " | - |",
    ]
    for name, runs in models.items():
        cells = []
        for _, run, key, fmt in MAIN_COLUMNS:
            value = runs[run].get(key)
            cells.append(fmt(value) + meets(run.split("_")[0], key, value))
        missed = " / ".join(
            f"{runs[r]['faces']['missed']} ({pct(runs[r]['faces']['miss_rate'])})"
            for r in ("fairface", "utkface_detected")
        )
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {missed} |")
    lines += interval_lines(models)
    e2e_columns = [c for c in MAIN_COLUMNS if c[2] != "age_mae"]
    lines += table_head(
        f"End-to-end (every {split} image; a face the detector missed counts as wrong):",
        [c[0] for c in e2e_columns],
    )
    for name, runs in models.items():
        cells = [fmt(runs[run]["end_to_end"].get(key)) for _, run, key, fmt in e2e_columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += table_head(
        f"UTKFace {split} on the crops as given (UTKFace's own framing, no detection; the "
        "figures of `faceattrs evaluate MODEL`):",
        [c[0] for c in CROP_COLUMNS],
    )
    for name, runs in models.items():
        crops = runs.get("utkface_crops")
        if crops:
            cells = [
                fmt(crops.get(key)) + meets("utkface", key, crops.get(key))
                for _, key, fmt in CROP_COLUMNS
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += fairness_lines(models)
    lines += [
        "",
        "Age bin: the FairFace bin (0-2, 3-9, 10-19, ..., 60-69, 70+) holding the most "
        "probability of the predicted age distribution; UTKFace ages are put in the same bins. "
        "Full reports (group tables, confusion matrices, misses): "
        + ", ".join(f"`{name}/`" for name in models)
        + ".",
    ]
    return "\n".join(lines) + "\n"
