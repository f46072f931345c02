"""dlib's 5-point shape predictor (a cascade of regression-tree forests, public domain) read
from its .dat file and run in numpy, and dlib's face chips cut from its landmarks: a step
toward aligning the identity embedding without dlib (reports/identity/browser_persons.md).

    pip install dlib-bin face_recognition_models   # the model file, and dlib to compare
    python scripts/shape_predictor.py              # landmarks against dlib's, on the shared media
"""

from __future__ import annotations

import numpy as np

from faceattrs.pipeline.alignment import MAX_SUPERSAMPLE, estimate_transform

SPECIAL_EXPONENTS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}


class _Reader:
    """dlib's portable serialization: integers as a control byte (size, sign) and that many
    little-endian bytes; floats as (int64 mantissa, int16 exponent) = mantissa * 2**exponent."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def int(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent in SPECIAL_EXPONENTS:
            return SPECIAL_EXPONENTS[exponent]
        return float(np.ldexp(float(mantissa), exponent))

    def column(self) -> np.ndarray:
        rows, cols = self.int(), self.int()
        rows, cols = abs(rows), abs(cols)  # negative: the newer matrix format
        return np.array([self.float() for _ in range(rows * cols)], np.float32)

    def vector(self, read_item):
        return [read_item() for _ in range(self.int())]


def load(path: str) -> dict[str, np.ndarray]:
    """The predictor's arrays: initial shape (K, 2), per cascade level the trees' splits
    (idx1, idx2, thresh) and leaves, and the feature pixels' anchors and deltas."""
    reader = _Reader(open(path, "rb").read())
    if reader.int() != 1:
        raise ValueError(f"{path}: not a version 1 dlib shape predictor")
    initial = reader.column()

    def tree():
        splits = reader.vector(lambda: (reader.int(), reader.int(), reader.float()))
        leaves = reader.vector(reader.column)
        return splits, leaves

    forests = reader.vector(lambda: reader.vector(tree))
    anchors = reader.vector(lambda: reader.vector(reader.int))
    deltas = reader.vector(lambda: reader.vector(lambda: (reader.float(), reader.float())))
    if reader.pos != len(reader.data):
        raise ValueError(f"{path}: {len(reader.data) - reader.pos} bytes left unread")
    return {
        "initial": initial.reshape(-1, 2),
        "idx": np.array(
            [[[s[0], s[1]] for s in t[0]] for f in forests for t in f], np.int32
        ).reshape(len(forests), len(forests[0]), -1, 2),
        "thresh": np.array([[s[2] for s in t[0]] for f in forests for t in f], np.float32).reshape(
            len(forests), len(forests[0]), -1
        ),
        "leaves": np.array([t[1] for f in forests for t in f], np.float32).reshape(
            len(forests), len(forests[0]), -1, initial.size
        ),
        "anchors": np.array(anchors, np.int32),
        "deltas": np.array(deltas, np.float32),
    }


def predict(
    model: dict[str, np.ndarray], gray: np.ndarray, rect: tuple[int, int, int, int]
) -> np.ndarray:
    """Landmarks (K, 2), integer pixels as dlib returns them, of the face in ``rect``
    (left, top, right, bottom, inclusive as dlib's rectangle) of a uint8 intensity image."""
    left, top, right, bottom = rect
    to_image = (
        np.array([[right - left, 0.0], [0.0, bottom - top]]),
        np.array([left, top], np.float64),
    )
    height, width = gray.shape
    initial, shape = model["initial"], model["initial"].copy()
    levels, trees, splits = model["thresh"].shape
    for level in range(levels):
        a = estimate_transform(initial, shape)[:, :2].astype(np.float32)  # dlib's: linear part
        points = model["deltas"][level] @ a.T + shape[model["anchors"][level]]
        pixels = np.floor(points.astype(np.float64) @ to_image[0].T + to_image[1] + 0.5).astype(
            np.int64
        )
        inside = (
            (pixels[:, 0] >= 0)
            & (pixels[:, 0] < width)
            & (pixels[:, 1] >= 0)
            & (pixels[:, 1] < height)
        )
        features = np.zeros(len(points), np.float32)
        features[inside] = gray[pixels[inside, 1], pixels[inside, 0]]
        idx, thresh = model["idx"][level], model["thresh"][level]
        node = np.zeros(trees, np.int64)
        rows = np.arange(trees)
        while (node < splits).any():
            split = idx[rows, node]
            left_branch = features[split[:, 0]] - features[split[:, 1]] > thresh[rows, node]
            node = np.where(left_branch, 2 * node + 1, 2 * node + 2)
        leaves = model["leaves"][level][rows, node - splits]
        # added one by one in float32, as dlib does (a pairwise sum moves 1 face in 10 by 1-3 px)
        stacked = np.concatenate([shape.reshape(1, -1), leaves])
        shape = np.cumsum(stacked, axis=0, dtype=np.float32)[-1].reshape(-1, 2)
    return np.floor(shape.astype(np.float64) @ to_image[0].T + to_image[1] + 0.5)


