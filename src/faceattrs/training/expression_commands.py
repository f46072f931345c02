"""``faceattrs train-expression`` and ``export-expression`` (torch is imported lazily)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from faceattrs.training.config import add_bf16_option


def _train_expression(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ValueError("training needs the [train] extra: pip install -e '.[train]'") from exc
    from faceattrs.training.expression import (
        ExpressionTrainConfig,
        train_expression,
        with_overrides,
    )

    cfg = ExpressionTrainConfig()
    if args.config:
        cfg = ExpressionTrainConfig(**json.loads(Path(args.config).read_text()))
    cfg = with_overrides(
        cfg,
        data=args.data,
        cache_dir=args.cache_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        limit=args.limit,
        init_onnx=args.init,
        pipeline_prob=args.pipeline_prob,
        pipeline_align_border=args.pipeline_align_border,
        bf16=args.bf16,
        teacher_onnx=args.teacher,
        distill_weight=args.distill_weight,
    )
    if args.widths:
        from faceattrs.training.slim import parse_widths

        cfg = replace(cfg, net={**cfg.net, "widths": parse_widths(args.widths)})
    if not Path(cfg.data).is_dir():
        raise ValueError(f"data folder not found: {cfg.data}")
    out = train_expression(cfg, args.out, resume=not args.restart)
    print(f"run written to {out}")
    return 0


def _export_expression(args: argparse.Namespace) -> int:
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise ValueError("export needs the [train] extra: pip install -e '.[train]'") from exc
    from faceattrs.data.fer import load_fer_split
    from faceattrs.training.expression_export import (
        export_expression_onnx,
        load_expression_checkpoint,
        quantize_expression,
        spec_for,
    )

    net, config = load_expression_checkpoint(args.checkpoint)
    spec = spec_for(config, args.template)
    fp32 = export_expression_onnx(net, spec, args.output, flip=not args.no_flip)
    print(f"wrote {fp32} ({fp32.stat().st_size / 1e6:.2f} MB)")
    if args.int8:
        train = load_fer_split(args.data, "train")
        step = max(1, len(train) // args.samples)
        gray = train.gray[::step][: args.samples]
        command = "faceattrs export-expression " + shlex.join(sys.argv[2:])
        int8 = quantize_expression(fp32, args.int8, gray, command)
        print(f"wrote {int8} ({int8.stat().st_size / 1e6:.2f} MB) from {len(gray)} FER crops")
    return 0


def register_expression(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train-expression",
        help="train the expression model on FER2013 (needs [train])",
        description="Train the expression CNN on FER2013's train split, validating on val "
        "each epoch. Resumable: run the same command again to continue from RUN/last.pt; "
        "one JSON line per epoch in RUN/epochs.jsonl; RUN/best.pt holds the best epoch by "
        "val macro-F1. Unset options take ExpressionTrainConfig's defaults.",
    )
    train.add_argument(
        "--data", help="FER2013 folder with train/ and val/ (../shared/data/fer2013)"
    )
    train.add_argument("--out", required=True, help="run folder (checkpoints, epochs.jsonl)")
    train.add_argument("--config", help="JSON file with ExpressionTrainConfig fields")
    train.add_argument("--cache-dir", help="where the decoded splits are cached")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--threads", type=int)
    train.add_argument("--limit", type=int, help="use only N training images (smoke tests)")
    train.add_argument("--restart", action="store_true", help="ignore an existing last.pt")
    train.add_argument("--init", help="start from this exported float model (expression_fp32.onnx)")
    train.add_argument(
        "--pipeline-prob",
        type=float,
        help="chance a training face is taken as the product's detector and alignment crop it",
    )
    train.add_argument(
        "--pipeline-align-border",
        choices=("replicate", "constant"),
        help="the padding those crops are aligned from (default replicate; constant = black, "
        "which gives turned faces black corners, as the evaluation did before 2026-11-30)",
    )
    train.add_argument(
        "--widths",
        help="channels per stage, e.g. 24,48,96,192; with --init from a wider model, each "
        "convolution keeps its most important channels (training/slim.py)",
    )
    train.add_argument(
        "--teacher",
        help="distil this exported float model's probabilities beside the labels "
        "(expression_fp32.onnx)",
    )
    train.add_argument(
        "--distill-weight", type=float, help="the teacher's share of the loss (default 0.5)"
    )
    add_bf16_option(train)
    train.set_defaults(func=_train_expression)

    export = sub.add_parser(
        "export-expression",
        help="export an expression checkpoint to ONNX (needs [train])",
        description="Write the float ONNX model (spec in its metadata) and, with --int8, "
        "its int8 version calibrated on FER train crops.",
    )
    export.add_argument("checkpoint", help="best.pt or last.pt of a train-expression run")
    export.add_argument("-o", "--output", required=True, help="float ONNX file to write")
    export.add_argument("--int8", help="also write the int8 model here (calibrated on FER train)")
    export.add_argument(
        "--template", help="measured template JSON (scripts/measure_expression_template.py)"
    )
    export.add_argument(
        "--data", default="../shared/data/fer2013", help="FER2013 folder (default: %(default)s)"
    )
    export.add_argument(
        "--samples", type=int, default=500, help="calibration crops (default: %(default)s)"
    )
    export.add_argument("--no-flip", action="store_true", help="no test-time flip averaging")
    export.set_defaults(func=_export_expression)
