"""Audit reports and split README of a FairFace folder (JSON-ready dict and Markdown)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from faceattrs.data.fairface import (
    AGE_BINS,
    GENDERS,
    IMAGE_SIZE,
    RACE5_OF_RACE7,
    RACE7,
    FairAudit,
    excluded_lines,
)
from faceattrs.data.report import STATUSES, count_table
from faceattrs.data.utkface import CONFLICT, DUPLICATE, KEPT, REJECTED, SEED, SPLIT_FRACTIONS
from faceattrs.spec import RACES


def label_counts(labels: Iterable[tuple[int, int, int]]) -> dict[str, dict[str, int] | int]:
    """Counts per age bin, gender, race (7 and mapped to 5), every key present."""
    labels = list(labels)
    ages = Counter(a for a, _, _ in labels)
    genders = Counter(g for _, g, _ in labels)
    races = Counter(r for _, _, r in labels)
    race5 = Counter(RACE5_OF_RACE7[r] for _, _, r in labels)
    return {
        "age_bin": {name: ages[i] for i, (name, _, _) in enumerate(AGE_BINS)},
        "gender": {name: genders[i] for i, name in enumerate(GENDERS)},
        "race7": {name: races[i] for i, name in enumerate(RACE7)},
        "race5": {name: race5[i] for i, name in enumerate(RACES)},
        "total": len(labels),
    }


def audit_summary(result: FairAudit) -> dict:
    """Everything the audit found: totals, label counts, every row or file not kept."""
    by_status = Counter(r.status for r in result.records)
    rows = [r for r in result.records if r.source != "unlisted"]
    return {
        "directory": result.directory.name,
        "rows": len(rows),
        "unlisted_files": len(result.records) - len(rows),
        "status_counts": {s: by_status.get(s, 0) for s in STATUSES},
        "age_text_counts": dict(sorted(Counter(r.raw_age for r in rows if r.raw_age).items())),
        "counts_kept": label_counts(r.labels for r in result.kept),
        "counts_all_labelled_rows": label_counts(
            r.labels for r in rows if r.labels is not None and r.status != REJECTED
        ),
        "not_kept": [
            {"name": r.name, "source": r.source, "status": r.status, "reason": r.reason}
            for r in result.records
            if r.status != KEPT
        ],
        "warnings": [
            {"name": r.name, "source": r.source, "warning": r.warning}
            for r in result.records
            if r.warning
        ],
        "duplicate_group_count": len(result.duplicate_groups),
        "conflicting_group_count": sum(g.conflicting for g in result.duplicate_groups),
    }


def audit_markdown(summary: dict, limit: int = 200) -> str:
    """The audit summary as Markdown (at most ``limit`` rows listed per section)."""
    s = summary["status_counts"]
    lines = [
        f"# Audit of FairFace folder `{summary['directory']}`",
        "",
        f"- CSV rows: {summary['rows']}; image files no row names: {summary['unlisted_files']}",
        f"- kept: {s[KEPT]}",
        f"- rejected (rows and unlisted files): {s[REJECTED]}",
        f"- byte-identical image groups: {summary['duplicate_group_count']}, of which "
        f"{summary['conflicting_group_count']} have conflicting labels",
        f"- repeated rows / extra identical images dropped: {s[DUPLICATE]}",
        f"- excluded because copies disagree on labels: {s[CONFLICT]}",
        f"- kept with a warning: {len(summary['warnings'])}",
        "- age texts as found in the CSV: "
        + ", ".join(f"`{k}` {v}" for k, v in summary["age_text_counts"].items()),
        "",
        "## Kept rows by label",
        "",
    ]
    counts = summary["counts_kept"]
    for key, header in (
        ("age_bin", "age bin"),
        ("gender", "gender"),
        ("race7", "race (FairFace)"),
        ("race5", "race (product classes)"),
    ):
        lines += count_table(counts[key], header, "rows") + [""]
    lines += ["## Not kept", ""]
    items = summary["not_kept"]
    lines += [
        f"- `{r['name']}` ({r['source']}): {r['status']}: {r['reason']}" for r in items[:limit]
    ]
    lines += [f"- ... and {len(items) - limit} more"] if len(items) > limit else []
    lines += [] if items else ["none"]
    lines += ["", "## Warnings (row kept)", ""]
    warned = summary["warnings"]
    lines += [f"- `{w['name']}` ({w['source']}): {w['warning']}" for w in warned[:limit]]
    lines += [f"- ... and {len(warned) - limit} more"] if len(warned) > limit else []
    lines += [] if warned else ["none"]
    return "\n".join(lines) + "\n"


def split_readme(result: FairAudit, splits: dict[str, list[str]], command: str = "") -> str:
    """A short Markdown description of a written FairFace split."""
    counts = Counter(r.status for r in result.records)
    conflicting = sum(g.conflicting for g in result.duplicate_groups)
    kept = {r.name: r.labels for r in result.kept}
    lines = [
        f"# FairFace split of `{result.directory.name}`",
        "",
        "Image paths relative to the folder (`train/1.jpg`), one per line, in natural order. "
        "Labels come from the folder's `fairface_label_*.csv`; load with "
        "`faceattrs.data.fairface.load_fairface_split(split_dir, name, data_dir)`. Reproduce with:",
        "",
        "```",
        command or "faceattrs data split-fairface DIR --out OUT_DIR",
        "```",
        "",
        f"- CSV rows and image files: {len(result.records)}",
        f"- kept: {counts[KEPT]} (train {len(splits['train'])}, val {len(splits['val'])}, "
        f"test {len(splits['test'])})",
        f"- rejected: {counts[REJECTED]}",
        f"- byte-identical groups: {len(result.duplicate_groups)} ({conflicting} with conflicting "
        f"labels); repeated rows / extra copies dropped: {counts[DUPLICATE]}; conflicting "
        f"copies excluded: {counts[CONFLICT]}",
        "",
        f"Images must be {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}. Stratified by age bin (9 FairFace bins; "
        "`03-Sep` = 3-9 and `Oct-19` = 10-19, mangled by a spreadsheet) x gender x race (7 "
        f"FairFace classes); fractions {'/'.join(str(f) for f in SPLIT_FRACTIONS)}; seed {SEED}; "
        "cells with fewer than 5 rows go to train. `excluded.txt` lists every row or file not in "
        "a split (`name<TAB>csv:line<TAB>reason`).",
        "",
        "| split | " + " | ".join(name for name, _, _ in AGE_BINS) + " |",
        "| --- |" + " ---: |" * len(AGE_BINS),
    ]
    for split_name, names in splits.items():
        ages = Counter(kept[n][0] for n in names)
        lines.append(
            f"| {split_name} | " + " | ".join(str(ages[i]) for i in range(len(AGE_BINS))) + " |"
        )
    lines += [
        "",
        "Data: FairFace (Kärkkäinen and Joo, WACV 2021), CC BY 4.0; not part of this repository.",
        "",
    ]
    return "\n".join(lines)


def write_split(
    out_dir: str | Path, result: FairAudit, splits: dict[str, list[str]], command: str = ""
) -> None:
    """Write train/val/test.txt, excluded.txt and README.md into ``out_dir``."""
    from faceattrs.data.utkface import write_split_files

    write_split_files(
        out_dir, splits, excluded_lines(result, splits), split_readme(result, splits, command)
    )
