"""Issue #16: soft labels of the heads-on-embedding ensemble for every training face, so the
fast net can be distilled from it (``faceattrs train --teacher DIR``).

    python scripts/embedding_heads.py --cache /tmp/heads-all --all    # the caches it reads
    python scripts/distill_teacher.py --heads /tmp/heads-all --out cache   # ~10 min, 1 core
    python scripts/distill_teacher.py --heads /tmp/heads-v6 --features --out cache/teacher2
        # the accurate tier's heads (embedding + last feature map) as the MLP part, mixed
        # with the net of the caches (wide64 in /tmp/heads-v6): no gain, see
        # reports/training/wide64/README.md, "A stronger teacher"

The teacher is the ensemble of reports/eval/embedding_heads.md: the MLP head on the identity
embedding mixed per head with the shipped net (weights chosen on val). Its MLP part is
cross-fitted: each training face's probabilities come from an MLP trained on the other
folds, so the soft labels of a face never come from a head that saw its label (the shipped
net's part did see it: it was trained on these faces). Writes ``teacher_{dataset}.npz``
(names, found, probs (N, 101 + 2 + 5)), one row per training sample of the split list.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from embedding_heads import ROOT, SHARED, _load

from faceattrs.training.embedding_heads import (
    compose,
    fit_head,
    head_probs,
    mix_heads,
    mix_weights,
    prob_metrics,
)

DATASETS = ("fairface", "utkface")


def train_names(dataset: str) -> list[str]:
    """The training split's sample names, as the aligned caches (and training) key them."""
    from faceattrs.data.fairface import load_fairface_split
    from faceattrs.data.mixed import interval_samples
    from faceattrs.data.utkface import load_split

    loader = load_split if dataset == "utkface" else load_fairface_split
    samples = loader(ROOT / f"splits/{dataset}", "train", SHARED / dataset, check_exists=False)
    return [s.name for s in interval_samples(samples, SHARED / dataset)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=Path, required=True, help="embedding_heads --all caches")
    parser.add_argument("--out", type=Path, default=ROOT / "cache")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument(
        "--features", action="store_true",
        help="the MLP also reads the embedding network's last feature map (the accurate tier's "
        "heads; caches built with it)",
    )  # fmt: skip
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.time()
    keys = ("embeddings", "labels", "net_probs") + (("features",) if args.features else ())
    parts = {d: _load(args.heads, [f"{d}_train"], keys) for d in DATASETS}
    train = {k: torch.cat([parts[d][k] for d in DATASETS]) for k in keys}
    val = _load(args.heads, [f"{d}_val" for d in DATASETS], keys)
    x, labels, shipped = train["embeddings"], train["labels"], train["net_probs"]
    x_val, labels_val, shipped_val = val["embeddings"], val["labels"], val["net_probs"]
    if args.features:  # the embedding and the last feature map, standardised on train
        mean, std = train["features"].mean(0), train["features"].std(0) + 1e-6
        x = compose(x, train["features"], mean, std)
        x_val = compose(x_val, val["features"], mean, std)

    full = fit_head("mlp", x, labels, x_val, labels_val, args.epochs)
    weights = mix_weights(head_probs(full, x_val), shipped_val, labels_val)
    print(f"ensemble weights (age, gender, race) chosen on val: {weights}", flush=True)
    fold_of = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)) % args.folds
    mlp = torch.zeros_like(shipped)
    for k in range(args.folds):
        held = fold_of == k
        net = fit_head("mlp", x[~held], labels[~held], x_val, labels_val, args.epochs)
        mlp[held] = head_probs(net, x[held])
        print(f"fold {k + 1}/{args.folds}: {time.time() - started:.0f} s", flush=True)
    teacher = mix_heads(mlp, shipped, weights)
    for name, probs in (("cross-fitted MLP", mlp), ("teacher", teacher), ("shipped", shipped)):
        shown = {k: round(v, 4) for k, v in prob_metrics(probs, labels).items() if v}
        print(f"{name} on the training faces: {shown}")

    start = 0
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in DATASETS:
        found = parts[dataset]["found"]
        names = train_names(dataset)
        if len(names) != len(found):
            raise SystemExit(f"{dataset}: {len(names)} names for {len(found)} cached rows")
        probs = np.zeros((len(names), teacher.shape[1]), np.float32)
        probs[found] = teacher[start : start + int(found.sum())].numpy()
        start += int(found.sum())
        out = args.out / f"teacher_{dataset}.npz"
        np.savez(
            out, names=np.asarray(names, str), found=found, probs=probs,
            weights=np.asarray(weights, np.float32),
        )  # fmt: skip
        print(f"{out}: {int(found.sum())} of {len(names)} faces")
    print(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
