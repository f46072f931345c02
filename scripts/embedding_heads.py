"""Issue #16, route 2: small heads (linear, MLP) on the identity embedding, measured
against the shipped attribute model (see reports/eval/embedding_heads.md).

    python scripts/embedding_heads.py --cache /tmp/heads     # about 15 min on 2 cores
    python scripts/embedding_heads.py --cache /tmp/heads-all --all   # every face, + ensemble
    python scripts/embedding_heads.py --cache /tmp/heads-all --all --mirror \
        --export src/faceattrs/models/attributes_accurate.onnx        # the accurate tier

Embeds the centre face of a seeded subsample of each split through the product's
detector and the embedding model's alignment (cached as npz), trains the heads on the
train caches, selects on val, prints the test metrics. Needs ../shared and [train].

``--all`` uses every face of every split instead, read from the embedding caches that
:mod:`faceattrs.data.embedding_cache` builds from the aligned caches (the same centre
face, the same alignment; ``cache/embeddings_{dataset}.npz``, built first when missing),
and also measures the ensemble of the MLP head with the shipped attribute model (their
probabilities averaged, the weight chosen on val). ``--mirror`` also embeds each training
face's chip mirrored left to right (``cache/embeddings_{dataset}_mirrored.npz``) and trains
the exported head on both views (selection and test on the faces as they are).
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
NUM_AGES = 101  # ages 0-100


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


def build_all(cache: Path, cache_dir: Path, mirror: bool = False) -> None:
    """Every face of every split, from the embedding and aligned caches; also the shipped
    attribute model's probabilities (age 0-100, gender, race5) of each face found, and with
    ``mirror`` the embeddings and features of the mirrored chips (``*_mirrored``)."""
    from faceattrs.data.embedding_cache import build_embedding_cache, load_embedding_cache
    from faceattrs.data.fairface import load_fairface_split
    from faceattrs.data.utkface import load_split
    from faceattrs.evaluation.faces import cached_faces
    from faceattrs.pipeline.attributes import AttributeModel

    model = AttributeModel()
    cache.mkdir(parents=True, exist_ok=True)
    for dataset, split, _ in PLAN:
        out = cache / f"{dataset}_{split}.npz"
        if out.exists() and (not mirror or "embeddings_mirrored" in np.load(out).files):
            continue
        aligned = cache_dir / f"aligned_{dataset}_112.npz"
        emb_path = cache_dir / f"embeddings_{dataset}.npz"
        mirrored_path = cache_dir / f"embeddings_{dataset}_mirrored.npz"
        if not emb_path.exists():
            build_embedding_cache(aligned, SHARED / dataset, emb_path)
        if mirror and not mirrored_path.exists():
            build_embedding_cache(aligned, SHARED / dataset, mirrored_path, mirror=True)
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
        extra = {} if emb.features is None else {"features": emb.features[rows]}
        found = emb.found[rows] & faces.found
        if mirror:
            mirrored = load_embedding_cache(mirrored_path)
            found &= mirrored.found[rows]
            extra["embeddings_mirrored"] = mirrored.embeddings[rows]
            if mirrored.features is not None:
                extra["features_mirrored"] = mirrored.features[rows]
        np.savez(
            out, embeddings=emb.embeddings[rows], found=found,
            labels=np.asarray(labels, np.int32), net_probs=net_probs, **extra,
        )  # fmt: skip
        print(f"{out}: {len(names)} images, {int(faces.found.sum())} faces", flush=True)


def _load(cache: Path, names: list[str], keys=("embeddings", "labels")) -> dict:
    """The ``keys`` arrays of the faces found in the ``names`` splits, joined (torch
    tensors, labels int64), and ``found``: the splits' found masks, joined (numpy)."""
    import torch

    zs = [np.load(cache / f"{name}.npz") for name in names]
    missing = sorted({k for z in zs for k in keys if k not in z.files})
    if missing:
        raise SystemExit(f"{cache}: no {', '.join(missing)} in the caches; build them again")
    joined = {k: np.concatenate([z[k][z["found"]] for z in zs]) for k in keys}
    out = {k: torch.tensor(v.astype(np.int64 if k == "labels" else np.float32))
           for k, v in joined.items()}  # fmt: skip
    out["found"] = np.concatenate([z["found"] for z in zs])
    return out


def train_head(kind: str, cache: Path, epochs: int):
    """Train one head on the train caches, keeping the epoch best on val."""
    from faceattrs.training.embedding_heads import fit_head

    train = _load(cache, ["fairface_train", "utkface_train"])
    val = _load(cache, ["fairface_val", "utkface_val"])
    return fit_head(
        kind, train["embeddings"], train["labels"], val["embeddings"], val["labels"], epochs
    )


def _show(name: str, test: str, found, m: dict) -> None:
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}
    print(f"{name:8s} {test:14s} found {found.mean():.3f} {shown}", flush=True)


