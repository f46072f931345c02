"""Expression training: FER2013 crops, batched augmentation, class-weighted loss, cosine LR.

Resumable (``last.pt`` in the run folder), one JSON line per epoch in ``epochs.jsonl``, the
best weights by validation macro-F1 (EMA weights, flip-averaged) in ``best.pt``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from faceattrs.data.fer import FerSplit, load_fer_pipeline_crops, load_fer_split
from faceattrs.evaluation.fer import expression_metrics
from faceattrs.training.config import resolve_bf16
from faceattrs.training.dataset import random_erase
from faceattrs.training.expression_model import (
    ExpressionNet,
    ExpressionNetConfig,
    ExpressionProbabilityModel,
)


@dataclass(frozen=True)
class ExpressionTrainConfig:
    """Everything that defines a run (saved as config.json in the run folder)."""

    data: str = "../shared/data/fer2013"
    cache_dir: str = "/work/cache-expression"
    epochs: int = 40
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5  # loss weight per class ~ count ** -power
    ema_decay: float = 0.999
    max_rotation_deg: float = 12.0
    max_shift: float = 0.08  # fraction of the crop
    scale_range: tuple[float, float] = (0.9, 1.1)
    contrast_range: tuple[float, float] = (0.7, 1.3)
    max_brightness: float = 0.15
    erase_prob: float = 0.25
    mean: float = 0.5
    std: float = 0.5
    bf16: bool | None = None  # None: where the CPU has bfloat16 units (cpu_has_fast_bf16)
    seed: int = 0
    threads: int = 1
    limit: int = 0  # use only N training / N//4 val samples (smoke tests)
    init_onnx: str = ""  # start from this exported float model instead of random weights
    pipeline_prob: float = 0.0  # chance a training face is its crop through detect + align
    pipeline_align_border: str = "replicate"  # those crops aligned from this padding
    teacher_onnx: str = ""  # distil this exported float model's probabilities (with labels)
    distill_weight: float = 0.5  # the teacher's share of the loss
    distill_temperature: float = 2.0
    net: dict = field(default_factory=lambda: ExpressionNetConfig().to_dict())


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """Loss weights ~ count**-power, normalised to mean 1 over the training samples."""
    w = np.maximum(counts, 1).astype(np.float64) ** -power
    w = w / (w * counts).sum() * counts.sum()
    return torch.tensor(w, dtype=torch.float32)


def augment_batch(x: torch.Tensor, cfg: ExpressionTrainConfig, gen: torch.Generator):
    """Random rotation, scale, shift, horizontal flip, brightness/contrast and erasing.

    ``x``: (N, 1, H, W) floats in [0, 1]; returns the same shape.
    """
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(cfg.max_rotation_deg)
    lo, hi = cfg.scale_range
    scale = lo + torch.rand(n, generator=gen) * (hi - lo)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * cfg.max_shift * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift[:, 0]], 1),
            torch.stack([sin * flip, cos, shift[:, 1]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    c_lo, c_hi = cfg.contrast_range
    contrast = c_lo + torch.rand(n, 1, 1, 1, generator=gen) * (c_hi - c_lo)
    bright = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * cfg.max_brightness
    mean = x.mean((2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + bright).clamp(0, 1)
    return random_erase(x, cfg.erase_prob, gen)


def to_input(gray: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, H, W) in [0, 1]."""
    t = torch.as_tensor(gray)
    return t[:, None].float() / 255.0


@torch.no_grad()
def predict_probs(
    net: ExpressionNet, gray: np.ndarray, cfg: ExpressionTrainConfig, batch: int = 512
) -> np.ndarray:
    """Flip-averaged probabilities (N, classes) for uint8 (N, 48, 48) crops."""
    model = ExpressionProbabilityModel(net, flip=True).eval()
    out = []
    for i in range(0, len(gray), batch):
        x = (to_input(gray[i : i + batch]) - cfg.mean) / cfg.std
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(cfg.bf16)):
            out.append(model(x.contiguous(memory_format=torch.channels_last)).float())
    return torch.cat(out).numpy()


def evaluate_split(net: ExpressionNet, data: FerSplit, cfg: ExpressionTrainConfig) -> dict:
    probs = predict_probs(net, data.gray, cfg)
    return expression_metrics(data.labels, probs.argmax(1))


