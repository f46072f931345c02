"""Issue #16, route 2: small heads (linear, MLP) on the identity embedding, measured
against the shipped attribute model (see reports/eval/embedding_heads.md).

    python scripts/embedding_heads.py --cache /tmp/heads     # about 15 min on 2 cores
    python scripts/embedding_heads.py --cache /tmp/heads-all --all   # every face, + ensemble

Embeds the centre face of a seeded subsample of each split through the product's
detector and the embedding model's alignment (cached as npz), trains the heads on the
train caches, selects on val, prints the test metrics. Needs ../shared and [train].

``--all`` uses every face of every split instead, read from the embedding caches that
:mod:`faceattrs.data.embedding_cache` builds from the aligned caches (the same centre
face, the same alignment; ``cache/embeddings_{dataset}.npz``, built first when missing),
and also measures the ensemble of the MLP head with the shipped attribute model (their
probabilities averaged, the weight chosen on val).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PLAN = (
    ("fairface", "test", None), ("utkface", "test", None), ("fairface", "val", 1500),
    ("utkface", "val", 1000), ("fairface", "train", 9000), ("utkface", "train", 7000),
)  # fmt: skip
NUM_AGES = 101


def build_caches(cache: Path) -> None:
    """One npz per split: embeddings (N, 128), found (N,), labels (N, 5): age_low,
    age_high, gender, race5, race7 (-1 for UTKFace)."""
    from faceattrs.data.aligned_cache import find_centre_face
    from faceattrs.data.fairface import load_fairface_split
    from faceattrs.data.utkface import load_split
    from faceattrs.media import read_image
    from faceattrs.pipeline.detection import FaceDetector
    from faceattrs.pipeline.embedding import EmbeddingModel

    detector, embedder = FaceDetector("full", threads=1), EmbeddingModel(threads=1)
    cache.mkdir(parents=True, exist_ok=True)
    for dataset, split, limit in PLAN:
        out = cache / f"{dataset}_{split}.npz"
        if out.exists():
            continue
        if dataset == "utkface":
            samples = load_split(ROOT / "splits/utkface", split, SHARED / "utkface")
        else:
            samples = load_fairface_split(ROOT / "splits/fairface", split, SHARED / "fairface")
        if limit:
            pick = np.random.default_rng(0).choice(len(samples), limit, replace=False)
            samples = [samples[i] for i in sorted(pick)]
        vectors, found, labels = [], [], []
        started = time.time()
        for s in samples:
            bgr = read_image(s.path)
            face = find_centre_face(bgr, detector)
            vectors.append(
                embedder.embed(bgr, face.keypoints[None])[0] if face.found else np.zeros(128)
            )
            found.append(face.found)
            if dataset == "utkface":
                labels.append((s.age, s.age, s.gender, s.race, -1))
            else:
                labels.append((s.age_low, s.age_high, s.gender, s.race5, s.race7))
        np.savez(
            out, embeddings=np.asarray(vectors, np.float32), found=np.asarray(found),
            labels=np.asarray(labels, np.int32),
        )  # fmt: skip
        print(f"{out}: {len(samples)} images, {time.time() - started:.0f} s", flush=True)


def build_all(cache: Path, cache_dir: Path) -> None:
    """Every face of every split, from the embedding and aligned caches; also the shipped
    attribute model's probabilities (age 0-100, gender, race5) of each face found."""
    from faceattrs.data.embedding_cache import build_embedding_cache, load_embedding_cache
    from faceattrs.data.fairface import load_fairface_split
    from faceattrs.data.utkface import load_split
    from faceattrs.evaluation.faces import cached_faces
    from faceattrs.pipeline.attributes import AttributeModel

    model = AttributeModel()
    cache.mkdir(parents=True, exist_ok=True)
    for dataset, split, _ in PLAN:
        out = cache / f"{dataset}_{split}.npz"
        if out.exists():
            continue
        aligned = cache_dir / f"aligned_{dataset}_112.npz"
        emb_path = cache_dir / f"embeddings_{dataset}.npz"
        if not emb_path.exists():
            build_embedding_cache(aligned, SHARED / dataset, emb_path)
        if dataset == "utkface":
            samples = load_split(ROOT / "splits/utkface", split, SHARED / "utkface")
            labels = [(s.age, s.age, s.gender, s.race, -1) for s in samples]
        else:
            samples = load_fairface_split(ROOT / "splits/fairface", split, SHARED / "fairface")
            labels = [(s.age_low, s.age_high, s.gender, s.race5, s.race7) for s in samples]
        names = [s.path.relative_to(SHARED / dataset).as_posix() for s in samples]
        emb = load_embedding_cache(emb_path)
        rows = emb.rows(names)
        faces = cached_faces(aligned, names, model.spec)
        pred = model.predict(faces.crops_bgr)
        net_probs = np.zeros((len(names), NUM_AGES + 7), np.float32)
        net_probs[faces.found] = np.concatenate(
            [pred.age_probs, pred.gender_probs, pred.race_probs], 1
        )
        np.savez(
            out, embeddings=emb.embeddings[rows], found=emb.found[rows] & faces.found,
            labels=np.asarray(labels, np.int32), net_probs=net_probs,
        )  # fmt: skip
        print(f"{out}: {len(names)} images, {int(faces.found.sum())} faces", flush=True)


