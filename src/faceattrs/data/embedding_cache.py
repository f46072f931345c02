"""Identity embeddings of the training faces, made the way inference makes them.

For each row of an aligned cache (:mod:`faceattrs.data.aligned_cache`), the face found by
the product's detector (its keypoints are stored there) is aligned from the original image
with the embedding model's own alignment and embedded. One row per cache row (``found``
copied, zeros where no face was found), so rows line up with the aligned cache and with
:func:`faceattrs.data.mixed.gather`. ``mirror``: the aligned chips are mirrored left to
right before embedding (a second view of each training face for the heads on the
embedding, ``scripts/embedding_heads.py --mirror``). No torch here.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceattrs.data.aligned_cache import row_indices
from faceattrs.output import write_bytes_atomic
from faceattrs.pipeline.embedding import EmbeddingModel

BATCH_FACES = 64


@dataclass(frozen=True)
class EmbeddingCache:
    """``embeddings`` (N, D) float32 L2-normalised, row i = aligned-cache row i."""

    names: np.ndarray
    found: np.ndarray
    embeddings: np.ndarray
    meta: dict
    features: np.ndarray | None = None  # (N, F) float16: the network's last map, if it has one

    def rows(self, names: Sequence[str]) -> np.ndarray:
        """Row indices of ``names`` (KeyError naming the first one not in the cache)."""
        return row_indices(self.names, names, "the embedding cache")


def build_embedding_cache(
    aligned_cache: str | Path,
    data_dir: str | Path,
    out: str | Path,
    embedder: EmbeddingModel | None = None,
    progress: Callable[[int, int], None] | None = None,
    mirror: bool = False,
) -> Path:
    """Embed every found face of ``aligned_cache`` from its image under ``data_dir``
    (its chip mirrored left to right with ``mirror``)."""
    embedder = embedder or EmbeddingModel()
    with np.load(aligned_cache, allow_pickle=False) as z:
        names, found, keypoints = z["names"], z["found"].copy(), z["keypoints"]
    data_dir = Path(data_dir)
    embeddings = np.zeros((len(names), embedder.spec.embedding_size), np.float32)
    features = np.zeros((len(names), embedder.spec.features_size), np.float16)
    start = time.perf_counter()
    rows, chips = [], []

    def flush() -> None:
        if rows and embedder.spec.features_output:
            embeddings[rows], features[rows] = embedder.embed_with_features(np.stack(chips))
        elif rows:
            embeddings[rows] = embedder.embed_chips(np.stack(chips))
        rows.clear()
        chips.clear()

    unreadable = []
    for i in np.flatnonzero(found):
        bgr = cv2.imread(str(data_dir / str(names[i])), cv2.IMREAD_COLOR)
        if bgr is None:
            found[i] = False
            unreadable.append(str(names[i]))
            continue
        rows.append(int(i))
        chip = embedder.chips(bgr, keypoints[i : i + 1])[0]
        chips.append(np.ascontiguousarray(chip[:, ::-1]) if mirror else chip)
        if len(rows) == BATCH_FACES:
            flush()
            if progress:
                progress(int(i) + 1, len(names))
    flush()
    meta = {
        "aligned_cache": str(aligned_cache),
        "embedding_model": embedder.path.name,
        "embedding_spec_source": embedder.spec.extra.get("source", ""),
        "faces": int(found.sum()),
        "mirrored": mirror,
        "unreadable": unreadable,
        "seconds": round(time.perf_counter() - start, 1),
    }
    buffer = io.BytesIO()  # 26 MB + 61 MB of features for FairFace's 30,000 faces
    arrays = {"features": features} if features.shape[1] else {}
    np.savez(
        buffer, names=names, found=found, embeddings=embeddings, meta=json.dumps(meta), **arrays
    )
    write_bytes_atomic(out, buffer.getvalue())
    return Path(out)


def load_embedding_cache(path: str | Path) -> EmbeddingCache:
    """Read a cache written by :func:`build_embedding_cache`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embedding cache not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        features = z["features"] if "features" in z.files else None
        meta = json.loads(str(z["meta"]))
        return EmbeddingCache(z["names"], z["found"], z["embeddings"], meta, features)
