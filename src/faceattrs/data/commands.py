"""``faceattrs data audit|split|balance|plot`` subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faceattrs.data import utkface
from faceattrs.data.command_helpers import add_dir_args, emit_audit, run_split, write_text

DEFAULT_SPLIT_DIR = "splits/utkface"


def cmd_audit(args: argparse.Namespace) -> int:
    from faceattrs.data.report import audit_markdown, audit_summary

    result = utkface.audit(args.dir, size=args.size, progress=args.progress)
    return emit_audit(args, audit_summary(result), audit_markdown)


def cmd_split(args: argparse.Namespace) -> int:
    return run_split(args, utkface, "split")


def _cap(text: str) -> tuple[str, int]:
    keys, sep, value = text.partition("=")
    try:
        from faceattrs.data.balance import parse_keys

        parse_keys(keys)
        cap = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected KEYS=N (e.g. age=400), got {text!r}: {exc}"
        ) from None
    if not sep or cap < 1:
        raise argparse.ArgumentTypeError(f"expected KEYS=N with N >= 1, got {text!r}")
    return keys, cap


def _age_cap(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an age or 'none', got {text!r}") from None


def _samples(args: argparse.Namespace) -> list[utkface.Sample]:
    if args.split_dir:
        return utkface.load_split(args.split_dir, args.split, args.dir)
    return utkface.audit(args.dir, size=args.size, progress=args.progress).samples()


def _balance(args: argparse.Namespace, samples: list[utkface.Sample]):
    """(after samples, after weights or None, report dict) for the balance options."""
    from faceattrs.data import balance as bal

    if args.mode == "weight":
        weights = bal.sample_weights(
            samples,
            by=args.by,
            age_cap=args.age_cap,
            power=args.power,
            max_weight=args.max_weight,
        )
        report = {
            "mode": "weight",
            "options": {
                "by": args.by,
                "age_cap": args.age_cap,
                "power": args.power,
                "max_weight": args.max_weight,
            },
            "before": bal.label_counts((s.age, s.gender, s.race) for s in samples),
            "after": bal.weighted_counts(samples, weights),
        }
        return samples, weights, report
    caps = dict(args.cap or [])
    result = bal.balance(samples, age_cap=args.age_cap, cap_per_cell=caps or None, seed=args.seed)
    report = {
        "mode": "drop",
        "options": {"age_cap": args.age_cap, "caps": caps, "seed": args.seed},
        "steps": result.steps,
        "before": result.before,
        "after": result.after,
    }
    return result.select(samples), None, report


def balance_markdown(report: dict) -> str:
    from faceattrs.data.balance import counts_markdown

    lines = [
        f"# Balancing ({report['mode']})",
        "",
        f"options: `{json.dumps(report['options'])}`",
        "",
    ]
    lines += [f"- {s['step']}: removed {s['removed']}" for s in report.get("steps", [])]
    title = "effective (weighted)" if report["mode"] == "weight" else "after"
    return "\n".join(lines) + "\n\n" + counts_markdown(report["before"], report["after"], title)


def cmd_balance(args: argparse.Namespace) -> int:
    samples = _samples(args)
    after, weights, report = _balance(args, samples)
    if args.out:
        if weights is None:
            text = "".join(f"{s.path.name}\n" for s in after)
        else:
            text = "".join(
                f"{s.path.name},{w:.6f}\n" for s, w in zip(samples, weights, strict=True)
            )
        write_text(args.out, text)
    print(json.dumps(report, indent=1) if args.json else balance_markdown(report), end="\n")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from faceattrs.data.plots import plot_distributions

    samples = _samples(args)
    after, weights, report = _balance(args, samples)
    title = "after re-weighting" if weights is not None else "after balancing"
    paths = plot_distributions(samples, after, args.out, after_weights=weights, after_title=title)
    write_text(str(Path(args.out) / "balance.md"), balance_markdown(report))
    for path in paths:
        print(f"wrote {path}")
    return 0


def _add_balance(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split-dir", help="use a split's file list (e.g. splits/utkface) instead of auditing DIR"
    )
    parser.add_argument(
        "--split", default="train", choices=utkface.SPLIT_NAMES, help="which split (default train)"
    )
    parser.add_argument(
        "--mode",
        choices=("drop", "weight"),
        default="drop",
        help="drop = age cap + random down-sampling; weight = loss weights",
    )
    parser.add_argument(
        "--age-cap",
        type=_age_cap,
        default=80,
        metavar="AGE",
        help="drop (weight 0) ages above AGE; 'none' keeps all (default 80)",
    )
    parser.add_argument(
        "--cap",
        type=_cap,
        action="append",
        metavar="KEYS=N",
        help="drop mode: keep at most N per cell of KEYS (age, age_band, gender, "
        "race), applied in order; repeatable, e.g. --cap age=400 --cap race=3500",
    )
    parser.add_argument("--seed", type=int, default=0, help="down-sampling seed (default 0)")
    parser.add_argument(
        "--by",
        default="age_band,gender,race",
        help="weight mode: cell keys (default age_band,gender,race)",
    )
    parser.add_argument(
        "--power",
        type=float,
        default=1.0,
        help="weight mode: weight = count(cell)^-power (default 1)",
    )
    parser.add_argument(
        "--max-weight",
        type=float,
        default=10.0,
        help="weight mode: largest/smallest weight ratio (default 10)",
    )


def _add_dir(parser: argparse.ArgumentParser) -> None:
    add_dir_args(
        parser, "UTKFace-style folder (AGE_GENDER_RACE_DATETIME.jpg.chip.jpg)", utkface.IMAGE_SIZE
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "data",
        help="audit, split, balance and plot face datasets",
        description="Dataset tools: audit a UTKFace or FairFace folder, write the "
        "deterministic split lists, balance, plot, and build the aligned training caches.",
    )
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    data_sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    p = data_sub.add_parser("audit", help="check every file: labels, image, duplicates")
    _add_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--report-md", metavar="PATH", help="also write the Markdown report here")
    p.add_argument("--report-json", metavar="PATH", help="also write the JSON report here")
    p.set_defaults(func=cmd_audit)

    p = data_sub.add_parser("split", help="deterministic stratified train/val/test split")
    _add_dir(p)
    p.add_argument("--out", required=True, help=f"output folder (e.g. {DEFAULT_SPLIT_DIR})")
    p.add_argument("--seed", type=int, default=utkface.SEED, help="shuffle seed (default 0)")
    p.set_defaults(func=cmd_split)

    p = data_sub.add_parser(
        "balance", help="age cap + down-sampling, or loss weights; prints counts before and after"
    )
    _add_dir(p)
    _add_balance(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument(
        "--out", metavar="PATH", help="write kept file names (drop) or name,weight lines (weight)"
    )
    p.set_defaults(func=cmd_balance)

    p = data_sub.add_parser(
        "plot", help="age/race/gender distribution figures, before and after balancing (PNG)"
    )
    _add_dir(p)
    _add_balance(p)
    p.add_argument("--out", default="reports/figures/data", help="output folder for the PNGs")
    p.set_defaults(func=cmd_plot)

    from faceattrs.data.cache_commands import register_align_cache
    from faceattrs.data.fairface_commands import register_fairface

    register_fairface(data_sub)
    register_align_cache(data_sub)