def report(cache: Path, epochs: int, ensemble: bool = False) -> None:
    from faceattrs.training.embedding_heads import head_probs, mix_heads, mix_weights, prob_metrics

    keys = ("embeddings", "labels", "net_probs") if ensemble else ("embeddings", "labels")
    for kind in ("linear", "mlp"):
        net = train_head(kind, cache, epochs)
        weights = None
        if ensemble and kind == "mlp":
            val = _load(cache, ["fairface_val", "utkface_val"], keys)
            probs = head_probs(net, val["embeddings"])
            weights = mix_weights(probs, val["net_probs"], val["labels"])
        for test in ("fairface_test", "utkface_test"):
            part = _load(cache, [test], keys)
            found, labels = part["found"], part["labels"]
            probs = head_probs(net, part["embeddings"])
            _show(kind, test, found, prob_metrics(probs, labels))
            if weights is not None:
                _show("shipped", test, found, prob_metrics(part["net_probs"], labels))
                mixed = mix_heads(probs, part["net_probs"], weights)
                _show(f"ens{weights}", test, found, prob_metrics(mixed, labels))


def export(cache: Path, epochs: int, out: Path, mirror: bool = False, seeds: int = 1) -> None:
    """Train the MLP head on the embedding and the features (with ``mirror``, of each
    training face and of its mirror image; ``seeds`` > 1: that many, averaged), choose its
    shares and temperatures on val, write the accurate tier's ONNX graph to ``out`` and
    print the test figures of that file (ONNX Runtime)."""
    import onnxruntime as ort
    import torch

    from faceattrs.spec import EmbeddingHeadsSpec
    from faceattrs.training.embedding_heads import (
        CUTS,
        compose,
        export_heads,
        fit_heads,
        fit_temperatures,
        head_probs,
        mix_heads,
        mix_weights,
        prob_metrics,
    )  # fmt: skip

    keys = ("embeddings", "features", "labels", "net_probs")
    mirrored = ("embeddings_mirrored", "features_mirrored") if mirror else ()
    train = _load(cache, ["fairface_train", "utkface_train"], keys + mirrored)
    val = _load(cache, ["fairface_val", "utkface_val"], keys)
    mean, std = train["features"].mean(0), train["features"].std(0) + 1e-6
    x, x_val = (compose(p["embeddings"], p["features"], mean, std) for p in (train, val))
    labels = train["labels"]
    if mirror:  # each training face twice: as it is and mirrored
        x_mirrored = compose(train[mirrored[0]], train[mirrored[1]], mean, std)
        x, labels = torch.cat([x, x_mirrored]), torch.cat([labels, labels])
    net = fit_heads("mlp", x, labels, x_val, val["labels"], epochs, seeds)
    head_val = head_probs(net, x_val)
    weights = mix_weights(head_val, val["net_probs"], val["labels"])
    temps = fit_temperatures(mix_heads(head_val, val["net_probs"], weights), val["labels"])
    spec = EmbeddingHeadsSpec(
        features_size=int(train["features"].shape[1]), mix=weights, temperatures=temps,
        inputs=("embedding", "features", "fast_age_probs", "fast_gender_probs",
                "fast_race_probs"),
        extra={"trained_on": "UTKFace + FairFace train splits (splits/), faces through the "
               "product's detector; mix and temperatures chosen on their val splits",
               "command": f"python scripts/embedding_heads.py --cache {cache} --all "
                          f"{'--mirror ' if mirror else ''}"
                          f"{f'--seeds {seeds} ' if seeds > 1 else ''}--export {out}"},
    )  # fmt: skip
    export_heads(net, spec, out, mean, std)
    print(f"wrote {out}: mix {weights}, temperatures {temps}", flush=True)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for test in ("fairface_test", "utkface_test"):
        part = _load(cache, [test], keys)
        shipped = part["net_probs"]
        arrays = [part["embeddings"], part["features"], *(shipped[:, lo:hi] for lo, hi in CUTS)]
        feeds = {name: a.numpy() for name, a in zip(spec.inputs, arrays, strict=True)}
        probs = torch.tensor(np.concatenate(session.run(list(spec.outputs), feeds), 1))
        _show("shipped", test, part["found"], prob_metrics(shipped, part["labels"]))
        _show("accurate", test, part["found"], prob_metrics(probs, part["labels"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="folder for the embedding caches")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--all", action="store_true", help="every face, and the ensemble")
    parser.add_argument("--export", type=Path, help="with --all: write the accurate tier's ONNX")
    parser.add_argument(
        "--mirror", action="store_true", help="with --all: train on mirrored faces too"
    )
    parser.add_argument("--seeds", type=int, default=1, help="with --export: average N heads")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "cache", help="aligned caches")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.all:
        build_all(Path(args.cache), args.cache_dir, mirror=args.mirror)
    else:
        build_caches(Path(args.cache))
    if args.export:
        export(Path(args.cache), args.epochs, args.export, args.mirror, args.seeds)
    else:
        report(Path(args.cache), args.epochs, ensemble=args.all)


if __name__ == "__main__":
    main()
