"""The ``accurate`` tier's heads: an MLP on the identity embedding, mixed with the fast net.

Issue #16, route 2 (reports/eval/embedding_heads.md): small heads on dlib's face
descriptor err differently from the 64 px attribute net, so their probabilities mixed
with the net's beat either alone. :func:`fit_head` trains the MLP; :func:`mix_weights`
chooses each head's share on validation faces; :func:`fit_temperatures` calibrates the
mixed gender and race probabilities there; :func:`export_heads` writes one ONNX graph that
takes the embedding and the fast net's probabilities and returns the mixed ones, with its
:class:`~faceattrs.spec.EmbeddingHeadsSpec` in the metadata.

Labels rows: age_low, age_high, gender, race5 (, race7): FairFace age bins are intervals,
UTKFace ages have age_low == age_high.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

NUM_AGES = 101
EMBEDDING_SCALE = 10.0  # unit-length embeddings have entries ~0.09: scale to ~1
CUTS = ((0, NUM_AGES), (NUM_AGES, NUM_AGES + 2), (NUM_AGES + 2, NUM_AGES + 7))


def compose(embeddings, features=None, mean=None, std=None) -> torch.Tensor:
    """The heads' input: the embedding, then (when given) the network's last feature map
    standardised by the training faces' ``mean`` and ``std`` and brought to the
    embedding's scale."""
    if not isinstance(embeddings, torch.Tensor):  # (a traced input must stay a tensor)
        embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
    if features is None:
        return embeddings
    if not isinstance(features, torch.Tensor):
        features = torch.as_tensor(features, dtype=torch.float32)
    return torch.cat([embeddings, (features - mean) / std / EMBEDDING_SCALE], 1)


def make_net(kind: str = "mlp", input_size: int = 128) -> nn.Module:
    """Logits (N, 101 + 2 + 5) from a scaled input: one linear layer or a 2-layer MLP."""
    out = NUM_AGES + 2 + 5
    if kind == "linear":
        return nn.Linear(input_size, out)
    return nn.Sequential(
        nn.Linear(input_size, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, out),
    )  # fmt: skip


