"""Training loop: multi-task losses, EMA weights, resumable checkpoints, loss curves."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from faceattrs.data.mixed import interval_samples
from faceattrs.data.utkface import load_split
from faceattrs.spec import ModelSpec
from faceattrs.training.config import NetConfig, TrainConfig, resolve_bf16
from faceattrs.training.curves import plot_curves
from faceattrs.training.dataset import augment, load_images, mixup, to_input
from faceattrs.training.fairness import GroupDRO, group_weights
from faceattrs.training.model import FaceAttrNet
from faceattrs.training.sources import (
    FaceSet,
    aligned_cache_path,
    aligned_sets,
    cache_template,
    concat,
    dataset_dirs,
    parse_datasets,
    tensors_of,
)
from faceattrs.training.warmstart import calibration_batch, load_exported


def age_targets(age: torch.Tensor, num_ages: int, sigma: float) -> torch.Tensor:
    """Gaussian label distributions over ages 0..num_ages-1 centred on each true age."""
    bins = torch.arange(num_ages, dtype=torch.float32)
    dist = torch.exp(-0.5 * ((bins[None] - age[:, None]) / sigma) ** 2)
    return dist / dist.sum(1, keepdim=True)


def age_loss(log_probs: torch.Tensor, low: torch.Tensor, high: torch.Tensor, cfg: TrainConfig):
    """Per-sample age loss. Exact ages (``low == high``): KL to a Gaussian label distribution
    plus L1 on the expected age. Intervals (age bins): interval-censored likelihood
    ``-log sum_{low <= a <= high} p(a)`` plus the expected age's distance to the interval."""
    num_ages = log_probs.shape[1]
    bins = torch.arange(num_ages, dtype=torch.float32)
    expected = (log_probs.exp() * bins).sum(1)
    target = age_targets(low, num_ages, cfg.age_sigma)
    kl = (target * (target.clamp_min(1e-12).log() - log_probs)).sum(1)
    exact = kl + cfg.age_l1_weight * (expected - low).abs()
    inside = (bins[None] >= low[:, None]) & (bins[None] <= high[:, None])
    nll = -torch.logsumexp(log_probs.masked_fill(~inside, float("-inf")), 1)
    outside = F.relu(low - expected) + F.relu(expected - high)
    interval = cfg.interval_weight * (nll + cfg.age_l1_weight * outside)
    return torch.where(low == high, exact, interval)


def multitask_loss(
    logits: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    labels: dict[str, torch.Tensor],
    cfg: TrainConfig,
) -> dict[str, torch.Tensor]:
    """Age: :func:`age_loss` (exact ages and age intervals); gender, race: cross-entropy.
    With a teacher's soft labels in ``labels`` (distillation), ``distill``: the KL from the
    teacher's distribution to the net's, summed over the heads, weighted in the total. With
    per-face ``weight`` (group balance), the age and gender losses are weighted means; a
    ``gender_weight`` (group DRO) replaces it for gender."""
    age_logits, gender_logits, race_logits = logits
    weight = labels.get("weight")  # group balance (:func:`group_weights`), else all equal
    age = age_loss(age_logits.log_softmax(1), labels["age_low"], labels["age_high"], cfg)
    gender = F.cross_entropy(
        gender_logits, labels["gender"], label_smoothing=cfg.label_smoothing, reduction="none"
    )
    age = _weighted_mean(age, weight)
    gender = _weighted_mean(gender, labels.get("gender_weight", weight))
    race = F.cross_entropy(race_logits, labels["race"], label_smoothing=cfg.label_smoothing)
    losses = {"age": age, "gender": gender, "race": race, "total": age + gender + race}
    if "teacher" in labels and cfg.distill_weight:
        losses["distill"] = distill_loss(logits, labels["teacher"], labels["has_teacher"])
        losses["total"] = losses["total"] + cfg.distill_weight * losses["distill"]
    return losses


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return values.mean() if weight is None else (values * weight).sum() / weight.sum()


