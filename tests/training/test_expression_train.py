"""Expression training: augmentation, metrics, a resumable run, ONNX export and int8."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from faceattrs.spec import (  # noqa: E402
    EXPRESSIONS,
    METADATA_KEY,  # noqa: E402
    ExpressionSpec,
)
from faceattrs.training.expression import (  # noqa: E402
    ExpressionTrainConfig,
    augment_batch,
    class_weights,
    train_expression,
)
from faceattrs.training.expression_export import (  # noqa: E402
    export_expression_onnx,
    load_expression_checkpoint,
    quantize_expression,
)
from faceattrs.training.expression_model import (  # noqa: E402
    ExpressionNet,
    ExpressionNetConfig,
    ExpressionProbabilityModel,
)

TINY_NET = ExpressionNetConfig(widths=(4, 8), convs_per_stage=1, dropout=0.0).to_dict()


def write_fake_fer(root: Path, per_class: int = 6) -> Path:
    """A FER-like folder: train/ and val/ with 48x48 grayscale JPEGs per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label, name in enumerate(EXPRESSIONS):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                gray = rng.integers(0, 256, (48, 48), dtype=np.uint8)
                gray[:, : 6 * (label + 1)] = 255  # a class-dependent bar, learnable
                Image.fromarray(gray).save(folder / f"{i}.jpg", quality=95)
    return root


def trained_like(config: ExpressionNetConfig, seed: int = 0) -> ExpressionNet:
    """A network whose batch norms are not the identity, as after training (eval mode)."""
    torch.manual_seed(seed)
    net = ExpressionNet(config)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return net.eval()


def test_augment_keeps_shape_and_range():
    x = torch.rand(16, 1, 48, 48)
    gen = torch.Generator().manual_seed(0)
    y = augment_batch(x, ExpressionTrainConfig(), gen)
    assert y.shape == x.shape
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert not torch.allclose(x, y)


def test_augment_without_randomness_is_identity_or_flip():
    cfg = ExpressionTrainConfig(
        max_rotation_deg=0,
        max_shift=0,
        scale_range=(1, 1),
        contrast_range=(1, 1),
        max_brightness=0,
        erase_prob=0,
    )
    x = torch.rand(32, 1, 48, 48)
    y = augment_batch(x, cfg, torch.Generator().manual_seed(1))
    for a, b in zip(x, y, strict=True):
        same = torch.allclose(a, b, atol=1e-5)
        flipped = torch.allclose(torch.flip(a, dims=[2]), b, atol=1e-5)
        assert same or flipped
    assert not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(x, y, strict=True))


def test_class_weights_favour_rare_classes():
    w = class_weights(np.array([100, 10, 1000]), 0.5)
    assert w[1] > w[0] > w[2]
    assert float((w.numpy() * [100, 10, 1000]).sum()) == pytest.approx(1110, rel=1e-5)


def test_train_resume_export_and_quantize(tmp_path):
    data = write_fake_fer(tmp_path / "fer")
    cfg = ExpressionTrainConfig(
        data=str(data), cache_dir="", epochs=1, batch_size=16, net=TINY_NET, bf16=False
    )
    run = train_expression(cfg, tmp_path / "run")
    assert (run / "best.pt").exists() and (run / "last.pt").exists()
    from dataclasses import replace

    train_expression(replace(cfg, epochs=2), run)
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [0, 1]  # resumed, not restarted

    net, config = load_expression_checkpoint(run / "best.pt")
    spec = ExpressionSpec(mean=config["mean"], std=config["std"])
    path = export_expression_onnx(net, spec, tmp_path / "expr.onnx", flip=True)
    gray = np.random.default_rng(2).integers(0, 256, (7, 48, 48), dtype=np.uint8)
    x = spec.preprocess(gray)
    with torch.no_grad():
        expected = ExpressionProbabilityModel(net, flip=True)(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {spec.input_name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    meta = session.get_modelmeta().custom_metadata_map
    assert ExpressionSpec.from_json(meta[METADATA_KEY]) == spec

    int8 = quantize_expression(path, tmp_path / "expr_int8.onnx", gray)
    session8 = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    got8 = session8.run(None, {spec.input_name: x})[0]
    assert np.abs(got8 - got).max() < 0.2
    meta8 = session8.get_modelmeta().custom_metadata_map
    assert ExpressionSpec.from_json(meta8[METADATA_KEY]) == spec


def test_a_run_starts_from_an_exported_model(tmp_path):
    from faceattrs.data.fer import FerSplit
    from faceattrs.training.expression import _calibration, _warm_start

    source = trained_like(ExpressionNetConfig.from_dict(TINY_NET), seed=3)
    spec = ExpressionSpec()
    path = export_expression_onnx(source.eval(), spec, tmp_path / "src.onnx", flip=False)
    gray = np.random.default_rng(4).integers(0, 256, (600, 48, 48), dtype=np.uint8)
    cfg = ExpressionTrainConfig(init_onnx=str(path), net=TINY_NET, bf16=False)
    net = ExpressionNet(ExpressionNetConfig.from_dict(TINY_NET))
    split = FerSplit(gray, np.zeros(len(gray), np.int64), ("",) * len(gray))
    net = _warm_start(net, cfg, _calibration(cfg, split))
    x = torch.from_numpy(spec.preprocess(gray[:9]))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {spec.input_name: x.numpy()})[0]
    with torch.no_grad():
        got = net.eval()(x).softmax(1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_pipeline_crops_join_training_when_asked(tmp_path):
    data = write_fake_fer(tmp_path / "fer", per_class=2)
    cfg = ExpressionTrainConfig(
        data=str(data), cache_dir=str(tmp_path / "cache"), epochs=1, batch_size=8,
        net=TINY_NET, bf16=False, pipeline_prob=0.5,
    )  # fmt: skip
    run = train_expression(cfg, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "cache").glob("*pipeline*")) == [
        "fer_train_pipeline_48_constant_align-replicate.npz",
        "fer_val_pipeline_48_constant_align-replicate.npz",
    ]  # detected on black padding, aligned from replicated edges (no black corners)
    with np.load(tmp_path / "cache" / "fer_train_pipeline_48_constant_align-replicate.npz") as raw:
        assert raw["gray"].shape == (14, 48, 48) and raw["found"].shape == (14,)
    assert json.loads((run / "epochs.jsonl").read_text())["epoch"] == 0


def test_bfloat16_only_where_the_cpu_has_it(tmp_path):
    from faceattrs.training.config import cpu_has_fast_bf16

    assert cpu_has_fast_bf16("flags : fpu sse avx2 amx_bf16 amx_tile")
    assert cpu_has_fast_bf16("flags : fpu avx512f avx512_bf16")
    assert not cpu_has_fast_bf16("flags : fpu sse avx2 avx512f fma")
    data = write_fake_fer(tmp_path / "fer", per_class=1)
    cfg = ExpressionTrainConfig(data=str(data), cache_dir="", epochs=1, batch_size=8, net=TINY_NET)
    run = train_expression(cfg, tmp_path / "run")
    saved = json.loads((run / "config.json").read_text())["bf16"]
    assert saved is cpu_has_fast_bf16()  # the run records what it used, never None


def test_net_output_shape():
    net = ExpressionNet(ExpressionNetConfig(**{**TINY_NET, "widths": (4, 8)})).eval()
    assert net(torch.zeros(3, 1, 48, 48)).shape == (3, len(EXPRESSIONS))
