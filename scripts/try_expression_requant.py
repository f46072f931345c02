"""Experiment: the expression model quantised with each convolution and its ReLU together.

The shipped int8 model (``faceattrs export-expression ... --int8``) quantises only the
convolutions, so every convolution's output is quantised, dequantised, passed through the
ReLU and quantised again before the next one: ONNX Runtime keeps a DequantizeLinear and a
QuantizeLinear between every two convolutions. Quantising ``Conv`` and ``Relu`` lets the
convolution write the ReLU's quantised output directly. This script rebuilds both from
``expression_fp32.onnx`` with the same calibration (the first must equal the shipped model)
and prints their speed on six faces and their outputs on FER2013 val crops. It changes
nothing in the package; shipping such a model is a model change (re-evaluate, parity test).

    python scripts/try_expression_requant.py --out /tmp/requant
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "faceattrs" / "models"


def quantize(fp32: Path, out: Path, calibration: np.ndarray, input_name: str, ops: list[str]):
    """``fp32`` quantised as ``faceattrs.training.quantize.quantize_inputs`` does, with
    ``ops`` as the operator types to quantise."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = ({input_name: x[None]} for x in calibration)

        def get_next(self) -> dict | None:
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.onnx"
        quant_pre_process(str(fp32), str(folded), skip_symbolic_shape=True)
        quantize_static(
            str(folded), str(out), Reader(), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=ops, per_channel=True, reduce_range=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibTensorRangeSymmetric": False},
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    import onnx
    import onnxruntime as ort

    from faceattrs.data.fer import list_fer_split, read_gray
    from faceattrs.spec import METADATA_KEY, ExpressionSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the two models")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fer2013")
    parser.add_argument("--samples", type=int, default=500, help="calibration crops")
    parser.add_argument("--val-every", type=int, default=10, help="every k-th val crop")
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args(argv)

    fp32 = MODELS / "expression_fp32.onnx"
    meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
    spec = ExpressionSpec.from_json(meta[METADATA_KEY])
    train = list_fer_split(args.data, "train")
    step = max(1, len(train) // args.samples)
    picked = train[::step][: args.samples]
    calibration = spec.preprocess(np.stack([read_gray(args.data / "train" / p) for p, _ in picked]))
    val = list_fer_split(args.data, "val")[:: args.val_every]
    x_val = spec.preprocess(np.stack([read_gray(args.data / "val" / p) for p, _ in val]))
    y_val = np.array([label for _, label in val])
    args.out.mkdir(parents=True, exist_ok=True)
    models = {
        "shipped int8": MODELS / "expression.onnx",
        "float": fp32,
        "rebuilt, Conv": quantize(fp32, args.out / "conv.onnx", calibration, spec.input_name,
                                  ["Conv"]),
        "rebuilt, Conv+Relu": quantize(fp32, args.out / "conv_relu.onnx", calibration,
                                       spec.input_name, ["Conv", "Relu"]),
    }  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    sessions = {
        name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for name, path in models.items()
    }
    probs = {name: s.run(None, {spec.input_name: x_val})[0] for name, s in sessions.items()}
    six = x_val[:6]
    cpu: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.repeats):  # the models take turns
        for name, session in sessions.items():
            c0 = time.process_time()
            session.run(None, {spec.input_name: six})
            cpu[name].append((time.process_time() - c0) * 1000)
    print(f"{len(val)} FER val crops, {len(calibration)} calibration crops")
    for name in sessions:
        p = probs[name]
        print(
            f"{name}: {statistics.median(cpu[name]):.2f} ms CPU for 6 faces; val accuracy "
            f"{(p.argmax(1) == y_val).mean():.4f}; max |p - shipped| "
            f"{np.abs(p - probs['shipped int8']).max():.4f}, max |p - float| "
            f"{np.abs(p - probs['float']).max():.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