def distill_loss(
    logits: tuple[torch.Tensor, ...], teacher: torch.Tensor, has_teacher: torch.Tensor
) -> torch.Tensor:
    """Mean over the faces with a teacher of ``sum_heads KL(teacher || net)``; ``teacher``
    holds each head's probabilities side by side in the heads' order."""
    kl, start = torch.zeros(len(teacher)), 0
    for head in logits:
        target = teacher[:, start : start + head.shape[1]]
        start += head.shape[1]
        kl = kl + (target * (target.clamp_min(1e-8).log() - head.log_softmax(1))).sum(1)
    weight = has_teacher.float()
    return (kl * weight).sum() / weight.sum().clamp_min(1.0)


class EMA:
    """Exponential moving average of a model's parameters and buffers."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.state[key].mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                self.state[key].copy_(value)


@torch.no_grad()
def evaluate_net(
    net: FaceAttrNet,
    images: np.ndarray,
    labels: dict[str, torch.Tensor],
    spec: ModelSpec,
    cfg: TrainConfig,
    batch_size: int = 256,
) -> dict[str, float]:
    """Validation losses and metrics (no augmentation): age MAE over exact ages, age-bin
    accuracy over intervals (most probable bin of the label's binning), gender, race."""
    net.eval()
    sums = dict.fromkeys(
        ("age", "gender", "race", "total", "abs_err", "g_ok", "r_ok", "bin_ok"), 0.0
    )
    n = len(images)
    exact = labels["age_low"] == labels["age_high"]
    lows = torch.unique(labels["age_low"][~exact]) if (~exact).any() else torch.zeros(0)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        x = to_input(torch.from_numpy(images[start:stop]), spec.input_size, spec.mean, spec.std)
        batch = {k: v[start:stop] for k, v in labels.items()}
        logits = net(x)
        losses = multitask_loss(logits, batch, cfg)
        for key, value in losses.items():
            sums[key] += float(value) * (stop - start)
        probs = logits[0].softmax(1)
        ages = (probs * torch.arange(probs.shape[1])).sum(1)
        is_exact = exact[start:stop]
        sums["abs_err"] += float(((ages - batch["age_low"]).abs() * is_exact).sum())
        if len(lows):
            mass = torch.stack(
                [probs[:, int(lo) :].sum(1) for lo in lows], 1
            )  # P(age >= lower edge) per bin
            per_bin = mass - torch.cat([mass[:, 1:], torch.zeros(len(mass), 1)], 1)
            predicted = lows[per_bin.argmax(1)]
            sums["bin_ok"] += float(((predicted == batch["age_low"]) & ~is_exact).sum())
        sums["g_ok"] += float((logits[1].argmax(1) == batch["gender"]).sum())
        sums["r_ok"] += float((logits[2].argmax(1) == batch["race"]).sum())
    out = {f"loss_{k}": sums[k] / n for k in ("age", "gender", "race", "total")}
    out.update(gender_acc=sums["g_ok"] / n, race_acc=sums["r_ok"] / n)
    if exact.any():
        out["age_mae"] = sums["abs_err"] / int(exact.sum())
    if (~exact).any():
        out["age_bin_acc"] = sums["bin_ok"] / int((~exact).sum())
    return out


def load_data(cfg: TrainConfig, spec: ModelSpec) -> tuple[FaceSet, list[FaceSet]]:
    """The training set and one validation set per dataset."""
    datasets = parse_datasets(cfg.datasets)
    if cfg.source == "crops":
        if datasets != ("utkface",):
            raise ValueError("source 'crops' reads UTKFace files only; use source 'aligned'")
        if cfg.teacher:
            raise ValueError("a teacher's soft labels need source 'aligned' (--source aligned)")
        sets = []
        for split in ("train", "val"):
            samples = load_split(cfg.split, split, cfg.data)
            if split == "train" and cfg.limit:
                samples = samples[: cfg.limit]
            images = load_images(samples, cfg.source_size, cfg.cache_dir)
            labels = tensors_of(interval_samples(samples, cfg.data, spec.max_age))
            sets.append(FaceSet(f"utkface_{split}", images, labels, []))
        return sets[0], sets[1:]
    if cfg.source != "aligned":
        raise ValueError(f"unknown source {cfg.source!r}; expected 'crops' or 'aligned'")
    trains, vals = [], []
    for dataset in datasets:
        train_set, val_set = aligned_sets(
            dataset,
            ("train", "val"),
            *dataset_dirs(cfg, dataset),
            aligned_cache_path(cfg, dataset),
            spec.max_age,
            cfg.teacher or None,
        )
        if cfg.limit:
            train_set = FaceSet(
                train_set.name,
                train_set.images[: cfg.limit],
                {k: v[: cfg.limit] for k, v in train_set.labels.items()},
                train_set.missed,
            )
        index = torch.full((len(train_set),), len(trains))  # group DRO's dataset groups
        trains.append(replace(train_set, labels={**train_set.labels, "dataset": index}))
        vals.append(val_set)
    return concat(trains, "train"), vals


def aligned_template(cfg: TrainConfig) -> tuple[tuple[float, float], ...]:
    """The template the aligned caches were cut with (all caches must agree)."""
    templates = {
        tuple(tuple(p) for p in cache_template(aligned_cache_path(cfg, d)))
        for d in parse_datasets(cfg.datasets)
    }
    if len(templates) != 1:
        raise ValueError("the aligned caches were made with different templates; rebuild them")
    return templates.pop()


def evaluate_sets(
    net: FaceAttrNet, sets: list[FaceSet], spec: ModelSpec, cfg: TrainConfig
) -> dict[str, float]:
    """Metrics per validation set (keys ``<set>_<metric>``) and losses averaged over all faces
    (keys ``loss_<head>``, for the curves)."""
    out: dict[str, float] = {}
    total = sum(len(s) for s in sets)
    for face_set in sets:
        metrics = evaluate_net(net, face_set.images, face_set.labels, spec, cfg)
        for key, value in metrics.items():
            out[f"{face_set.name}_{key}"] = value
            if key.startswith("loss_"):
                out[key] = out.get(key, 0.0) + value * len(face_set) / total
    return out


def split_metrics(metrics: dict[str, float], sets: list[FaceSet]) -> list[dict[str, float]]:
    """Undo the ``<set>_`` prefixes of :func:`evaluate_sets`."""
    return [
        {k[len(s.name) + 1 :]: v for k, v in metrics.items() if k.startswith(s.name + "_")}
        for s in sets
    ]


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def selection_score(metrics: dict[str, float]) -> float:
    """One number to pick the best epoch by (higher is better)."""
    score = metrics["gender_acc"] + metrics["race_acc"]
    if "age_mae" in metrics:
        score -= metrics["age_mae"] / 10
    if "age_bin_acc" in metrics:
        score += metrics["age_bin_acc"]
    return score


def init_from_export(
    net: FaceAttrNet, cfg: TrainConfig, spec: ModelSpec, train_images: np.ndarray
) -> None:
    """Weights of an exported model, batch norms re-derived on 512 training faces."""
    calibration = calibration_batch(train_images, spec, cfg.seed)
    load_exported(net, cfg.init, calibration)
    print(f"started from {cfg.init} (batch norms re-derived on {len(calibration)} faces)")


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = True) -> Path:
    """Train a model into ``out_dir`` (config.json, last.pt, best.pt, history.json, curves)."""
    if cfg.mixup_alpha > 0 and cfg.group_dro:
        raise ValueError("mixup_alpha and group_dro cannot be combined")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    cfg = resolve_bf16(cfg)
    spec = ModelSpec.from_json(json.dumps(cfg.spec))
    net_cfg = NetConfig.from_dict(cfg.net)
    if cfg.source == "aligned":
        spec = replace(spec, template=aligned_template(cfg))
    train_set, val_sets = load_data(cfg, spec)
    train_images, train_labels = train_set.images, train_set.labels
    if cfg.group_balance:
        weight = group_weights(train_labels["gender"], train_labels["race"], cfg.group_balance)
        train_labels = {**train_labels, "weight": weight}
    for face_set in (train_set, *val_sets):
        if face_set.missed:
            print(f"{face_set.name}: {len(face_set.missed)} faces the detector missed left out")

    torch.manual_seed(cfg.seed)
    net = FaceAttrNet(net_cfg)
    if cfg.init:
        init_from_export(net, cfg, spec, train_images)
    net = net.to(memory_format=torch.channels_last)  # oneDNN's bf16 kernels prefer it
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMA(net, cfg.ema_decay)
    if cfg.group_dro:
        groups = 2 * net_cfg.num_races * len(parse_datasets(cfg.datasets))
        dro = GroupDRO(groups, cfg.group_dro, net_cfg.num_races)
    else:
        dro = None
    history: list[dict] = []
    start_epoch, best = 0, -math.inf
    last_path = out / "last.pt"
    if resume and last_path.exists():
        ckpt = torch.load(last_path, map_location="cpu", weights_only=False)
        net.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        ema.state = ckpt["ema_state"]
        history, start_epoch, best = ckpt["history"], ckpt["epoch"] + 1, ckpt["best"]
        if dro is not None and "dro_q" in ckpt:
            dro.q = ckpt["dro_q"]
        print(f"resumed from {last_path} at epoch {start_epoch}")
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    # at least one (smaller) batch when there are fewer images than a batch (--limit 64)
    steps_per_epoch = max(1, len(train_images) // cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = int(cfg.warmup_epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(cfg.seed)
    for epoch in range(start_epoch, cfg.epochs):
        generator.manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(train_images), generator=generator)
        net.train()
        sums = {"age": 0.0, "gender": 0.0, "race": 0.0, "total": 0.0}
        t0 = time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch")
        for i in bar:
            step = epoch * steps_per_epoch + i
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, warmup_steps, cfg.lr)
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = augment(
                torch.from_numpy(train_images[idx.numpy()]),
                spec.input_size,
                spec.mean,
                spec.std,
                generator,
                cfg.augment_strength,
                cfg.erase_prob,
            ).contiguous(memory_format=torch.channels_last)
            batch = {k: v[idx] for k, v in train_labels.items()}
            if cfg.mixup_alpha > 0:
                x, lam, perm = mixup(x, cfg.mixup_alpha, generator)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = net(x)
            if dro is not None:
                batch["gender_weight"] = dro.gender_weights(logits[1], batch, cfg.label_smoothing)
            logits = tuple(t.float() for t in logits)
            losses = multitask_loss(logits, batch, cfg)
            if cfg.mixup_alpha > 0:  # each loss blended between the two faces' labels
                other = multitask_loss(logits, {k: v[perm] for k, v in batch.items()}, cfg)
                losses = {k: lam * v + (1 - lam) * other[k] for k, v in losses.items()}
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            optimizer.step()
            ema.update(net, step)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{sums['total'] / (i + 1):.3f}")
        train_metrics = {f"loss_{k}": v / steps_per_epoch for k, v in sums.items()}
        eval_net = FaceAttrNet(net_cfg)
        eval_net.load_state_dict(ema.state)
        val_metrics = evaluate_sets(eval_net, val_sets, spec, cfg)
        record = {
            "epoch": epoch + 1,
            "seconds": time.perf_counter() - t0,
            "lr": optimizer.param_groups[0]["lr"],
            **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"val_{k}": v for k, v in val_metrics.items()},
            **({"dro_q": [round(float(q), 4) for q in dro.q]} if dro is not None else {}),
        }
        history.append(record)
        print(json.dumps(record), flush=True)
        score = sum(selection_score(m) for m in split_metrics(val_metrics, val_sets))
        ckpt = {
            "model_state": net.state_dict(),
            "ema_state": ema.state,
            "optimizer_state": optimizer.state_dict(),
            "epoch": epoch,
            "history": history,
            "best": max(best, score),
            "net_config": net_cfg.to_dict(),
            "spec": spec.to_json(),
            "train_config": asdict(cfg),
            **({"dro_q": dro.q} if dro is not None else {}),
        }
        torch.save(ckpt, out / "last.pt.tmp")
        (out / "last.pt.tmp").replace(last_path)
        if score > best:
            best = score
            torch.save({**ckpt, "model_state": ema.state}, out / "best.pt")
        (out / "history.json").write_text(json.dumps(history, indent=1))
        plot_curves(history, out)
    return out


def with_overrides(cfg: TrainConfig, **overrides) -> TrainConfig:
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


__all__ = ["TrainConfig", "train", "with_overrides", "np"]
