"""``faceattrs train``, ``export``, ``quantize`` and ``baseline`` (torch is imported lazily)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faceattrs.cli.common import positive_int
from faceattrs.training.config import TrainConfig, add_bf16_option
from faceattrs.training.expression_commands import register_expression


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ValueError("training needs the [train] extra: pip install -e '.[train]'") from exc


def _train(args: argparse.Namespace) -> int:
    _require_torch()
    from faceattrs.training.train import TrainConfig, train, with_overrides

    cfg = TrainConfig()
    if args.config:
        raw = json.loads(Path(args.config).read_text())
        cfg = TrainConfig(**raw)
    cfg = with_overrides(
        cfg,
        data=args.data,
        split=args.split,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        limit=args.limit,
        threads=args.threads,
        datasets=args.datasets,
        source=args.source,
        fairface_data=args.fairface_data,
        fairface_split=args.fairface_split,
        cache_dir=args.cache_dir,
        init=args.init,
        teacher=args.teacher,
        distill_weight=args.distill_weight,
        group_balance=args.group_balance,
        group_dro=args.group_dro,
        bf16=args.bf16,
    )
    if not Path(cfg.data).is_dir():
        raise ValueError(f"data folder not found: {cfg.data}")
    out = train(cfg, args.out, resume=not args.restart)
    print(f"run written to {out}")
    return 0


def _calibrate(net, spec, ckpt: dict, flip: bool):
    """Temperatures fitted on the run's validation faces; the spec records them."""
    from dataclasses import replace

    from faceattrs.training.calibration import fit_temperatures, validation_sets
    from faceattrs.training.config import TrainConfig

    sets = validation_sets(TrainConfig(**ckpt["train_config"]), spec)
    temps, report = fit_temperatures(net, sets, spec, flip)
    print(f"temperatures fitted on {sum(len(s) for s in sets)} validation faces: {temps}")
    for key, value in report.items():
        print(f"  {key}: {value:.4f}")
    extra = {**spec.extra, "temperatures": temps, "calibration_val": report}
    return (temps["age"], temps["gender"], temps["race"]), replace(spec, extra=extra)


def _export(args: argparse.Namespace) -> int:
    _require_torch()
    from dataclasses import replace

    from faceattrs.training.export import export_onnx, load_checkpoint_net

    net, spec, ckpt = load_checkpoint_net(args.checkpoint)
    if args.template:
        raw = json.loads(Path(args.template).read_text())
        spec = replace(spec, template=tuple(tuple(map(float, p)) for p in raw["template"]))
    temperatures = (1.0, 1.0, 1.0)
    if args.calibrate:
        temperatures, spec = _calibrate(net, spec, ckpt, flip=not args.no_flip)
    path = export_onnx(
        net,
        spec,
        args.output,
        flip=not args.no_flip,
        half_weights=args.half_weights,
        temperatures=temperatures,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train the multi-task attribute model (needs [train])",
        description="Train the age/gender/race network from scratch on CPU (torch). Writes "
        "checkpoints (last.pt, best.pt), config.json and per-epoch curves into --out; "
        "rerunning the same command resumes from last.pt. Options left out take the "
        "TrainConfig defaults shown here (or the --config file's values).",
    )
    train.add_argument("--data", help="UTKFace-style folder (default ../shared/data/utkface)")
    train.add_argument(
        "--split", help="split folder with train/val/test.txt (default splits/utkface)"
    )
    train.add_argument("--out", required=True, help="run folder (checkpoints, config, curves)")
    train.add_argument("--config", help="JSON file with TrainConfig fields")
    defaults = TrainConfig()
    train.add_argument("--epochs", type=positive_int, help=f"epochs (default {defaults.epochs})")
    train.add_argument(
        "--batch-size", type=positive_int, help=f"batch size (default {defaults.batch_size})"
    )
    train.add_argument("--lr", type=float, help=f"peak learning rate (default {defaults.lr})")
    train.add_argument("--seed", type=int, help=f"random seed (default {defaults.seed})")
    train.add_argument(
        "--threads", type=positive_int, help=f"torch threads (default {defaults.threads})"
    )
    train.add_argument("--limit", type=int, help="use only the first N training images")
    train.add_argument(
        "--datasets",
        help="utkface (default), fairface or utkface+fairface (needs --source aligned)",
    )
    train.add_argument(
        "--source",
        choices=("crops", "aligned"),
        help="crops: UTKFace files (default); aligned: the caches of `faceattrs data align-cache`",
    )
    train.add_argument("--fairface-data", help="FairFace folder (default ../shared/data/fairface)")
    train.add_argument("--fairface-split", help="FairFace split folder (default splits/fairface)")
    train.add_argument("--cache-dir", help="folder of the aligned caches (default cache)")
    train.add_argument(
        "--init",
        help="start from this exported float model (e.g. src/faceattrs/models/attributes_fp32.onnx;"
        " same architecture, any input size) instead of random weights (default: random)",
    )
    train.add_argument(
        "--teacher",
        help="folder with teacher_<dataset>.npz soft labels (scripts/distill_teacher.py): each "
        "head also learns the teacher's probabilities (default: labels only)",
    )
    train.add_argument(
        "--distill-weight", type=float,
        help=f"weight of the teacher's KL term per head (default {defaults.distill_weight})",
    )  # fmt: skip
    train.add_argument(
        "--group-balance",
        type=float,
        help="weight the age and gender losses by (race x gender group count) ** -P: 1 weighs "
        f"every group the same, 0 every face (default {defaults.group_balance})",
    )
    train.add_argument(
        "--group-dro",
        type=float,
        help="online group DRO on the gender loss: each dataset x race x gender group's weight "
        "grows by exp(STEP x its batch loss) (Sagawa et al. 2020; reports/training/dro64); 0 "
        f"turns it off (default {defaults.group_dro})",
    )
    add_bf16_option(train)
    train.add_argument("--restart", action="store_true", help="ignore an existing last.pt")
    train.set_defaults(func=_train)

    export = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX (needs [train])",
        description="Write a trained checkpoint as an ONNX attribute model with its ModelSpec "
        "(preprocessing, labels, alignment template) in the metadata.",
    )
    export.add_argument("checkpoint", help="a best.pt or last.pt from a run folder")
    export.add_argument("-o", "--output", required=True, help="ONNX file to write")
    export.add_argument("--template", help="JSON with the measured alignment template")
    export.add_argument(
        "--no-flip", action="store_true",
        help="no test-time flip averaging (default: average the face and its mirror image)",
    )  # fmt: skip
    export.add_argument(
        "--half-weights", action="store_true", help="store weights as float16 (half the size)"
    )
    export.add_argument(
        "--calibrate",
        action="store_true",
        help="temperature-scale gender and race (NLL) and age (80%% interval coverage) on the "
        "run's validation faces, from its aligned caches (default: unscaled)",
    )
    export.set_defaults(func=_export)
    register_quantize(sub)
    register_baseline(sub)
    register_expression(sub)


