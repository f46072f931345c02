"""Check face_embedding.onnx against dlib's own face descriptor on real face chips.

For every face in the photos (and every ``--frame-step``-th frame of the videos)
under ``--media``: faces are found by dlib's HOG detector (upsampled once) and by
our BlazeFace detector (its boxes, squared, given to dlib's 5-point shape
predictor), dlib cuts the 150 px chip (``dlib.get_face_chip``, padding 0.25, as
``compute_face_descriptor`` does) and both dlib (``compute_face_descriptor`` on
the chip) and the ONNX model (ONNX Runtime, one thread) compute the descriptor.
Also checks that dlib's descriptor from the whole image plus landmarks equals
the one from the chip. Prints the max abs difference per component, the largest
Euclidean distance between the two descriptors and the count of faces.

Needs dlib (``pip install dlib-bin``) and face_recognition_models (for the
5-point predictor). Run from the repository root::

    OMP_NUM_THREADS=1 nice -n 10 python scripts/check_embedding_parity.py --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
CHIP_SIZE, CHIP_PADDING = 150, 0.25


def model_file(name: str) -> str:
    found = importlib.util.find_spec("face_recognition_models")
    if found is None or not found.submodule_search_locations:
        sys.exit("face_recognition_models is not installed")
    return str(Path(list(found.submodule_search_locations)[0]) / "models" / name)


def images(media: Path, frame_step: int, max_frames: int):
    """(name, RGB image) for each photo and each sampled video frame."""
    for path in sorted(media.rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is not None:
                yield str(path.relative_to(media)), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        elif path.suffix.lower() == ".mp4" and frame_step > 0:
            cap = cv2.VideoCapture(str(path))
            index = taken = 0
            while taken < max_frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                if index % frame_step == 0:
                    taken += 1
                    name = f"{path.relative_to(media)}#{index}"
                    yield name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
            cap.release()


def face_rects(dlib, hog, detector, rgb: np.ndarray) -> list:
    """dlib rectangles: HOG detections plus our detector's boxes (squared) not
    already covered by a HOG box."""
    rects = list(hog(rgb, 1))
    if detector is not None:
        dets = detector.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        for x1, y1, x2, y2 in dets.xyxy:
            cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
            if any(r.left() <= cx <= r.right() and r.top() <= cy <= r.bottom() for r in rects):
                continue
            rects.append(dlib.rectangle(int(cx - side / 2), int(cy - side / 2),
                                        int(cx + side / 2), int(cy + side / 2)))  # fmt: skip
    return rects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media")
    parser.add_argument("--model", type=Path,
                        default=ROOT / "src/faceattrs/models/face_embedding.onnx")  # fmt: skip
    parser.add_argument("--frame-step", type=int, default=15, help="0: no video frames")
    parser.add_argument("--max-frames", type=int, default=20, help="per video")
    parser.add_argument("--no-blazeface", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import dlib  # the reference; not a faceattrs dependency

    from faceattrs.spec import ModelSpec

    hog = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(model_file("shape_predictor_5_face_landmarks.dat"))
    reference = dlib.face_recognition_model_v1(
        model_file("dlib_face_recognition_resnet_model_v1.dat")
    )
    detector = None
    if not args.no_blazeface:
        from faceattrs.pipeline.detection import FaceDetector

        detector = FaceDetector("full", threads=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    spec = json.loads(session.get_modelmeta().custom_metadata_map["faceattrs_embedding_spec"])
    prep = ModelSpec(input_size=spec["input_size"], mean=tuple(spec["mean"]),
                     std=tuple(spec["std"]))  # fmt: skip
    rows, sources = [], {}
    for name, rgb in images(args.media, args.frame_step, args.max_frames):
        for rect in face_rects(dlib, hog, detector, rgb):
            shape = shapes(rgb, rect)
            chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            ref_chip = np.asarray(reference.compute_face_descriptor(chip), np.float32)
            ref_full = np.asarray(reference.compute_face_descriptor(rgb, shape), np.float32)
            ours = session.run(None, {"input": prep.preprocess(chip[None])})[0][0]
            rows.append((ref_chip, ref_full, ours))
            sources[name] = sources.get(name, 0) + 1
    ref_chip, ref_full, ours = (np.stack(c) for c in zip(*rows, strict=True))
    result = {
        "faces": len(rows),
        "images": len(sources),
        "max_abs_diff": float(np.abs(ours - ref_chip).max()),
        "mean_abs_diff": float(np.abs(ours - ref_chip).mean()),
        "max_euclidean_diff": float(np.linalg.norm(ours - ref_chip, axis=1).max()),
        "max_abs_diff_chip_vs_full_image_dlib": float(np.abs(ref_full - ref_chip).max()),
        "descriptor_norm_range": [
            float(np.linalg.norm(ref_chip, axis=1).min()),
            float(np.linalg.norm(ref_chip, axis=1).max()),
        ],  # fmt: skip
        "dlib_version": dlib.__version__,
        "onnxruntime_version": ort.__version__,
        "faces_per_image": sources,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "faces_per_image"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
