"""A float16-weights copy of the face-embedding model for the page (half the download).

Every float32 weight tensor of src/faceattrs/models/face_embedding.onnx is stored as
float16 and cast back to float32 in the graph (Cast nodes, folded by ONNX Runtime when the
session opens), so the arithmetic stays float32; the metadata (the embedding spec) is
kept. The page (web/inbrowser/embedding.js) loads this copy; Python keeps the float32
model. Prints the sizes and the largest difference of the L2-normalised embeddings of
every face our detector finds in the shared photos (float16 copy vs float32 model).

Run from the repository root (with ../shared present for the check)::

    python scripts/convert_embedding_fp16.py
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "faceattrs" / "models"


def float16_weights(source: Path, out: Path) -> None:
    """Write ``source`` with its float32 initializers stored as float16 (cast back)."""
    model = onnx.load(str(source))
    graph = model.graph
    casts, halves = [], []
    for init in list(graph.initializer):
        weights = numpy_helper.to_array(init)
        if weights.dtype != np.float32 or weights.size <= 16:
            continue
        halves.append(numpy_helper.from_array(weights.astype(np.float16), init.name + "_fp16"))
        casts.append(
            helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=TensorProto.FLOAT)
        )
        graph.initializer.remove(init)
    graph.initializer.extend(halves)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([*casts, *nodes])
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def check(source: Path, out: Path, shared: Path) -> None:
    """Print the sizes and the float16 copy's largest embedding difference."""
    import cv2

    from faceattrs.pipeline.detection import FaceDetector
    from faceattrs.pipeline.embedding import EmbeddingModel

    for path in (source, out):
        data = path.read_bytes()
        print(
            f"{path.name}: {len(data) / 1e6:.1f} MB, gzip {len(gzip.compress(data)) / 1e6:.1f} MB"
        )
    full, half = EmbeddingModel(source, threads=1), EmbeddingModel(out, threads=1)
    detector = FaceDetector("full")
    faces, worst, farthest = 0, 0.0, 0.0
    for photo in sorted((shared / "media").glob("*/*.jpg")):
        bgr = cv2.imread(str(photo))
        keypoints = detector.detect(bgr).keypoints
        if not len(keypoints):
            continue
        a, b = full.embed(bgr, keypoints), half.embed(bgr, keypoints)
        faces += len(a)
        worst = max(worst, float(np.abs(a - b).max()))
        farthest = max(farthest, float(np.linalg.norm(a - b, axis=1).max()))
    print(f"{faces} faces: max abs difference {worst:.2e}, max distance {farthest:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=MODELS / "face_embedding.onnx")
    parser.add_argument("--out", type=Path, default=MODELS / "face_embedding_fp16.onnx")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    float16_weights(args.source, args.out)
    if (args.shared / "media").is_dir():
        check(args.source, args.out, args.shared)


if __name__ == "__main__":
    main()