def _tensors(cache: Path, names: list[str]):
    import torch

    xs, ls = [], []
    for name in names:
        z = np.load(cache / f"{name}.npz")
        xs.append(z["embeddings"][z["found"]])
        ls.append(z["labels"][z["found"]])
    return torch.tensor(np.concatenate(xs)), torch.tensor(np.concatenate(ls)).long()


def _age_loss(logp, low, high):
    """Interval-censored for FairFace bins (-log P(low <= age <= high)); a 2-year
    Gaussian target for exact UTKFace ages."""
    import torch

    ages = torch.arange(NUM_AGES).float()
    inside = (ages[None] >= low[:, None]) & (ages[None] <= high[:, None])
    interval = -torch.logsumexp(logp.masked_fill(~inside, -1e9), 1)
    target = torch.exp(-0.5 * ((ages[None] - low[:, None].float()) / 2.0) ** 2)
    gauss = -(target / target.sum(1, keepdim=True) * logp).sum(1)
    return torch.where(low == high, gauss, interval).mean()


def _net(kind: str):
    from torch import nn

    out = NUM_AGES + 2 + 5
    if kind == "linear":
        return nn.Linear(128, out)
    return nn.Sequential(
        nn.Linear(128, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, out),
    )  # fmt: skip


def _metrics(net, x, labels) -> dict:
    return _prob_metrics(head_probs(net, x), labels)


def head_probs(net, x):
    """Softmax per head, concatenated: (N, 101 + 2 + 5)."""
    import torch

    net.eval()
    with torch.no_grad():
        out = net(x * 10)
    heads = (out[:, :NUM_AGES], out[:, NUM_AGES : NUM_AGES + 2], out[:, NUM_AGES + 2 :])
    return torch.cat([torch.softmax(h, 1) for h in heads], 1)


def _accuracy(probs, truth) -> float:
    return (probs.argmax(1) == truth).float().mean().item()


def _prob_metrics(all_probs, labels) -> dict:
    import torch

    from faceattrs.data.fairface import AGE_BINS

    probs = all_probs[:, :NUM_AGES]
    age = (probs * torch.arange(NUM_AGES).float()).sum(1)
    exact = labels[:, 0] == labels[:, 1]
    result = {
        "n": len(labels),
        "gender": _accuracy(all_probs[:, NUM_AGES : NUM_AGES + 2], labels[:, 2]),
        "race": _accuracy(all_probs[:, NUM_AGES + 2 :], labels[:, 3]),
        "mae": (age[exact] - labels[exact, 0]).abs().mean().item() if exact.any() else None,
        "age_bin": None,
    }
    if (~exact).any():
        mass = torch.stack([probs[~exact][:, lo : hi + 1].sum(1) for _, lo, hi in AGE_BINS], 1)
        truth = torch.tensor(
            [next(i for i, (_, lo, hi) in enumerate(AGE_BINS) if lo <= a <= hi)
             for a in labels[~exact, 0].tolist()]
        )  # fmt: skip
        result["age_bin"] = (mass.argmax(1) == truth).float().mean().item()
    return result


