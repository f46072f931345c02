"""How far apart the face embeddings of the shared walkers' clip are: the same person's faces
against different people's, at the anchors placed by eye (tests/clip_anchors.py).

Each anchor (a person's face centre in a frame) picks the detected face whose box holds it
(Python's detector, `video_min_face` as `faceattrs video` uses); the faces are embedded as
`faceattrs video --reid` embeds them. Prints the distances of same-person and
different-person pairs of single faces and of each person's mean face against the
embedding model's same-person threshold: how much room the clip leaves the joining rule.

    python scripts/clip_separation.py                     # about 30 s
    python scripts/clip_separation.py --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CLIP = ROOT.parent / "shared" / "media" / "facenet_pytorch" / "video.mp4"


def anchors() -> dict[str, dict[int, tuple[int, int]]]:
    """Person -> {frame index: face centre}, every person counted by eye in the clip."""
    from clip_anchors import CURLY, GLASSES, GREY_SIDE_VIEW, WALKERS, WHITE_HAIRED_MAN

    return {
        **WALKERS,
        "curly-haired woman": CURLY,
        "grey-haired man, side view": GREY_SIDE_VIEW,
        "white-haired man": WHITE_HAIRED_MAN,
        "man with glasses": GLASSES,
    }


def faces_at_anchors(
    clip: Path, analyzer_type: type | None = None
) -> tuple[list[str], np.ndarray, float]:
    """(person of each face, their L2-normalised embeddings, the same-person threshold);
    ``analyzer_type``: a FaceAnalyzer subclass that embeds otherwise (default FaceAnalyzer)."""
    from faceattrs.pipeline.analyzer import FaceAnalyzer
    from faceattrs.video.process import video_min_face

    people_at = anchors()
    wanted = {index for points in people_at.values() for index in points}
    cap = cv2.VideoCapture(str(clip))
    frames, index = {}, 0  # only the frames with anchors (a 1080p clip does not fit twice)
    while (read := cap.read())[0]:
        if index in wanted:
            frames[index] = read[1]
        index += 1
    cap.release()
    height, width = next(iter(frames.values())).shape[:2]
    analyzer = (analyzer_type or FaceAnalyzer)(min_face=video_min_face(width, height))
    found = {index: analyzer.detect(bgr) for index, bgr in frames.items()}  # once per frame
    people, vectors = [], []
    for person, points in people_at.items():
        for index, (x, y) in points.items():
            bgr, detections = frames[index], found[index]
            held = [
                i for i, (x1, y1, x2, y2) in enumerate(detections.xyxy)
                if x1 <= x <= x2 and y1 <= y <= y2
            ]  # fmt: skip
            if not held:
                print(f"  no face found at {person!r}'s anchor in frame {index}")
                continue
            face = detections[held[:1]]
            people.append(person)
            vectors.append(analyzer.embed(bgr, face)[0])
    vectors = np.asarray(vectors, np.float32)
    return (
        people,
        vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
        analyzer.embedding_threshold,
    )


def pair_distances(people: list[str], vectors: np.ndarray) -> tuple[list[float], list[float]]:
    same, different = [], []
    for i, j in itertools.combinations(range(len(people)), 2):
        distance = float(np.linalg.norm(vectors[i] - vectors[j]))
        (same if people[i] == people[j] else different).append(distance)
    return same, different


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if not args.clip.is_file():
        print(f"error: {args.clip} not found", file=sys.stderr)
        return 1
    people, vectors, threshold = faces_at_anchors(args.clip)
    same, different = pair_distances(people, vectors)
    names = sorted(set(people))
    means = np.stack([vectors[[p == name for p in people]].mean(0) for name in names])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    between = {
        (a, b): float(np.linalg.norm(means[i] - means[j]))
        for (i, a), (j, b) in itertools.combinations(enumerate(names), 2)
    }
    nearest = min(between, key=between.get)
    figures = {
        "threshold": threshold,
        "faces": len(people),
        "people": len(names),
        "same_pairs": len(same),
        "same_median": float(np.median(same)),
        "same_max": max(same),
        "same_above_threshold": float(np.mean(np.asarray(same) > threshold)),
        "different_pairs": len(different),
        "different_min": min(different),
        "different_median": float(np.median(different)),
        "different_below_threshold": float(np.mean(np.asarray(different) < threshold)),
        "person_means_min_distance": between[nearest],
        "person_means_nearest": list(nearest),
    }
    print(f"{len(people)} faces of {len(names)} people at the anchors; threshold {threshold:.2f}")
    print(
        f"same person, {len(same)} pairs: median {figures['same_median']:.2f}, "
        f"max {figures['same_max']:.2f}, {100 * figures['same_above_threshold']:.0f}% above "
        "the threshold"
    )
    print(
        f"different people, {len(different)} pairs: min {figures['different_min']:.2f}, "
        f"median {figures['different_median']:.2f}, "
        f"{100 * figures['different_below_threshold']:.0f}% below the threshold"
    )
    print(
        f"people's mean faces: nearest two {between[nearest]:.2f} apart ({nearest[0]}, "
        f"{nearest[1]}); {sum(d < threshold for d in between.values())} of {len(between)} "
        "pairs of people within the threshold"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
