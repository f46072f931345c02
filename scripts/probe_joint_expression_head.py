"""Issue #18, item 1: would a joint head (expression read off the attribute network) do?

The attribute network runs on every face anyway, so an expression head on its features would
cost next to nothing. This probe freezes the shipped float attribute network and trains small
heads on its features of the FER faces through our detector and alignment (the crops
``train-expression --pipeline-prob`` caches, cut again on the attribute template), then scores
them on FER val as ``evaluate --dataset fer`` does for the faces found:

- linear and MLP heads on the pooled final features (what the age, gender and race heads read);
- an MLP on the pooled features of the last three stages;
- a small convolutional branch on the 64 x 16 x 16 map of the third stage.

    python scripts/probe_joint_expression_head.py --cache-dir /work/cache-expression  # ~15 min

Prints a table (not a test). Needs the [train] extra (torch) and ../shared.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from faceattrs.data.fer import load_fer_pipeline_crops, load_fer_split
from faceattrs.evaluation.fer import expression_metrics
from faceattrs.pipeline.alignment import align, template_points
from faceattrs.pipeline.attributes import AttributeModel
from faceattrs.pipeline.detection import FaceDetector
from faceattrs.pipeline.expression import ExpressionModel
from faceattrs.resources import MODELS_DIR
from faceattrs.training.expression import class_weights

POOLED = "/net/Flatten_output_0"
STAGES = [f"/net/backbone/backbone.{i}/act_1/Relu_output_0" for i in (2, 3, 4)]


def features(gray: np.ndarray, threads: int) -> dict[str, np.ndarray]:
    """The frozen attribute network's features of 48 px expression-template crops, each cut
    again on the attribute template (its own points serve as keypoints)."""
    attr_spec = AttributeModel(MODELS_DIR / "attributes_fp32.onnx").spec
    points = template_points(ExpressionModel().spec, size=gray.shape[1])[None]
    model = onnx.load(str(MODELS_DIR / "attributes_fp32.onnx"))
    names = [POOLED, *STAGES]
    for name in names:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])
    out: dict[str, list] = {"pooled": [], "stages": [], "map": []}
    for i in range(0, len(gray), 256):
        bgr = np.repeat(gray[i : i + 256, ..., None], 3, axis=3)
        crops = np.concatenate([align(face, points, attr_spec) for face in bgr])
        pooled, map2, map3, map4 = session.run(names, {"input": attr_spec.preprocess(crops)})
        out["pooled"].append(pooled)
        out["stages"].append(np.concatenate([pooled, map3.mean((2, 3)), map4.mean((2, 3))], 1))
        out["map"].append(map2.astype(np.float16))
    return {k: np.concatenate(v) for k, v in out.items()}


def block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def head(kind: str, size: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(size, 7)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(size, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 7))
    return nn.Sequential(  # the branch: 16x16 -> 8x8 -> 4x4, about 25 M multiply-adds
        *block(size, 96), nn.MaxPool2d(2), *block(96, 128), nn.MaxPool2d(2), *block(128, 192),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(192, 7),
    )  # fmt: skip


def train_head(kind, x_train, y_train, x_val, y_val, epochs: int) -> dict:
    """Class-weighted cross-entropy (count^-0.5, as train-expression), SGD, one-cycle LR."""
    torch.manual_seed(0)
    net = head(kind, x_train.shape[1])
    weights = class_weights(np.bincount(y_train, minlength=7), 0.5)
    loss_fn = nn.CrossEntropyLoss(weights, label_smoothing=0.1)
    opt = torch.optim.SGD(net.parameters(), 0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = epochs * -(-len(x_train) // 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, 0.05, total_steps=steps)
    labels = torch.from_numpy(y_train)
    for _ in range(epochs):
        net.train()
        for batch in torch.randperm(len(x_train)).split(128):
            loss = loss_fn(net(torch.from_numpy(x_train[batch.numpy()]).float()), labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    net.eval()
    with torch.no_grad():
        logits = [
            net(torch.from_numpy(x_val[i : i + 512]).float()) for i in range(0, len(x_val), 512)
        ]
    return expression_metrics(y_val, torch.cat(logits).argmax(1).numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/fer2013")
    parser.add_argument("--cache-dir", default="cache", help="FER pipeline crop caches")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = FaceDetector("full", threads=args.threads)
    spec = ExpressionModel().spec
    data = {}
    for split in ("train", "val"):
        fer = load_fer_split(args.data, split, args.cache_dir)
        gray, found = load_fer_pipeline_crops(
            fer, split, detector, spec, cache_dir=args.cache_dir, align_border="replicate"
        )
        start = time.perf_counter()
        data[split] = features(gray[found], args.threads), fer.labels[found]
        print(
            f"{split}: {found.sum()} faces found, features in {time.perf_counter() - start:.0f} s"
        )
    (train, y_train), (val, y_val) = data["train"], data["val"]
    print("| head on the frozen attribute network | FER val accuracy | macro-F1 | fear |")
    print("| --- | --- | --- | --- |")
    for label, key, kind in (
        ("linear, pooled final features (192)", "pooled", "linear"),
        ("MLP, pooled final features (192)", "pooled", "mlp"),
        ("MLP, pooled features of the last three stages (448)", "stages", "mlp"),
        ("conv branch on the third stage's 64x16x16 map", "map", "branch"),
    ):
        x_train, x_val = train[key], val[key]
        if key != "map":  # standardised on the training faces
            mean, std = x_train.mean(0), x_train.std(0) + 1e-6
            x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
        m = train_head(kind, x_train, y_train, x_val, y_val, args.epochs)
        print(f"| {label} | {100 * m['accuracy']:.1f}% | {m['macro_f1']:.3f} | "
              f"{100 * m['recall']['fear']:.1f}% |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
