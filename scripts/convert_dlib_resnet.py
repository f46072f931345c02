"""Convert dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1.dat) to ONNX.

The weights come from the PyPI package ``face_recognition_models`` (0.3.0; CC0; the
model's author, Davis King, put it in the public domain). dlib's DNN serialization is
parsed here with numpy (no dlib needed): integers are dlib's packed form (a control byte
holding the byte count and sign, then little-endian bytes), floats a packed mantissa and
exponent, tensors a version and shape followed by raw little-endian float32, booleans one
ASCII character. A network is written outermost layer first: the loss, then one version
number per layer down to the input layer (2: a layer with parameters or an operation, 1:
a tag or skip, 3: the layer on top of the input), then the input layer's settings, then
each layer's details from the input upwards. Tags and skips leave no details, so the
converter checks the stream against the network definition of dlib's
``dnn_face_recognition_ex.cpp`` (a 29-conv ResNet: 150x150 RGB in, 128 floats out).

The ONNX graph (opset 17): input ``input`` (N, 3, 150, 150) float32 RGB, normalised as
dlib does, ``(pixel - mean_rgb) / 256``, which is the faceattrs ``ModelSpec`` preprocessing
``(x / 255 - mean) / std`` with ``mean = mean_rgb / 255`` and ``std = 256 / 255``; output
``descriptor`` (N, 128), dlib's descriptor as is (NOT L2-normalised; dlib compares them
by Euclidean distance, same person below 0.6). Each affine (frozen batch norm) layer is
folded into the convolution before it. dlib's residual additions of tensors of different
sizes (zero-extended at the end of each axis) become explicit Pad ops.

Run from the repository root::

    pip install face_recognition_models==0.3.0   # or pass --dat
    python scripts/convert_dlib_resnet.py

Writes src/faceattrs/models/face_embedding.onnx (about 22 MB). The spec in its metadata
(key ``faceattrs_embedding_spec``) takes the alignment template from
src/faceattrs/models/embedding_template.json (scripts/measure_embedding_template.py).
Parity against dlib itself: scripts/check_embedding_parity.py.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "faceattrs" / "models"
DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
METADATA_KEY = "faceattrs_embedding_spec"
OPSET = 17
# Same person below this Euclidean distance of L2-normalised descriptors, calibrated by
# scripts/eval_embedding.py (reports/identity/conversion.md).
SAME_PERSON_THRESHOLD = 0.37
# The detector keypoints faces are aligned by (3 or 4 of them). Eyes and mouth alone match
# dlib's own chips a little better, eyes, nose and mouth separate people a little better;
# the ears are often hidden (reports/identity/conversion.md).
ALIGN_POINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre")

# ---------------------------------------------------------------- dlib's serialization


class DlibFormatError(ValueError):
    """The byte stream is not the expected dlib serialization."""


class Reader:
    """Sequential reader for dlib's serialize() format."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def integer(self) -> int:
        ctrl = self.data[self.pos]
        size, negative = ctrl & 0x0F, bool(ctrl & 0x80)
        if not 1 <= size <= 8 or ctrl & 0x70:
            raise DlibFormatError(f"bad integer control byte {ctrl:#x} at {self.pos}")
        raw = self.data[self.pos + 1 : self.pos + 1 + size]
        self.pos += 1 + size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def expect_int(self, expected: int, what: str) -> None:
        got = self.integer()
        if got != expected:
            raise DlibFormatError(f"{what}: expected {expected}, got {got} at {self.pos}")

    def boolean(self) -> bool:
        char = self.data[self.pos : self.pos + 1]
        self.pos += 1
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {char!r} at {self.pos - 1}")
        return char == b"1"

    def string(self) -> str:
        size = self.integer()
        text = self.data[self.pos : self.pos + size].decode("ascii")
        self.pos += size
        return text

    def real(self) -> float:
        """dlib's portable float: a packed int64 mantissa and int16 exponent."""
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:  # dlib's codes for inf, -inf, nan
            raise DlibFormatError(f"non-finite float at {self.pos}")
        return math.ldexp(mantissa, exponent)

    def tensor(self) -> np.ndarray:
        self.expect_int(2, "tensor version")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return values.reshape(shape)

    def alias_shape(self) -> tuple[int, int, int, int]:
        self.expect_int(1, "alias_tensor version")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


