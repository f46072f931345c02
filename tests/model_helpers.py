"""Tiny attribute models for tests: random (any input) and constant (known outputs).

``write_random_model`` prefers the lead's ``faceattrs.training.export.export_random``
when it exists; otherwise it builds a small ONNX graph with onnx.helper:
input -> GlobalAveragePool -> Flatten -> per head MatMul + Add -> Softmax, with the
spec in the ``faceattrs_spec`` metadata.

Import the fixtures into a test module: ``from model_helpers import random_model_path``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceattrs.spec import METADATA_KEY, ModelSpec


def write_random_model(path: Path, spec: ModelSpec | None = None, seed: int = 0) -> Path:
    """A randomly initialised model whose outputs depend on the input colours."""
    try:
        from faceattrs.training.export import export_random
    except ImportError:
        export_random = None
    if export_random is not None:
        return Path(export_random(path, spec=spec, seed=seed))
    spec = spec or ModelSpec()
    rng = np.random.default_rng(seed)
    widths = (spec.max_age + 1, len(spec.genders), len(spec.races))
    heads = [(rng.normal(0, 3, (3, w)), rng.normal(0, 1, w)) for w in widths]
    return _write_graph(path, spec, heads)


def write_constant_model(
    path: Path,
    age_probs: np.ndarray,
    gender_probs: np.ndarray,
    race_probs: np.ndarray,
    spec: ModelSpec | None = None,
) -> Path:
    """A model that outputs these probabilities for every crop (float32 softmax of logs)."""
    spec = spec or ModelSpec()
    heads = []
    for probs in (age_probs, gender_probs, race_probs):
        logits = np.log(np.clip(np.asarray(probs, np.float64), 1e-30, None))
        heads.append((np.zeros((3, len(logits))), logits))
    return _write_graph(path, spec, heads)


def _write_graph(path: Path, spec: ModelSpec, heads, metadata: bool = True) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    size = spec.input_size
    nodes = [
        helper.make_node("GlobalAveragePool", [spec.input_name], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"], axis=1),
    ]
    initializers = []
    outputs = []
    for name, (weight, bias) in zip(spec.outputs, heads, strict=True):
        initializers += [
            numpy_helper.from_array(np.asarray(weight, np.float32), f"{name}_w"),
            numpy_helper.from_array(np.asarray(bias, np.float32), f"{name}_b"),
        ]
        nodes += [
            helper.make_node("MatMul", ["features", f"{name}_w"], [f"{name}_mm"]),
            helper.make_node("Add", [f"{name}_mm", f"{name}_b"], [f"{name}_logits"]),
            helper.make_node("Softmax", [f"{name}_logits"], [name], axis=1),
        ]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", len(bias)]))
    graph = helper.make_graph(
        nodes,
        "faceattrs_test_model",
        [helper.make_tensor_value_info(spec.input_name, TensorProto.FLOAT, ["N", 3, size, size])],
        outputs,
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, {METADATA_KEY: spec.to_json()})
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_model_without_spec(path: Path) -> Path:
    """A valid ONNX model lacking the faceattrs metadata."""
    spec = ModelSpec()
    widths = (spec.max_age + 1, len(spec.genders), len(spec.races))
    heads = [(np.zeros((3, w)), np.zeros(w)) for w in widths]
    return _write_graph(path, spec, heads, metadata=False)


@pytest.fixture(scope="session")
def random_model_path(tmp_path_factory) -> Path:
    """A randomly initialised attribute model with the default spec."""
    pytest.importorskip("onnx", reason="onnx (dev extra) is needed to build test models")
    # One file per test session even when several modules import this fixture.
    path = tmp_path_factory.getbasetemp() / "faceattrs-models" / "random.onnx"
    return path if path.is_file() else write_random_model(path)
