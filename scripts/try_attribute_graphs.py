"""Issue #16, speed: can the shipped attribute network run faster as another graph?

The default model averages the face and its mirror image: its graph runs the network twice,
one branch per view. This script exports the same weights and temperatures (a training
checkpoint of the shipped run) in other forms, quantises each as ``faceattrs quantize``
does with a variant of ONNX Runtime's settings, and prints each file's largest probability
difference from the shipped float model and its throughput at batch 1, 6 and 32 (two
threads, files taken in turn, median of rounds):

- ``shipped``: src/faceattrs/models/attributes.onnx as it is;
- ``one pass``: the face and its mirror stacked into one batch of 2N for one pass;
- ``one pass, Add int8``: also the residual additions quantised;
- ``one pass, per tensor``: one weight scale per convolution instead of per channel;
- ``one pass, QOperator``: QLinearConv operators instead of Q/DQ pairs.

    python scripts/try_attribute_graphs.py runs/wide64/best.pt --out /tmp/graphs  # ~2 min

(The checkpoint: ``faceattrs train --config reports/training/wide64/config.json --out
runs/wide64``, or ``scripts/checkpoint_from_onnx.py`` from the shipped float model.) Needs
the train extra and ../shared (the calibration faces). Accuracy of a file: ``faceattrs
evaluate-cross --model NAME=FILE --split val --no-crops``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantFormat

from faceattrs.pipeline.attributes import DEFAULT_MODEL_PATH, AttributeModel
from faceattrs.pipeline.runtime import session_options
from faceattrs.training import quantize
from faceattrs.training.export import (
    load_checkpoint_net,
    save_with_spec,
    store_weights_as_float16,
    trace_to_onnx,
)
from faceattrs.training.model import ProbabilityModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine_info import cpu_model  # noqa: E402

FLOAT_MODEL = DEFAULT_MODEL_PATH.with_name("attributes_fp32.onnx")
VARIANTS = {  # name -> quantize_static arguments changed from `faceattrs quantize`'s
    "one pass": {},
    "one pass, Add int8": {"op_types_to_quantize": ["Conv", "Relu", "Add"]},
    "one pass, per tensor": {"per_channel": False},
    "one pass, QOperator": {"quant_format": QuantFormat.QOperator},
}


class OnePass(ProbabilityModel):
    """Face and mirror in one batch of 2N, their probabilities averaged."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = x.shape[0]
        probs = self._probs(self.net(torch.cat([x, torch.flip(x, dims=[3])])))
        return tuple((p[:n] + p[n:]) / 2 for p in probs)


def export_one_pass(checkpoint: Path, target: Path) -> Path:
    """The checkpoint's network with the shipped float model's spec and temperatures."""
    net, _, _ = load_checkpoint_net(checkpoint)
    spec = AttributeModel(FLOAT_MODEL).spec
    t = spec.extra["temperatures"]  # fitted by `faceattrs export --calibrate`
    temperatures = (t["age"], t["gender"], t["race"])
    wrapper = OnePass(net, flip=True, temperatures=temperatures).eval()
    model = trace_to_onnx(wrapper, torch.zeros(1, 3, spec.input_size, spec.input_size), spec)
    store_weights_as_float16(model)
    return save_with_spec(model, spec, target, "one-pass flip averaging (experiment)")


def throughput(paths: dict[str, Path], rounds: int = 5) -> dict[str, dict[int, float]]:
    """Faces per second per file and batch size, the files taken in turn each round."""
    sessions = {
        name: ort.InferenceSession(str(p), session_options(2), providers=["CPUExecutionProvider"])
        for name, p in paths.items()
    }
    rng = np.random.default_rng(0)
    out: dict[str, dict[int, float]] = {name: {} for name in paths}
    for batch in (1, 6, 32):
        x = {"input": rng.random((batch, 3, 64, 64), dtype=np.float32)}
        runs = max(1, 500 // batch)
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(rounds):
            for name, session in sessions.items():
                session.run(None, x)
                start = time.perf_counter()
                for _ in range(runs):
                    session.run(None, x)
                times[name].append((time.perf_counter() - start) / (runs * batch))
        for name in paths:
            out[name][batch] = 1.0 / statistics.median(times[name])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="training checkpoint of the shipped run")
    parser.add_argument("--out", type=Path, required=True, help="folder for the files")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    float_one_pass = export_one_pass(args.checkpoint, args.out / "one_pass_fp32.onnx")
    spec = AttributeModel(FLOAT_MODEL).spec
    crops = quantize.calibration_crops(
        spec, args.shared / "utkface", args.shared / "fairface", progress=False
    )
    inputs = spec.preprocess(np.ascontiguousarray(crops[..., ::-1]))
    files = {"shipped": DEFAULT_MODEL_PATH}
    for i, (name, options) in enumerate(VARIANTS.items()):
        target = args.out / f"v{i}.onnx"
        files[name] = quantize.quantize_inputs(
            float_one_pass, target, inputs, "input", None, options
        )
    print(f"machine: {cpu_model()}")
    float_diff = quantize.compare(FLOAT_MODEL, float_one_pass, crops)
    print(f"one-pass float vs shipped float, largest differences: {json.dumps(float_diff)}")
    rates = throughput(files)
    for name, path in files.items():
        diff = quantize.compare(FLOAT_MODEL, path, crops)
        print(
            f"{name} ({path}): faces/s at batch 1 / 6 / 32: "
            f"{' / '.join(f'{rates[name][b]:.0f}' for b in (1, 6, 32))}; vs shipped float: "
            f"age {diff['age_years']:.2f} y, gender {diff['gender_prob']:.3f}, "
            f"race {diff['race_prob']:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
