"""What input resolution alone costs the attribute network (issue #16 item 1, "96-128 px,
measure which"): wide64's network, random weights, exported as the product exports it
(flip-averaged, float) at each input size, timed through the product's AttributeModel at
batch 32 with the sizes taking turns. Prints faces per second and the ratio to 64 px; the
shipped int8 model's own rate (bench/bench_analyze.py) times that ratio is what an int8
model at that size would reach.

    python scripts/resolution_cost.py                 # 64, 96, 128 px; about 30 s
    python scripts/resolution_cost.py --sizes 64 112 --turns 9
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CONFIG = ROOT / "reports" / "training" / "wide64" / "config.json"


def main() -> int:
    import torch

    from faceattrs.pipeline.attributes import AttributeModel
    from faceattrs.spec import ModelSpec
    from faceattrs.training.export import export_onnx
    from faceattrs.training.model import FaceAttrNet, NetConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--turns", type=int, default=5, help="timed turns per size")
    parser.add_argument("--faces", type=int, default=256, help="faces per timed turn")
    args = parser.parse_args()
    config = json.loads(CONFIG.read_text())
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            torch.manual_seed(0)
            net = FaceAttrNet(NetConfig(**config["net"])).eval()
            spec = ModelSpec.from_json(json.dumps({**config["spec"], "input_size": size}))
            models[size] = AttributeModel(export_onnx(net, spec, Path(tmp) / f"{size}.onnx"))
        rng = np.random.default_rng(0)
        rates: dict[int, list[float]] = {size: [] for size in models}
        for _ in range(args.turns):
            for size, model in models.items():
                crops = rng.integers(0, 256, (args.faces, size, size, 3), dtype=np.uint8)
                model.predict(crops[:32])  # warm
                start = time.perf_counter()
                model.predict(crops)
                rates[size].append(args.faces / (time.perf_counter() - start))
    from machine_info import cpu_model

    print(f"machine: {cpu_model()}")
    base = float(np.median(rates[args.sizes[0]]))
    for size, measured in rates.items():
        rate = float(np.median(measured))
        print(f"{size:4d} px: {rate:7.0f} faces/s at batch 32 (float), {rate / base:.2f}x "
              f"{args.sizes[0]} px")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
