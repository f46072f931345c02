"""Turn an exported attribute model back into a training checkpoint (weights, spec, config),
so `faceattrs export CHECKPOINT --calibrate` can temperature-scale a shipped model whose run
folder is gone, and `faceattrs train --init` is not the only way back to torch.

    python scripts/checkpoint_from_onnx.py src/faceattrs/models/attributes_fp32.onnx \
        --config reports/training/mixed64/config.json --source-size 112 \
        -o runs/mixed64/from_onnx.pt

The batch norms are re-derived on training faces of the run's aligned caches (the exported
function is unchanged in eval mode; see faceattrs.training.warmstart).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from faceattrs.pipeline.runtime import OnnxModel
from faceattrs.spec import METADATA_KEY, ModelSpec
from faceattrs.training.config import NetConfig, TrainConfig
from faceattrs.training.model import FaceAttrNet
from faceattrs.training.sources import (
    aligned_cache_path,
    aligned_sets,
    dataset_dirs,
    parse_datasets,
)
from faceattrs.training.warmstart import calibration_batch, load_exported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="exported float model (attributes_fp32.onnx)")
    parser.add_argument("--config", required=True, help="the run's config.json")
    parser.add_argument("--source-size", type=int, help="aligned cache size to use instead")
    parser.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
    args = parser.parse_args()

    cfg = TrainConfig(**json.loads(Path(args.config).read_text()))
    if args.source_size:
        cfg = replace(cfg, source_size=args.source_size)
    spec = ModelSpec.from_json(json.dumps(OnnxModel(args.model).spec_json(METADATA_KEY)))
    net_cfg = NetConfig.from_dict(cfg.net)
    first = parse_datasets(cfg.datasets)[0]
    dirs, cache = dataset_dirs(cfg, first), aligned_cache_path(cfg, first)
    faces = aligned_sets(first, ("train",), *dirs, cache, spec.max_age)[0]
    calibration = calibration_batch(faces.images, spec, cfg.seed)
    net = FaceAttrNet(net_cfg)
    load_exported(net, args.model, calibration)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = net.state_dict()
    torch.save(
        {
            "model_state": state,
            "ema_state": state,
            "epoch": -1,
            "history": [],
            "net_config": net_cfg.to_dict(),
            "spec": spec.to_json(),
            "train_config": asdict(cfg),
            "source_model": str(args.model),
        },
        out,
    )
    print(f"wrote {out} from {args.model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