class Ema:
    """Exponential moving average of a network's parameters and buffers."""

    def __init__(self, net: ExpressionNet, decay: float) -> None:
        self.decay = decay
        self.net = ExpressionNet(net.config)
        self.net.load_state_dict(net.state_dict())
        self.net.eval()

    @torch.no_grad()
    def update(self, net: ExpressionNet, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for ema_t, t in zip(self.net.state_dict().values(), net.state_dict().values(), strict=True):
            if ema_t.dtype.is_floating_point:
                ema_t.mul_(decay).add_(t.detach(), alpha=1 - decay)
            else:
                ema_t.copy_(t)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def _subset(data: FerSplit, n: int, seed: int) -> FerSplit:
    idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    return FerSplit(data.gray[idx], data.labels[idx], tuple(data.paths[i] for i in idx))


def _pipeline_splits(
    cfg: ExpressionTrainConfig, train_set: FerSplit, val_set: FerSplit
) -> tuple[np.ndarray, np.ndarray, FerSplit]:
    """The training faces' crops through the product's detector and alignment (the shipped
    expression model's template) with their found mask, and the val faces found that way,
    so that training sees the crops inference sees (``pipeline_prob``)."""
    from faceattrs.pipeline.detection import FaceDetector
    from faceattrs.pipeline.expression import ExpressionModel

    detector = FaceDetector("full", threads=cfg.threads)
    spec = ExpressionModel(cfg.init_onnx or None).spec
    cache = None if cfg.limit else (cfg.cache_dir or None)
    crops = {"cache_dir": cache, "align_border": cfg.pipeline_align_border}
    train_gray, train_found = load_fer_pipeline_crops(train_set, "train", detector, spec, **crops)
    val_gray, val_found = load_fer_pipeline_crops(val_set, "val", detector, spec, **crops)
    paths = tuple(p for p, f in zip(val_set.paths, val_found, strict=True) if f)
    return train_gray, train_found, FerSplit(val_gray[val_found], val_set.labels[val_found], paths)


def _calibration(cfg: ExpressionTrainConfig, train_set: FerSplit) -> torch.Tensor:
    """512 training faces, normalised: the batch norms of a loaded model are derived on it."""
    return (to_input(_subset(train_set, 512, cfg.seed).gray) - cfg.mean) / cfg.std


def _load_onnx_net(path: str, calibration: torch.Tensor, base: ExpressionNetConfig):
    """An exported float model as a network of its own widths."""
    from faceattrs.training.slim import exported_config
    from faceattrs.training.warmstart import load_exported

    net = ExpressionNet(exported_config(path, base))
    load_exported(net, path, calibration)
    return net


def _warm_start(net: ExpressionNet, cfg: ExpressionTrainConfig, calibration: torch.Tensor):
    """``net`` started from ``cfg.init_onnx``: its weights, or, when ``net`` is narrower,
    its most important channels (:mod:`faceattrs.training.slim`)."""
    from faceattrs.training.slim import slim_expression_net

    full = _load_onnx_net(cfg.init_onnx, calibration, net.config)
    if full.config == net.config:
        return full
    return slim_expression_net(full, net.config.widths, calibration)


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float):
    """KL divergence from the teacher's softened probabilities, times T^2 (Hinton et al.)."""
    t = temperature
    target = F.softmax(teacher / t, 1)
    return F.kl_div(F.log_softmax(student / t, 1), target, reduction="batchmean") * t * t