@dataclass
class Layer:
    """One layer's details as read from the stream."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc
    args: dict = field(default_factory=dict)


def read_details(reader: Reader) -> Layer:
    """Read one layer's details (the part written by the layer class itself)."""
    name = reader.string()
    if name == "con_4":
        params = reader.tensor().ravel()
        filters, rows, cols = reader.integer(), reader.integer(), reader.integer()
        stride = (reader.integer(), reader.integer())
        pads = (reader.integer(), reader.integer())
        w_shape, b_shape = reader.alias_shape(), reader.alias_shape()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            reader.real()
        n_w = int(np.prod(w_shape))
        if w_shape[0] != filters or w_shape[2:] != (rows, cols) or params.size != n_w + filters:
            raise DlibFormatError(f"con_ shapes disagree: {w_shape} {b_shape} {params.size}")
        weight = params[:n_w].reshape(w_shape)
        bias = params[n_w:]
        return Layer("con", {"weight": weight, "bias": bias, "stride": stride, "pads": pads})
    if name == "affine_":
        params = reader.tensor().ravel()
        gamma_shape, _ = reader.alias_shape(), reader.alias_shape()
        mode = reader.integer()
        n = int(np.prod(gamma_shape))
        if mode != 0 or params.size != 2 * n:  # 0: CONV_MODE, one gamma/beta per channel
            raise DlibFormatError(f"unsupported affine_ layer (mode {mode}, {params.size})")
        return Layer("affine", {"gamma": params[:n], "beta": params[n:]})
    if name in ("max_pool_2", "avg_pool_2"):
        size = (reader.integer(), reader.integer())
        stride = (reader.integer(), reader.integer())
        pads = (reader.integer(), reader.integer())
        return Layer(name[:-2], {"size": size, "stride": stride, "pads": pads})
    if name == "relu_":
        return Layer("relu")
    if name == "add_prev_":
        return Layer("add_prev")
    if name == "fc_2":
        outputs, inputs = reader.integer(), reader.integer()
        params = reader.tensor().ravel()
        reader.alias_shape(), reader.alias_shape()
        bias_mode = reader.integer()
        for _ in range(4):
            reader.real()
        if bias_mode != 1 or params.size != inputs * outputs:  # 1: FC_NO_BIAS
            raise DlibFormatError(f"unsupported fc_ layer (bias mode {bias_mode})")
        return Layer("fc", {"weight": params.reshape(inputs, outputs)})
    raise DlibFormatError(f"unsupported dlib layer {name!r}")


def read_layer_trailer(reader: Reader, on_input: bool) -> None:
    """The bookkeeping add_layer writes after the details: 3 flags, 3 (empty) tensors,
    and for the layer on the input (version 3) its sample expansion factor."""
    for _ in range(3):
        reader.boolean()
    for _ in range(3):
        if reader.tensor().size:
            raise DlibFormatError("network was saved without clean(): cached tensors present")
    if on_input:
        reader.expect_int(1, "sample expansion factor")


# ------------------------------------------------------------ the network definition


def _ares() -> list[str]:
    return ["tag1", "con", "affine", "relu", "con", "affine", "add_prev:tag1", "relu"]


def _ares_down() -> list[str]:
    return ["tag1", "con", "affine", "relu", "con", "affine", "tag2", "skip1", "avg_pool",
            "add_prev:tag2", "relu"]  # fmt: skip


def network_layout() -> list[str]:
    """dnn_face_recognition_ex.cpp's anet_type, input first; tags/skips included."""
    layout = ["con", "affine", "relu", "max_pool"]
    layout += _ares() * 3  # alevel4: 32 filters
    layout += _ares_down() + _ares() * 3  # alevel3: 64
    layout += _ares_down() + _ares() * 2  # alevel2: 128
    layout += _ares_down() + _ares() * 2  # alevel1: 256
    layout += _ares_down()  # alevel0: 256
    layout += ["avg_pool", "fc"]  # avg_pool_everything, fc_no_bias<128>
    return layout


@dataclass
class DlibNet:
    layout: list[str]
    layers: list[Layer]  # one per non-tag/skip entry of layout, input first
    mean_rgb: tuple[float, float, float]
    input_size: int
    margin: float
    distance_threshold: float


