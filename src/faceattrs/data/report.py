"""Audit reports of a UTKFace-style folder, as a JSON-ready dict and as Markdown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from faceattrs.data.utkface import (
    CONFLICT,
    DUPLICATE,
    GENDER_NAMES,
    KEPT,
    RACE_NAMES,
    REJECTED,
    Audit,
    age_band,
)

STATUSES = (KEPT, REJECTED, DUPLICATE, CONFLICT)


def label_counts(labels: Iterable[tuple[int, int, int]]) -> dict[str, dict[str, int]]:
    """Counts per age band, gender and race (every key present, zeros included)."""
    labels = list(labels)
    bands = Counter(age_band(a) for a, _, _ in labels)
    band_order = sorted(bands, key=lambda b: int(b.split("-")[0].rstrip("+")))
    return {
        "age_band": {b: bands[b] for b in band_order},
        "gender": {name: sum(g == i for _, g, _ in labels) for i, name in enumerate(GENDER_NAMES)},
        "race": {name: sum(r == i for _, _, r in labels) for i, name in enumerate(RACE_NAMES)},
        "total": len(labels),
    }


def audit_summary(result: Audit) -> dict:
    """Everything the audit found: totals, label counts, every file not kept, duplicates."""
    by_status = Counter(r.status for r in result.records)
    by_name = {r.name: r for r in result.records}
    labelled = [r.labels for r in result.records if r.labels is not None and r.status != REJECTED]
    return {
        "directory": result.directory.name,
        "files": len(result.records),
        "status_counts": {s: by_status.get(s, 0) for s in STATUSES},
        "counts_kept": label_counts(r.labels for r in result.kept),
        "counts_all_valid_files": label_counts(labelled),
        "rejected": [{"name": r.name, "reason": r.reason} for r in result.with_status(REJECTED)],
        "warnings": [
            {"name": r.name, "status": r.status, "warning": r.warning}
            for r in result.records
            if r.warning
        ],
        "duplicate_groups": [
            {
                "sha256": g.sha256,
                "conflicting": g.conflicting,
                "kept": g.kept,
                "files": [
                    {"name": n, "status": by_name[n].status, "labels": by_name[n].labels}
                    for n in g.names
                ],
            }
            for g in result.duplicate_groups
        ],
        "duplicate_group_count": len(result.duplicate_groups),
        "conflicting_group_count": sum(g.conflicting for g in result.duplicate_groups),
    }


def count_table(counts: dict[str, int], header: str, unit: str = "files") -> list[str]:
    """Markdown rows: each key with its count (of ``unit``) and share."""
    total = sum(counts.values()) or 1
    lines = [f"| {header} | {unit} | share |", "| --- | ---: | ---: |"]
    lines += [f"| {k} | {v} | {100 * v / total:.1f}% |" for k, v in counts.items()]
    return lines


def _labels_text(labels: list[int] | tuple[int, ...] | None) -> str:
    if labels is None:
        return "-"
    age, gender, race = labels
    return f"{age}, {GENDER_NAMES[gender]}, {RACE_NAMES[race]}"


def audit_markdown(summary: dict) -> str:
    """The audit summary as a Markdown report."""
    s = summary["status_counts"]
    lines = [
        f"# Audit of `{summary['directory']}`",
        "",
        f"- files: {summary['files']}",
        f"- kept: {s[KEPT]} (one copy per byte-identical group whose labels agree)",
        f"- rejected: {s[REJECTED]}",
        f"- duplicate groups (byte-identical): {summary['duplicate_group_count']}, "
        f"of which {summary['conflicting_group_count']} have conflicting labels",
        f"- extra copies dropped (labels agree): {s[DUPLICATE]}",
        f"- files excluded because their copies' labels conflict: {s[CONFLICT]}",
        f"- kept with a warning: {len(summary['warnings'])}",
        "",
        "## Kept files by label",
        "",
    ]
    counts = summary["counts_kept"]
    lines += count_table(counts["age_band"], "age band") + [""]
    lines += count_table(counts["gender"], "gender") + [""]
    lines += count_table(counts["race"], "race") + [""]
    lines += ["## Rejected files", ""]
    lines += [f"- `{r['name']}`: {r['reason']}" for r in summary["rejected"]] or ["none"]
    lines += ["", "## Warnings (file kept)", ""]
    lines += [f"- `{w['name']}` ({w['status']}): {w['warning']}" for w in summary["warnings"]]
    lines += [] if summary["warnings"] else ["none"]
    lines += [
        "",
        "## Duplicate groups",
        "",
        "| # | conflicting | file | labels (age, gender, race) | went to |",
        "| ---: | --- | --- | --- | --- |",
    ]
    for i, group in enumerate(summary["duplicate_groups"], 1):
        for f in group["files"]:
            lines.append(
                f"| {i} | {'yes' if group['conflicting'] else 'no'} | `{f['name']}` | "
                f"{_labels_text(f['labels'])} | {f['status']} |"
            )
    if not summary["duplicate_groups"]:
        lines.append("| - | - | none | - | - |")
    return "\n".join(lines) + "\n"
