"""The seed project's approach, for comparison: one small CNN per attribute at 200x200.

Architecture as the seed README gives it (Keras): Conv 32/64/128 (3x3, valid, ReLU) each
followed by 2x2 max-pooling, Flatten, Dense 64 ReLU, Dropout 0.5, then age: one ReLU
output (regression, MSE loss), gender: sigmoid (binary cross-entropy), race: softmax over
5. Adam (Keras defaults), pixels scaled to [0, 1], early stopping on the val loss. Where
the CPU has bfloat16 units the training passes run under bfloat16 autocast with channels-last
weights (2.3x faster per batch on an Intel Xeon with AMX); validation and test stay float32.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from faceattrs.data.utkface import load_split
from faceattrs.evaluation.metrics import compute_metrics, write_report
from faceattrs.training.config import resolve_bf16
from faceattrs.training.dataset import load_images

HEADS = ("age", "gender", "race")


@dataclass(frozen=True)
class BaselineConfig:
    data: str = "../shared/data/utkface"
    split: str = "splits/utkface"
    epochs: int = 10
    patience: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    threads: int = 2
    limit: int = 0
    bf16: bool | None = None  # bfloat16 autocast for training; None: where the CPU has it


def seed_cnn(outputs: int) -> nn.Sequential:
    """The seed's Sequential model for a 200x200x3 input."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * 23 * 23, 64),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(64, outputs),
    )


def head_loss(head: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if head == "age":
        return F.mse_loss(F.relu(out[:, 0]), target)
    if head == "gender":
        return F.binary_cross_entropy_with_logits(out[:, 0], target)
    return F.cross_entropy(out, target.long())


def to_batch(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, head: str, batch: int = 128) -> np.ndarray:
    model.eval()
    outs = [model(to_batch(images[i : i + batch])) for i in range(0, len(images), batch)]
    out = torch.cat(outs)
    if head == "age":
        return F.relu(out[:, 0]).numpy()
    if head == "gender":
        p = torch.sigmoid(out[:, 0]).numpy()
        return np.stack([1 - p, p], 1)
    return out.softmax(1).numpy()


def train_head(
    head, images, targets, val_images, val_targets, cfg, out_dir, resume: bool = True
) -> tuple[nn.Module, list]:
    """Train one seed model with early stopping on the val loss; returns the best model.

    After each epoch the whole state (weights, Adam, both random streams, the best
    weights, the patience count) goes to ``last_{head}.pt``; with ``resume`` a rerun
    continues from there exactly as if it had not stopped, and a model that stopped early
    or ran ``cfg.epochs`` is not trained again.
    """
    torch.manual_seed(cfg.seed)
    # channels-last weights match to_batch's layout (a permuted NHWC array)
    model = seed_cnn(5 if head == "race" else 1).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history, best, best_state, waited, stopped = [], float("inf"), None, 0, False
    gen = torch.Generator().manual_seed(cfg.seed)
    last = out_dir / f"last_{head}.pt"
    if resume and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, best, best_state = state["history"], state["best"], state["best_state"]
        waited, stopped = state["waited"], state["stopped"]
        print(f"seed {head}: resumed after epoch {len(history)}", flush=True)
    for epoch in range(len(history), 0 if stopped else cfg.epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen).numpy()
        total, t0 = 0.0, time.perf_counter()
        steps = range(0, len(images), cfg.batch_size)
        for start in tqdm(steps, desc=f"seed {head} epoch {epoch + 1}/{cfg.epochs}", unit="batch"):
            idx = np.sort(order[start : start + cfg.batch_size])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(cfg.bf16)):
                out = model(to_batch(images[idx]))
            loss = head_loss(head, out.float(), targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        val = val_loss(model, head, val_images, val_targets)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / len(images),
                "val_loss": val,
                "seconds": time.perf_counter() - t0,
            }
        )
        print(json.dumps({"head": head, **history[-1]}), flush=True)
        (out_dir / f"history_{head}.json").write_text(json.dumps(history, indent=1))
        if val < best:
            best, waited = val, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            stopped = waited >= cfg.patience
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": history,
            "best": best,
            "best_state": best_state,
            "waited": waited,
            "stopped": stopped,
        }
        torch.save(state, last.with_suffix(".tmp"))
        last.with_suffix(".tmp").replace(last)  # a kill mid-write leaves the last epoch's
        if stopped:
            break
    model.load_state_dict(best_state)
    return model, history


@torch.no_grad()
def val_loss(model: nn.Module, head: str, images: np.ndarray, targets: torch.Tensor) -> float:
    """Mean loss over the validation images."""
    model.eval()
    total = 0.0
    for i in range(0, len(images), 128):
        out = model(to_batch(images[i : i + 128]))
        total += float(head_loss(head, out, targets[i : i + 128])) * len(out)
    return total / len(images)


def run_baseline(
    cfg: BaselineConfig, out_dir: str | Path, report_dir: str | Path, resume: bool = True
) -> dict:
    """Train the three seed models (resuming from ``out_dir``) and evaluate them on the
    test split."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "config.json"
    cfg = resolve_bf16(cfg)
    if resume and saved.exists():  # only --epochs may change between a run and its resumption
        before = {**json.loads(saved.read_text()), "epochs": cfg.epochs}
        if before != asdict(cfg):
            changed = sorted(k for k, v in asdict(cfg).items() if before.get(k) != v)
            raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)})")
    if not resume:
        for stale in out.glob("last_*.pt"):
            stale.unlink()
    saved.write_text(json.dumps(asdict(cfg), indent=1))
    torch.set_num_threads(cfg.threads)
    splits = {name: load_split(cfg.split, name, cfg.data) for name in ("train", "val", "test")}
    if cfg.limit:
        splits["train"] = splits["train"][: cfg.limit]
    images = {name: load_images(samples, 200) for name, samples in splits.items()}

    def targets(samples, head):
        return torch.tensor([getattr(s, head) for s in samples], dtype=torch.float32)

    preds, histories = {}, {}
    for head in HEADS:
        model, histories[head] = train_head(
            head,
            images["train"],
            targets(splits["train"], head),
            images["val"],
            targets(splits["val"], head),
            cfg,
            out,
            resume,
        )
        preds[head] = predict(model, images["test"], head)
    test = splits["test"]
    metrics = compute_metrics(
        np.array([s.age for s in test]),
        np.array([s.gender for s in test]),
        np.array([s.race for s in test]),
        preds["age"],
        preds["gender"],
        preds["race"],
    )
    metrics["model"] = "seed baseline (3 CNNs, 200x200)"
    metrics["split"] = f"{cfg.split}:test"
    metrics["config"] = asdict(cfg)
    metrics["epochs_run"] = {head: len(h) for head, h in histories.items()}
    write_report(metrics, report_dir, "Seed baseline on the UTKFace test split")
    return metrics
