"""Issue #16: a checkpoint's gender loss and accuracy per dataset x race x gender group on
the training and validation faces (no augmentation, EMA weights as saved in best.pt): which
groups group DRO would weight (reports/training/dro64/README.md).

    python scripts/group_losses.py runs/wide64/best.pt      # ~1 min on 2 cores
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch
import torch.nn.functional as F

from faceattrs.spec import ModelSpec
from faceattrs.training.config import NetConfig, TrainConfig
from faceattrs.training.dataset import to_input
from faceattrs.training.model import FaceAttrNet
from faceattrs.training.sources import parse_datasets
from faceattrs.training.train import load_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a faceattrs train checkpoint (best.pt)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    cfg = replace(TrainConfig(**ckpt["train_config"]), teacher="")
    spec = ModelSpec.from_json(ckpt["spec"])
    train_set, val_sets = load_data(cfg, spec)
    net = FaceAttrNet(NetConfig.from_dict(ckpt["net_config"]))
    net.load_state_dict(ckpt["model_state"])
    net.eval()
    names = parse_datasets(cfg.datasets)
    for face_set in (train_set, *val_sets):
        labels = face_set.labels
        losses, right = [], []
        with torch.no_grad():
            for i in range(0, len(face_set), 512):
                x = to_input(torch.from_numpy(face_set.images[i : i + 512]), spec.input_size,
                             spec.mean, spec.std)  # fmt: skip
                logits, truth = net(x)[1], labels["gender"][i : i + 512]
                losses.append(F.cross_entropy(logits, truth, reduction="none"))
                right.append((logits.argmax(1) == truth).float())
        loss, correct = torch.cat(losses), torch.cat(right)
        if "dataset" in labels:  # the training set: each face's dataset index
            index = labels["dataset"]
        else:  # a val set ("fairface_val"): one dataset's
            index = torch.full((len(face_set),), names.index(face_set.name.rsplit("_", 1)[0]))
        print(f"{face_set.name} ({len(face_set)} faces)")
        for k, dataset in enumerate(names):
            mask = index == k
            for race, race_name in enumerate(spec.races):
                for gender, gender_name in enumerate(spec.genders):
                    sel = mask & (labels["race"] == race) & (labels["gender"] == gender)
                    if sel.any():
                        print(f"  {dataset} {race_name}/{gender_name}: n {int(sel.sum())}, "
                              f"loss {loss[sel].mean():.3f}, accuracy "
                              f"{100 * correct[sel].mean():.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