def _quantize(args: argparse.Namespace) -> int:
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ValueError("quantize needs the onnx package: pip install -e '.[train]'") from exc
    from faceattrs.training.quantize import calibration_crops, compare, quantize_model

    for name in ("utkface_data", "fairface_data"):
        if not Path(getattr(args, name)).is_dir():
            raise ValueError(f"data folder not found: {getattr(args, name)}")
    from faceattrs.pipeline.attributes import AttributeModel

    spec = AttributeModel(args.model, threads=1).spec
    crops = calibration_crops(spec, args.utkface_data, args.fairface_data, args.samples)
    command = f"faceattrs quantize {args.model} {args.output} --samples {args.samples}"
    path = quantize_model(args.model, args.output, crops, {"command": command})
    diffs = compare(args.model, path, crops)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) from {len(crops)} calibration faces")
    print("largest change on them: " + ", ".join(f"{k} {v:.4f}" for k, v in diffs.items()))
    return 0


def register_quantize(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "quantize",
        help="int8 version of an exported attribute model (needs onnx)",
        description="Static int8 quantisation (ONNX Runtime QDQ, per-channel weights) of a "
        "float attribute model, calibrated on aligned training faces; prints the largest "
        "change of the outputs on those faces.",
    )
    parser.add_argument("model", help="float ONNX model written by `faceattrs export`")
    parser.add_argument("output", help="int8 ONNX file to write")
    parser.add_argument(
        "--samples", type=int, default=300, help="calibration faces per dataset (default 300)"
    )
    parser.add_argument(
        "--utkface-data", default="../shared/data/utkface", help="default ../shared/data/utkface"
    )
    parser.add_argument(
        "--fairface-data", default="../shared/data/fairface", help="default ../shared/data/fairface"
    )
    parser.set_defaults(func=_quantize)


def _baseline(args: argparse.Namespace) -> int:
    _require_torch()
    from faceattrs.training.baseline import BaselineConfig, run_baseline

    cfg = BaselineConfig(
        epochs=args.epochs, patience=args.patience, limit=args.limit or 0, bf16=args.bf16
    )
    metrics = run_baseline(cfg, args.out, args.report, resume=not args.restart)
    print(json.dumps({k: metrics[k] for k in ("age_mae", "gender_accuracy", "race_accuracy")}))
    return 0


def register_baseline(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "baseline",
        help="train and evaluate the seed's CNNs (needs [train])",
        description="Retrain the seed project's three CNNs (one per attribute, UTKFace crops) "
        "as the in-run anchor of the benchmark table, and write their test report. Each "
        "epoch is checkpointed: rerunning the same command resumes (--epochs may grow).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", default="runs/seed_baseline", help="run folder")
    parser.add_argument("--report", default="reports/baseline", help="report folder")
    parser.add_argument("--epochs", type=positive_int, default=10, help="epochs per model")
    parser.add_argument(
        "--patience", type=positive_int, default=3, help="stop after N epochs without gain"
    )
    parser.add_argument("--limit", type=int, help="use only the first N training images")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="start again (default: resume each model from RUN/last_<head>.pt)",
    )
    add_bf16_option(parser)
    parser.set_defaults(func=_baseline)
