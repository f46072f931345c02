"""Slimming a trained expression network (training/slim.py) and distilling into it."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_expression_train import trained_like, write_fake_fer  # noqa: E402

from faceattrs.spec import ExpressionSpec  # noqa: E402
from faceattrs.training.expression import (  # noqa: E402
    ExpressionTrainConfig,
    distill_loss,
    train_expression,
)
from faceattrs.training.expression_export import export_expression_onnx  # noqa: E402
from faceattrs.training.expression_model import ExpressionNetConfig  # noqa: E402
from faceattrs.training.slim import (  # noqa: E402
    channel_importance,
    exported_config,
    parse_widths,
    slim_expression_net,
)

SMALL = ExpressionNetConfig(widths=(6, 8), convs_per_stage=2, dropout=0.0)


def faces(count: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(count, 1, 48, 48, generator=torch.Generator().manual_seed(seed))


def test_slimming_to_the_same_widths_computes_the_same_function():
    net, x = trained_like(SMALL), faces()
    same = slim_expression_net(net, SMALL.widths, x)
    with torch.no_grad():
        np.testing.assert_allclose(same.eval()(x).numpy(), net(x).numpy(), atol=1e-4)
        # batch norms re-derived on the calibration faces: training mode computes it too
        np.testing.assert_allclose(same.train()(x).numpy(), net(x).numpy(), atol=1e-4)


def test_slimming_drops_the_channels_nothing_reads():
    net, x = trained_like(SMALL), faces()
    unread = [1, 4]  # channels of the first stage's two convolutions the next one ignores
    with torch.no_grad():
        net.backbone[3].weight[:, unread] = 0.0
        net.backbone[7].weight[:, unread] = 0.0
    scores = channel_importance(net, x)
    assert [len(s) for s in scores] == [6, 6, 8, 8]
    for stage_scores in scores[:2]:
        assert np.all(stage_scores[unread] == 0)
        assert np.all(np.delete(stage_scores, unread) > 0)
    slim = slim_expression_net(net, (4, 8), x)
    assert slim.backbone[0].weight.shape[0] == 4 and slim.backbone[3].weight.shape[1] == 4
    with torch.no_grad():  # dropping unread channels changes nothing downstream
        np.testing.assert_allclose(slim.eval()(x).numpy(), net(x).numpy(), atol=1e-4)


def test_slimming_keeps_most_of_the_function_and_checks_widths():
    net, x = trained_like(SMALL), faces()
    slim = slim_expression_net(net, (5, 6), x)
    assert slim.config.widths == (5, 6)
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match="do not fit"):
        slim_expression_net(net, (7, 8), x)
    with pytest.raises(ValueError, match="do not fit"):
        slim_expression_net(net, (4,), x)
    assert parse_widths("24,48,96,192") == (24, 48, 96, 192)
    with pytest.raises(ValueError, match="integers"):
        parse_widths("24,wide")


def test_exported_config_reads_the_widths(tmp_path):
    path = export_expression_onnx(
        trained_like(SMALL), ExpressionSpec(), tmp_path / "m.onnx", flip=True
    )
    config = exported_config(path, ExpressionNetConfig(dropout=0.0))
    assert config.widths == (6, 8) and config.convs_per_stage == 2


def test_distill_loss_is_zero_only_when_the_student_agrees():
    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    assert float(distill_loss(teacher, teacher, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(torch.zeros_like(teacher), teacher, 2.0)) > 0.01


def test_a_slim_run_distils_from_the_model_it_was_cut_from(tmp_path):
    data = write_fake_fer(tmp_path / "fer", per_class=2)
    model = tmp_path / "t.onnx"
    export_expression_onnx(trained_like(SMALL), ExpressionSpec(), model, flip=False)
    net = {**SMALL.to_dict(), "widths": (4, 6)}
    cfg = ExpressionTrainConfig(
        data=str(data), cache_dir="", epochs=1, batch_size=8, net=net, bf16=False,
        init_onnx=str(model), teacher_onnx=str(model),
    )  # fmt: skip
    run = train_expression(cfg, tmp_path / "run")
    saved = json.loads((run / "config.json").read_text())
    assert saved["net"]["widths"] == [4, 6] and saved["teacher_onnx"] == str(model)
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["net"]["backbone.0.weight"].shape[0] == 4
    assert json.loads((run / "epochs.jsonl").read_text())["epoch"] == 0