def parse_dat(data: bytes) -> DlibNet:
    """Parse dlib_face_recognition_resnet_model_v1.dat into layers, checking the layout."""
    reader = Reader(data)
    reader.expect_int(1, "loss layer version")
    if reader.string() != "loss_metric_2":
        raise DlibFormatError("not a loss_metric network")
    margin, threshold = reader.real(), reader.real()
    layout = network_layout()
    for entry in reversed(layout[1:]):  # outermost first; the first con sits on the input
        is_layer = not entry.startswith(("tag", "skip"))
        reader.expect_int(2 if is_layer else 1, f"version of {entry}")
    reader.expect_int(3, "version of the layer on the input")
    if reader.string() != "input_rgb_image_sized":
        raise DlibFormatError("unexpected input layer")
    mean_rgb = (reader.real(), reader.real(), reader.real())
    rows, cols = reader.integer(), reader.integer()
    if rows != cols:
        raise DlibFormatError(f"non-square input {rows}x{cols}")
    layers = []
    for entry in layout:
        if entry.startswith(("tag", "skip")):
            continue
        layer = read_details(reader)
        if layer.kind != entry.split(":")[0]:
            raise DlibFormatError(f"expected a {entry} layer, found {layer.kind}")
        read_layer_trailer(reader, on_input=not layers)
        layers.append(layer)
    if reader.pos != len(data):
        raise DlibFormatError(f"{len(data) - reader.pos} bytes left after the network")
    return DlibNet(layout, layers, mean_rgb, rows, margin, threshold)


# --------------------------------------------------------------------- ONNX graph


class GraphBuilder:
    """Builds the ONNX graph while tracking each tensor's static (C, H, W) shape."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out

    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray, stride, pads) -> str:
        _, h, w = self.shapes[x]
        kh, kw = weight.shape[2:]
        oh = (h + 2 * pads[0] - kh) // stride[0] + 1
        ow = (w + 2 * pads[1] - kw) // stride[1] + 1
        return self.node(
            "Conv",
            [x, self.const("w", weight), self.const("b", bias)],
            (weight.shape[0], oh, ow),
            kernel_shape=[kh, kw],
            strides=list(stride),
            pads=[pads[0], pads[1], pads[0], pads[1]],
        )

    def pool(self, op: str, x: str, size, stride, pads) -> str:
        c, h, w = self.shapes[x]
        if size == (0, 0):  # dlib's avg_pool_everything
            return self.node("GlobalAveragePool", [x], (c, 1, 1))
        if pads != (0, 0):
            raise DlibFormatError("padded pooling is not supported")  # not in this network
        oh = (h - size[0]) // stride[0] + 1
        ow = (w - size[1]) // stride[1] + 1
        return self.node(op, [x], (c, oh, ow), kernel_shape=list(size), strides=list(stride))

    def pad_to(self, x: str, shape: tuple[int, int, int]) -> str:
        """Zero-extend x at the end of the channel and spatial axes (dlib's add_prev)."""
        extra = [t - s for t, s in zip(shape, self.shapes[x], strict=True)]
        if not any(extra):
            return x
        pads = np.asarray([0, 0, 0, 0, 0, *extra], np.int64)
        return self.node("Pad", [x, self.const("pads", pads)], shape, mode="constant")

    def add(self, a: str, b: str) -> str:
        shape = tuple(max(s, t) for s, t in zip(self.shapes[a], self.shapes[b], strict=True))
        return self.node("Add", [self.pad_to(a, shape), self.pad_to(b, shape)], shape)


def build_onnx(net: DlibNet, spec: dict) -> onnx.ModelProto:
    """The ONNX model computing dlib's descriptor from the normalised input."""
    g = GraphBuilder()
    x = "input"
    g.shapes[x] = (3, net.input_size, net.input_size)
    tags: dict[str, str] = {}
    layers = iter(net.layers)
    pending_conv: Layer | None = None
    for entry in net.layout:
        kind, _, ref = entry.partition(":")
        if kind.startswith("tag"):
            tags[kind] = x
            continue
        if kind.startswith("skip"):
            x = tags["tag" + kind[4:]]
            continue
        layer = next(layers)
        if layer.kind == "con":
            pending_conv = layer
            continue
        if pending_conv is not None:  # fold the affine layer that follows a conv
            weight, bias = pending_conv.args["weight"], pending_conv.args["bias"]
            if layer.kind == "affine":
                gamma, beta = layer.args["gamma"], layer.args["beta"]
                weight = weight * gamma[:, None, None, None]
                bias = bias * gamma + beta
            x = g.conv(x, weight.astype(np.float32), bias.astype(np.float32),
                       pending_conv.args["stride"], pending_conv.args["pads"])  # fmt: skip
            pending_conv = None
            if layer.kind == "affine":
                continue
        if layer.kind == "affine":
            raise DlibFormatError("an affine layer not after a convolution")
        if layer.kind == "relu":
            x = g.node("Relu", [x], g.shapes[x])
        elif layer.kind in ("max_pool", "avg_pool"):
            op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
            pooled_from = x
            x = g.pool(op, x, layer.args["size"], layer.args["stride"], layer.args["pads"])
        elif layer.kind == "add_prev":
            x = g.add(x, tags[ref])
        elif layer.kind == "fc":
            # the map before the global pool, flattened: the accurate tier's heads read it
            features = g.node("Flatten", [pooled_from], g.shapes[pooled_from], axis=1)
            flat = g.node("Flatten", [x], g.shapes[x], axis=1)
            weight = layer.args["weight"]
            if weight.shape[0] != int(np.prod(g.shapes[x])):
                raise DlibFormatError(f"fc expects {weight.shape[0]} inputs, has {g.shapes[x]}")
            g.nodes.append(
                helper.make_node("MatMul", [flat, g.const("fc", weight)], ["descriptor"], "fc")
            )
    dims = [net.input_size, net.input_size]
    features_size = int(np.prod(g.shapes[pooled_from]))
    spec["features_output"], spec["features_size"] = "features", features_size
    g.nodes.append(helper.make_node("Identity", [features], ["features"], "features"))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, *dims])],
        [
            helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", 128]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", features_size]),
        ],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    model.producer_name = "faceattrs scripts/convert_dlib_resnet.py"
    helper.set_model_props(model, {METADATA_KEY: json.dumps(spec, sort_keys=True)})
    onnx.checker.check_model(model, full_check=True)
    return model


