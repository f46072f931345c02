"""What the ``faceattrs data`` subcommands share: dataset folder options, audit output,
the split run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _size(text: str) -> tuple[int, int] | None:
    if text.lower() in ("any", "none"):
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH or 'any', got {text!r}") from None
    return width, height


def write_text(path: str | None, text: str) -> None:
    """Write ``text`` to ``path`` (folders made) when a path is given; say so on stderr."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        print(f"wrote {path}", file=sys.stderr)


def emit_audit(args: argparse.Namespace, summary: dict, markdown) -> int:
    """Write the audit summary where asked (JSON, Markdown) and print one of them."""
    text_json = json.dumps(summary, indent=1) + "\n"
    text_md = markdown(summary)
    write_text(args.report_json, text_json)
    write_text(args.report_md, text_md)
    print(text_json if args.json else text_md, end="")
    return 0


def run_split(args: argparse.Namespace, dataset, action: str, write_split=None) -> int:
    """Audit, split and write the lists; ``dataset`` is the module (utkface or fairface),
    ``write_split`` its writer (default: ``dataset.write_split``)."""
    result = dataset.audit(args.dir, size=args.size, progress=args.progress)
    splits = dataset.split(result.records, seed=args.seed)
    command = f"faceattrs data {action} {args.dir} --out {args.out}"
    if args.seed != dataset.SEED:
        command += f" --seed {args.seed}"
    (write_split or dataset.write_split)(args.out, result, splits, command)
    counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    excluded = len(dataset.excluded_lines(result))
    print(f"wrote {args.out}: {counts}; excluded {excluded} (see excluded.txt)")
    return 0


def add_dir_args(parser: argparse.ArgumentParser, help: str, size: tuple[int, int]) -> None:
    """The dataset folder, the required image size and --progress."""
    parser.add_argument("dir", help=help)
    parser.add_argument(
        "--size",
        type=_size,
        default=size,
        metavar="WxH",
        help=f"required image size, or 'any' (default {size[0]}x{size[1]})",
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
