"""Group faces into persons by their embeddings, and summarise each person.

:func:`cluster_faces` is average-linkage agglomerative clustering: the two groups
whose mean pairwise embedding distance is smallest are merged, until no two groups
are closer than the same-person threshold. Faces of one photo are never merged (one
person appears once per photo). :func:`summarize_person` gives a person's record:
median perceived age with the median interval, gender, race and (when the expression
head ran) expression probabilities averaged over their faces
(:func:`faceattrs.sheets.contact_sheet` draws them).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceattrs.pipeline.embedding import pairwise_distances
from faceattrs.results import Face, top_label


@dataclass(frozen=True)
class FaceRef:
    """One face and where it was found."""

    path: str
    face: Face


def cluster_faces(
    embeddings: np.ndarray,
    threshold: float,
    groups: Sequence[Hashable] | None = None,
    apart: np.ndarray | None = None,
) -> np.ndarray:
    """Person labels 0, 1, ... (N,) for embeddings (N, D): average linkage, stopped at
    ``threshold``. Faces with equal ``groups`` entries (e.g. one photo), and pairs
    marked in the (N, N) boolean ``apart``, are never in one cluster. Labels are
    numbered by cluster size (largest first), then by first face."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, np.int64)
    dist = pairwise_distances(embeddings)
    if groups is not None:
        index: dict[Hashable, int] = {}
        keys = np.asarray([index.setdefault(g, len(index)) for g in groups])
        dist[keys[:, None] == keys[None, :]] = np.inf
    if apart is not None:
        dist[np.asarray(apart, bool)] = np.inf
    np.fill_diagonal(dist, np.inf)
    sizes = np.ones(n)
    alive = np.ones(n, bool)
    members: list[list[int]] = [[i] for i in range(n)]
    while True:
        flat = int(np.argmin(dist))
        a, b = divmod(flat, n)
        if not dist[a, b] < threshold:
            break
        # Lance-Williams update for average linkage (inf, i.e. cannot-link, stays inf)
        merged = (sizes[a] * dist[a] + sizes[b] * dist[b]) / (sizes[a] + sizes[b])
        merged[~alive] = np.inf
        merged[a] = np.inf
        dist[a], dist[:, a] = merged, merged
        dist[b], dist[:, b] = np.inf, np.inf
        sizes[a] += sizes[b]
        alive[b] = False
        members[a] += members[b]
        members[b] = []
    clusters = sorted((sorted(m) for m in members if m), key=lambda m: (-len(m), m[0]))
    labels = np.empty(n, np.int64)
    for label, cluster in enumerate(clusters):
        labels[cluster] = label
    return labels


def summarize_person(person_id: int, refs: Sequence[FaceRef]) -> dict[str, Any]:
    """The record of one person: their faces, photos and averaged perceived attributes
    (each of gender, race and expression with its probabilities only when every face has
    them: the expression head may not have run)."""
    faces = [ref.face for ref in refs]
    lows = [f.age_interval[0] for f in faces]
    highs = [f.age_interval[1] for f in faces]
    record: dict[str, Any] = {
        "person_id": person_id,
        "n_faces": len(faces),
        "n_photos": len({ref.path for ref in refs}),
        "age": round(float(np.median([f.age for f in faces])), 1),
        "age_interval": [_whole(np.median(lows)), _whole(np.median(highs))],
    }
    for name in ("gender", "race", "expression"):
        probs = [getattr(f, f"{name}_probs") for f in faces]
        if all(probs):  # a head that did not run (expression) is left out
            mean = _mean_probs(probs)
            record[name], record[f"{name}_probs"] = top_label(mean), mean
    record["faces"] = [
        {"path": ref.path, "box": [round(float(v), 1) for v in ref.face.xyxy]} for ref in refs
    ]
    return record


def _mean_probs(probs: Sequence[dict[str, float]]) -> dict[str, float]:
    labels = list(probs[0])
    mean = np.mean([[p[k] for k in labels] for p in probs], axis=0)
    return {k: round(float(v), 4) for k, v in zip(labels, mean, strict=True)}


def _whole(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 1)


def group_people(refs: Sequence[FaceRef], threshold: float) -> list[dict[str, Any]]:
    """Cluster faces (each with an embedding) into persons; one record per person."""
    if any(ref.face.embedding is None for ref in refs):
        raise ValueError("every face needs an embedding (FaceAnalyzer(embeddings=True))")
    if not refs:
        return []
    embeddings = np.stack([np.asarray(ref.face.embedding) for ref in refs])
    labels = cluster_faces(embeddings, threshold, [ref.path for ref in refs])
    people = []
    for label in range(int(labels.max()) + 1):
        members = [refs[i] for i in np.flatnonzero(labels == label)]
        people.append(summarize_person(label + 1, members))
    return people