def train_expression(cfg: ExpressionTrainConfig, out_dir: str | Path, resume: bool = True) -> Path:
    """Train (or resume) a run in ``out_dir``; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    cfg = resolve_bf16(cfg)
    train_set = load_fer_split(cfg.data, "train", cfg.cache_dir or None)
    val_set = load_fer_split(cfg.data, "val", cfg.cache_dir or None)
    if cfg.limit:
        train_set, val_set = _subset(train_set, cfg.limit, 0), _subset(val_set, cfg.limit // 4, 1)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    torch.manual_seed(cfg.seed)
    net = ExpressionNet(ExpressionNetConfig.from_dict(cfg.net)).to(
        memory_format=torch.channels_last
    )
    last = out / "last.pt"
    resuming = resume and last.exists()  # then last.pt's weights replace any start
    calibration = _calibration(cfg, train_set) if cfg.init_onnx or cfg.teacher_onnx else None
    if cfg.init_onnx and not resuming:
        net = _warm_start(net, cfg, calibration).to(memory_format=torch.channels_last)
    teacher = None
    if cfg.teacher_onnx:
        teacher = _load_onnx_net(cfg.teacher_onnx, calibration, net.config)
        teacher = teacher.eval().to(memory_format=torch.channels_last)
    pipe_gray = pipe_found = val_pipe = None
    if cfg.pipeline_prob > 0:
        pipe_gray, pipe_found, val_pipe = _pipeline_splits(cfg, train_set, val_set)
        pipe_gray, pipe_found = torch.from_numpy(pipe_gray), torch.from_numpy(pipe_found)
    opt = torch.optim.SGD(
        net.parameters(),
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=True,
    )
    ema = Ema(net, cfg.ema_decay)
    weights = class_weights(train_set.class_counts(), cfg.class_weight_power)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total, warmup = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    start_epoch, best = 0, -1.0
    if resuming:
        state = torch.load(last, weights_only=False)
        net.load_state_dict(state["net"])
        ema.net.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        start_epoch, best = state["epoch"] + 1, state["best"]
        print(f"resumed from epoch {state['epoch']} (best macro-F1 {best:.4f})", flush=True)
    gray = torch.from_numpy(train_set.gray)
    labels = torch.from_numpy(train_set.labels)
    for epoch in range(start_epoch, cfg.epochs):
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(train_set), generator=gen)
        net.train()
        t0, loss_sum, correct = time.perf_counter(), 0.0, 0
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, cfg.lr)
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            batch = gray[idx]
            if pipe_gray is not None:
                draw = torch.rand(len(idx), generator=gen) < cfg.pipeline_prob
                batch = torch.where((draw & pipe_found[idx])[:, None, None], pipe_gray[idx], batch)
            x = augment_batch(to_input(batch), cfg, gen)
            x = ((x - cfg.mean) / cfg.std).contiguous(memory_format=torch.channels_last)
            y = labels[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = net(x)
            loss = F.cross_entropy(
                logits.float(), y, weight=weights, label_smoothing=cfg.label_smoothing
            )
            if teacher is not None:
                with torch.no_grad():
                    taught = teacher(x).float()
                soft = distill_loss(logits.float(), taught, cfg.distill_temperature)
                loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * soft
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update(net, step)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
        train_s = time.perf_counter() - t0
        val = evaluate_split(ema.net, val_set, cfg)
        improved = val["macro_f1"] > best
        best = max(best, val["macro_f1"])
        record = {
            "epoch": epoch,
            "lr": opt.param_groups[0]["lr"],
            "train_loss": loss_sum / len(train_set),
            "train_acc": correct / len(train_set),
            "val_acc": val["accuracy"],
            "val_macro_f1": val["macro_f1"],
            "val_recall": val["recall"],
            "train_s": round(train_s, 1),
            "best": improved,
        }
        if val_pipe is not None and len(val_pipe):  # logged; best.pt is chosen on the crops
            pipe = evaluate_split(ema.net, val_pipe, cfg)
            record.update(val_pipeline_acc=pipe["accuracy"], val_pipeline_macro_f1=pipe["macro_f1"])
        with open(out / "epochs.jsonl", "a") as log:
            log.write(json.dumps(record) + "\n")
        print(
            f"epoch {epoch}: loss {record['train_loss']:.3f} train acc {record['train_acc']:.3f}"
            f" val acc {val['accuracy']:.4f} macro-F1 {val['macro_f1']:.4f}"
            f" ({train_s:.0f}s){' *' if improved else ''}",
            flush=True,
        )
        state = {
            "net": net.state_dict(),
            "ema": ema.net.state_dict(),
            "opt": opt.state_dict(),
            "epoch": epoch,
            "best": best,
            "config": asdict(cfg),
        }
        if improved:
            torch.save(
                {"ema": state["ema"], "epoch": epoch, "config": asdict(cfg), "val": val},
                out / "best.pt",
            )
        torch.save(state, out / "last.pt.tmp")
        (out / "last.pt.tmp").replace(last)
    return out


def with_overrides(cfg: ExpressionTrainConfig, **values) -> ExpressionTrainConfig:
    """``cfg`` with every non-None keyword replaced."""
    return replace(cfg, **{k: v for k, v in values.items() if v is not None})