# ----------------------------------------------------------------------------- main


def default_dat() -> Path | None:
    """The .dat inside an installed face_recognition_models (found without importing it:
    its __init__ needs pkg_resources)."""
    found = importlib.util.find_spec("face_recognition_models")
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / "models" / DAT_NAME


def make_spec(
    net: DlibNet, template: dict | None, sha256: str, threshold: float, align_points: list[str]
) -> dict:
    """The embedding model's spec (preprocessing, alignment, distance) for the metadata."""
    mean = [round(v, 6) for v in net.mean_rgb]
    spec = {
        "input_size": net.input_size,
        "input_name": "input",
        "output_name": "descriptor",
        "channel_order": "RGB",
        "layout": "NCHW",
        "mean": [m / 255.0 for m in mean],
        "std": [256.0 / 255.0] * 3,
        "mean_rgb_pixels": mean,
        "pixel_scale_note": "(pixel - mean_rgb_pixels) / 256, i.e. (x/255 - mean) / std",
        "embedding_size": 128,
        "output_normalised": False,
        "reference_distance": "euclidean on the raw descriptor",
        "reference_threshold": round(net.distance_threshold, 6),
        "source": f"dlib {DAT_NAME} (face_recognition_models 0.3.0), sha256 {sha256}",
    }
    if template is not None:  # the keypoints the embedding head aligns (see ALIGN_POINTS)
        points = [template["points"].index(name) for name in align_points]
        spec["template"] = [template["template"][i] for i in points]
        spec["template_points"] = list(align_points)
    spec["distance"] = "euclidean between L2-normalised descriptors"
    spec["threshold"] = threshold
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dat", type=Path, default=None, help=f"path of {DAT_NAME}")
    parser.add_argument("--template", type=Path, default=MODELS / "embedding_template.json")
    parser.add_argument("--out", type=Path, default=MODELS / "face_embedding.onnx")
    parser.add_argument(
        "--threshold",
        type=float,
        default=SAME_PERSON_THRESHOLD,
        help="same person below this distance (see reports/identity)",
    )
    parser.add_argument(
        "--align-points", nargs="+", default=list(ALIGN_POINTS), metavar="NAME",
        help="detector keypoints to align by (3 or 4 of the template's points)",
    )  # fmt: skip
    args = parser.parse_args()
    dat = args.dat or default_dat()
    if dat is None or not dat.is_file():
        sys.exit(f"{DAT_NAME} not found: pip install face_recognition_models or pass --dat")
    data = dat.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    net = parse_dat(data)
    template = json.loads(args.template.read_text()) if args.template.is_file() else None
    if template is None:
        print(f"warning: {args.template} missing: no alignment template in the spec")
    spec = make_spec(net, template, sha256, args.threshold, args.align_points)
    model = build_onnx(net, spec)
    args.out.write_bytes(model.SerializeToString())
    n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"read {dat} (sha256 {sha256}): {len(net.layers)} layers, mean RGB {net.mean_rgb}, "
          f"threshold {net.distance_threshold:g}")  # fmt: skip
    print(f"wrote {args.out}: {len(model.graph.node)} nodes, {n_params} parameters, "
          f"{args.out.stat().st_size / 1e6:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