def train_head(kind: str, cache: Path, epochs: int):
    """Train one head on the train caches, keeping the epoch best on val."""
    x, labels = _tensors(cache, ["fairface_train", "utkface_train"])
    x_val, labels_val = _tensors(cache, ["fairface_val", "utkface_val"])
    return fit_head(kind, x, labels, x_val, labels_val, epochs)


def fit_head(kind: str, x, labels, x_val, labels_val, epochs: int):
    """Train one head on embeddings ``x`` (labels: age_low, age_high, gender, race5, ...),
    keeping the epoch best on the val embeddings."""
    import torch

    torch.manual_seed(0)
    net = _net(kind)
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    best, state = -1.0, None
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 256):
            idx = order[i : i + 256]
            out, lab = net(x[idx] * 10), labels[idx]
            loss = (
                _age_loss(torch.log_softmax(out[:, :NUM_AGES], 1), lab[:, 0], lab[:, 1])
                + ce(out[:, NUM_AGES : NUM_AGES + 2], lab[:, 2])
                + ce(out[:, NUM_AGES + 2 :], lab[:, 3])
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        schedule.step()
        m = _metrics(net, x_val, labels_val)
        score = m["gender"] + m["race"] + (m["age_bin"] or 0) - (m["mae"] or 0) / 20
        if score > best:
            best, state = score, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    return net


def _show(name: str, test: str, found, m: dict) -> None:
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}
    print(f"{name:8s} {test:14s} found {found.mean():.3f} {shown}", flush=True)


def _split(cache: Path, name: str):
    import torch

    z = np.load(cache / f"{name}.npz")
    found = z["found"]
    net_probs = torch.tensor(z["net_probs"][found]) if "net_probs" in z.files else None
    x, labels = torch.tensor(z["embeddings"][found]), torch.tensor(z["labels"][found]).long()
    return found, x, labels, net_probs


def mix_heads(a, b, weights: tuple[float, float, float]):
    """Per head (age, gender, race): ``w * a + (1 - w) * b``."""
    import torch

    cuts = ((0, NUM_AGES), (NUM_AGES, NUM_AGES + 2), (NUM_AGES + 2, NUM_AGES + 7))
    mixed = [
        w * a[:, lo:hi] + (1 - w) * b[:, lo:hi] for w, (lo, hi) in zip(weights, cuts, strict=True)
    ]
    return torch.cat(mixed, 1)


def ensemble_weights(net, cache: Path) -> tuple[float, float, float]:
    """Per head, the head's weight (0-1 by 0.1) that is best on the val splits: the lowest
    age MAE, the highest gender and race accuracy."""
    import torch

    parts = [_split(cache, name) for name in ("fairface_val", "utkface_val")]
    head = torch.cat([head_probs(net, x) for _, x, _, _ in parts])
    shipped = torch.cat([p for *_, p in parts])
    labels = torch.cat([lab for _, _, lab, _ in parts])
    grid = [round(w, 1) for w in np.arange(0, 1.01, 0.1)]
    val = {w: _prob_metrics(w * head + (1 - w) * shipped, labels) for w in grid}
    w_age = min(grid, key=lambda w: val[w]["mae"])
    w_gender = max(grid, key=lambda w: val[w]["gender"])
    w_race = max(grid, key=lambda w: val[w]["race"])
    return w_age, w_gender, w_race


def report(cache: Path, epochs: int, ensemble: bool = False) -> None:
    for kind in ("linear", "mlp"):
        net = train_head(kind, cache, epochs)
        weights = ensemble_weights(net, cache) if ensemble and kind == "mlp" else None
        for test in ("fairface_test", "utkface_test"):
            found, x, labels, shipped = _split(cache, test)
            _show(kind, test, found, _metrics(net, x, labels))
            if weights is not None:
                _show("shipped", test, found, _prob_metrics(shipped, labels))
                mixed = mix_heads(head_probs(net, x), shipped, weights)
                _show(f"ens{weights}", test, found, _prob_metrics(mixed, labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="folder for the embedding caches")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--all", action="store_true", help="every face, and the ensemble")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "cache", help="aligned caches")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.all:
        build_all(Path(args.cache), args.cache_dir)
    else:
        build_caches(Path(args.cache))
    report(Path(args.cache), args.epochs, ensemble=args.all)


if __name__ == "__main__":
    main()