def age_loss(logp: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Interval-censored for FairFace bins (-log P(low <= age <= high)); a 2-year
    Gaussian target for exact UTKFace ages."""
    ages = torch.arange(NUM_AGES).float()
    inside = (ages[None] >= low[:, None]) & (ages[None] <= high[:, None])
    interval = -torch.logsumexp(logp.masked_fill(~inside, -1e9), 1)
    target = torch.exp(-0.5 * ((ages[None] - low[:, None].float()) / 2.0) ** 2)
    gauss = -(target / target.sum(1, keepdim=True) * logp).sum(1)
    return torch.where(low == high, gauss, interval).mean()


def head_probs(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax per head, concatenated: (N, 101 + 2 + 5)."""
    net.eval()
    with torch.no_grad():
        out = net(x * EMBEDDING_SCALE)
    return torch.cat([torch.softmax(out[:, lo:hi], 1) for lo, hi in CUTS], 1)


def _accuracy(probs: torch.Tensor, truth: torch.Tensor) -> float:
    return (probs.argmax(1) == truth).float().mean().item()


def prob_metrics(all_probs: torch.Tensor, labels: torch.Tensor) -> dict:
    """Gender and race accuracy, age MAE (exact ages), age-bin accuracy (FairFace bins)."""
    from faceattrs.data.fairface import AGE_BINS

    probs = all_probs[:, :NUM_AGES]
    age = (probs * torch.arange(NUM_AGES).float()).sum(1)
    exact = labels[:, 0] == labels[:, 1]
    result = {
        "n": len(labels),
        "gender": _accuracy(all_probs[:, CUTS[1][0] : CUTS[1][1]], labels[:, 2]),
        "race": _accuracy(all_probs[:, CUTS[2][0] : CUTS[2][1]], labels[:, 3]),
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


def fit_head(kind: str, x, labels, x_val, labels_val, epochs: int = 60, seed: int = 0):
    """Train one head on embeddings ``x`` (labels as in the module doc), keeping the epoch
    best on the validation embeddings (gender + race + age bin - MAE / 20)."""
    torch.manual_seed(seed)
    net = make_net(kind, x.shape[1])
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    ce = nn.CrossEntropyLoss(label_smoothing=0.05)
    best, state = -1.0, None
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 256):
            idx = order[i : i + 256]
            out, lab = net(x[idx] * EMBEDDING_SCALE), labels[idx]
            loss = (
                age_loss(torch.log_softmax(out[:, :NUM_AGES], 1), lab[:, 0], lab[:, 1])
                + ce(out[:, CUTS[1][0] : CUTS[1][1]], lab[:, 2])
                + ce(out[:, CUTS[2][0] : CUTS[2][1]], lab[:, 3])
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        schedule.step()
        m = prob_metrics(head_probs(net, x_val), labels_val)
        score = m["gender"] + m["race"] + (m["age_bin"] or 0) - (m["mae"] or 0) / 20
        if score > best:
            best, state = score, {k: v.clone() for k, v in net.state_dict().items()}
    assert state is not None
    net.load_state_dict(state)
    return net.eval()


class AveragedHeads(nn.Module):
    """Heads trained from several seeds as one: per head (age, gender, race) the log of
    their mean probabilities, so that a softmax of it, as :func:`head_probs` and the
    exported graph take, gives the mean."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [net(x) for net in self.nets]
        means = [
            torch.stack([torch.softmax(out[:, lo:hi], 1) for out in outs]).mean(0)
            for lo, hi in CUTS
        ]
        return torch.log(torch.cat(means, 1).clamp_min(1e-12))


def fit_heads(kind: str, x, labels, x_val, labels_val, epochs: int = 60, seeds: int = 1):
    """:func:`fit_head` with seeds 0 .. ``seeds`` - 1, averaged (one head: itself)."""
    nets = [fit_head(kind, x, labels, x_val, labels_val, epochs, seed) for seed in range(seeds)]
    return nets[0] if seeds == 1 else AveragedHeads(nets).eval()


def mix_heads(a: torch.Tensor, b: torch.Tensor, weights) -> torch.Tensor:
    """Per head (age, gender, race): ``w * a + (1 - w) * b``."""
    pairs = zip(weights, CUTS, strict=True)
    mixed = [w * a[:, lo:hi] + (1 - w) * b[:, lo:hi] for w, (lo, hi) in pairs]
    return torch.cat(mixed, 1)


def mix_weights(head: torch.Tensor, shipped: torch.Tensor, labels) -> tuple[float, float, float]:
    """Per head, the embedding head's share (0-1 by 0.1) best on validation: the lowest
    age MAE, the highest gender and race accuracy. (Choosing the gender share by accuracy
    minus the FairFace gender gap across race groups was tried: on validation's 300-450
    faces per group that gap is too noisy to choose by; see reports/eval/accurate_tier.md.)"""
    grid = [round(float(w), 1) for w in np.arange(0, 1.01, 0.1)]
    val = {w: prob_metrics(w * head + (1 - w) * shipped, labels) for w in grid}
    return (
        min(grid, key=lambda w: val[w]["mae"]),
        max(grid, key=lambda w: val[w]["gender"]),
        max(grid, key=lambda w: val[w]["race"]),
    )


def fit_temperatures(mixed: torch.Tensor, labels) -> tuple[float, float, float]:
    """Temperatures (age, gender, race) of the mixed probabilities, ``softmax(log p / T)``,
    fitted on validation faces by the attribute model's rules
    (:mod:`faceattrs.training.calibration`): gender and race by the lowest negative
    log-likelihood, age by the 80% interval's coverage of the exact ages nearest 80%."""
    from faceattrs.spec import ModelSpec
    from faceattrs.training.calibration import fit_age_temperature, fit_class_temperature

    logp = [torch.log(mixed[:, lo:hi].clamp_min(1e-12))[..., None] for lo, hi in CUTS]
    age = fit_age_temperature(ModelSpec(), logp[0], labels[:, 0], labels[:, 1])
    return (
        age,
        fit_class_temperature(logp[1], labels[:, 2]),
        fit_class_temperature(logp[2], labels[:, 3]),
    )


class MixedHeads(nn.Module):
    """embedding (and features), the fast net's age/gender/race probabilities -> mixed
    probabilities."""

    def __init__(self, net: nn.Module, weights, temperatures, mean=None, std=None) -> None:
        super().__init__()
        self.net = net.eval()
        self.weights = [float(w) for w in weights]
        self.temperatures = [float(t) for t in temperatures]
        self.mean, self.std = mean, std

    def forward(self, embedding, *rest):
        features = rest[0] if len(rest) == 4 else None
        fast = rest[-3:]
        logits = self.net(compose(embedding, features, self.mean, self.std) * EMBEDDING_SCALE)
        outs = []
        for (lo, hi), w, t, probs in zip(CUTS, self.weights, self.temperatures, fast, strict=True):
            mixed = w * torch.softmax(logits[:, lo:hi], 1) + (1 - w) * probs
            if t != 1.0:
                mixed = torch.softmax(torch.log(mixed.clamp_min(1e-12)) / t, 1)
            outs.append(mixed)
        return tuple(outs)


def export_heads(net: nn.Module, spec, path: str | Path, mean=None, std=None) -> Path:
    """Write the mixed heads as ONNX (inputs and outputs named by ``spec``, dynamic batch)
    with ``spec`` in the metadata; ``mean``/``std``: the features' standardisation."""
    import tempfile

    import onnx

    from faceattrs.training.export import save_with_spec

    wrapper = MixedHeads(net, spec.mix, spec.temperatures, mean, std).eval()
    features = (torch.zeros(2, spec.features_size),) if spec.features_size else ()
    dummy = (
        torch.zeros(2, spec.embedding_size),
        *features,
        torch.full((2, NUM_AGES), 1 / NUM_AGES),
        torch.full((2, len(spec.genders)), 1 / len(spec.genders)),
        torch.full((2, len(spec.races)), 1 / len(spec.races)),
    )
    names = (*spec.inputs, *spec.outputs)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "heads.onnx"
        with torch.no_grad():
            torch.onnx.export(
                wrapper, dummy, str(raw), input_names=list(spec.inputs),
                output_names=list(spec.outputs), dynamic_axes={n: {0: "batch"} for n in names},
                opset_version=17, dynamo=False,
            )  # fmt: skip
        model = onnx.load(str(raw))
    return save_with_spec(model, spec, path, "faceattrs accurate tier: heads on the face embedding")