# dlib's get_face_chip_details for 5-point shapes: where the landmarks sit in the chip, as
# fractions before padding, in the predictor's order: the outer and inner corners of the eye
# on the image's right (parts 0-1), of the eye on its left (2-3), the base of the nose (4)
CHIP_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)


def face_chips(
    bgr: np.ndarray, landmarks: np.ndarray, size: int = 150, padding: float = 0.25
) -> np.ndarray:
    """Chips (N, size, size, 3) cut as dlib's get_face_chip cuts them from 5 landmarks
    (N, 5, 2) in pixel indices; shrunk faces warped at a multiple of ``size`` and
    area-averaged, as faceattrs.pipeline.alignment.align does."""
    import cv2

    template = (padding + CHIP_TEMPLATE) / (2 * padding + 1) * size
    out = np.zeros((len(landmarks), size, size, 3), np.uint8)
    for i, points in enumerate(np.asarray(landmarks, np.float64)):
        matrix = estimate_transform(points, template)  # image -> chip, pixel indices
        factor = int(np.clip(np.ceil(1.0 / max(np.hypot(*matrix[:, 0]), 1e-6)), 1, MAX_SUPERSAMPLE))
        big = matrix * factor
        big[:, 2] += (factor - 1) / 2
        warped = cv2.warpAffine(bgr, big, (size * factor,) * 2, flags=cv2.INTER_LINEAR)
        out[i] = (
            cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA) if factor > 1 else warped
        )
    return out


def main() -> int:
    """Landmarks of every face our detector finds in the shared photos and every 10th frame
    of the walkers' clip, against dlib's own predictor (needs dlib)."""
    import argparse
    import sys
    import time
    from pathlib import Path

    import cv2
    import dlib

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "scripts"))
    from check_embedding_parity import model_file
    from landmark_alignment import BOX_TO_HOG, hog_rect

    from faceattrs.pipeline.detection import FaceDetector

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=root.parent / "shared" / "media")
    args = parser.parse_args()
    path = model_file("shape_predictor_5_face_landmarks.dat")
    start = time.perf_counter()
    model = load(path)
    print(
        f"read {path} in {time.perf_counter() - start:.1f} s: "
        f"{model['thresh'].shape[0]} levels x {model['thresh'].shape[1]} trees of depth "
        f"{int(np.log2(model['leaves'].shape[2]))}, {model['anchors'].shape[1]} pixels per level"
    )
    reference, detector = dlib.shape_predictor(path), FaceDetector("full")
    images = [cv2.imread(str(p)) for p in sorted(args.media.rglob("*.jpg"))]
    capture = cv2.VideoCapture(str(args.media / "facenet_pytorch" / "video.mp4"))
    index = 0
    while (read := capture.read())[0]:
        if index % 10 == 0:
            images.append(read[1])
        index += 1
    differences, seconds = [], [0.0, 0.0]
    for bgr in images:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        intensity = (rgb.astype(np.uint16).sum(2) // 3).astype(np.uint8)  # dlib's, of RGB
        for box in detector.detect(bgr).xyxy:
            rect = hog_rect(box, BOX_TO_HOG)
            start = time.perf_counter()
            ours = predict(model, intensity, rect)
            seconds[0] += time.perf_counter() - start
            start = time.perf_counter()
            theirs = reference(rgb, dlib.rectangle(*rect))
            seconds[1] += time.perf_counter() - start
            theirs = np.array([[p.x, p.y] for p in theirs.parts()])
            differences.append(float(np.abs(ours - theirs).max()))
    n = len(differences)
    print(
        f"{n} faces in {len(images)} images: largest difference {max(differences):.0f} px, "
        f"{sum(d > 0 for d in differences)} faces differ; {1e3 * seconds[0] / n:.1f} ms per face "
        f"in numpy, {1e3 * seconds[1] / n:.1f} in dlib"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
