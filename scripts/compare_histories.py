"""Two training runs' validation figures side by side, epoch by epoch (Markdown table).

    python scripts/compare_histories.py reports/training/mixed64/history.json \
        reports/training/attr96/history.json --names "64 px" "96 px"

Reads the ``history.json`` that ``faceattrs train`` writes (one record per epoch); rows stop
at the shorter run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = (  # key, heading, shown as a percentage
    ("val_fairface_val_gender_acc", "FairFace gender", True),
    ("val_fairface_val_race_acc", "FairFace race (5)", True),
    ("val_fairface_val_age_bin_acc", "FairFace age bin", True),
    ("val_utkface_val_age_mae", "UTKFace MAE", False),
    ("val_utkface_val_gender_acc", "UTKFace gender", True),
    ("val_utkface_val_race_acc", "UTKFace race (5)", True),
)


def table(first: list[dict], second: list[dict], names: tuple[str, str]) -> str:
    """One row per epoch: each column as "first / second"."""
    head = [f"{heading} ({names[0]} / {names[1]})" for _, heading, _ in COLUMNS]
    lines = ["| epoch | " + " | ".join(head) + " |", "| --- |" + " --- |" * len(head)]
    for a, b in zip(first, second, strict=False):
        cells = [
            f"{100 * a[k]:.1f} / {100 * b[k]:.1f}" if pct else f"{a[k]:.2f} / {b[k]:.2f}"
            for k, _, pct in COLUMNS
        ]
        lines.append(f"| {a['epoch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--names", nargs=2, default=("first", "second"))
    args = parser.parse_args()
    runs = [json.loads(path.read_text()) for path in (args.first, args.second)]
    print(table(*runs, tuple(args.names)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
