"""The identity-embedding caches of the training faces (data/embedding_cache.py)."""

import cv2
import numpy as np

from faceattrs.data.embedding_cache import build_embedding_cache, load_embedding_cache
from faceattrs.pipeline.embedding import EmbeddingModel


def test_rows_follow_the_aligned_cache_and_mirror_embeds_the_mirrored_chip(tmp_path):
    rng = np.random.default_rng(0)
    bgr = cv2.GaussianBlur(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8), (9, 9), 3)
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    keypoints = np.zeros((3, 6, 2), np.float32)
    keypoints[0, :4] = [(80, 90), (120, 88), (101, 110), (100, 130)]  # right eye ... mouth
    aligned = tmp_path / "aligned.npz"
    np.savez(
        aligned, names=np.array(["a.png", "missing.png", "a.png"]),
        found=np.array([True, True, False]), keypoints=keypoints,
    )  # fmt: skip
    embedder = EmbeddingModel(threads=1)
    plain = load_embedding_cache(build_embedding_cache(aligned, tmp_path, tmp_path / "e.npz"))
    mirrored = load_embedding_cache(
        build_embedding_cache(aligned, tmp_path, tmp_path / "m.npz", mirror=True)
    )
    chip = embedder.chips(bgr, keypoints[:1])
    for cache, chips in ((plain, chip), (mirrored, chip[:, :, ::-1])):
        assert cache.found.tolist() == [True, False, False]  # an unreadable file is not found
        assert cache.meta["unreadable"] == ["missing.png"]
        expected = embedder.embed_chips(np.ascontiguousarray(chips))[0]
        np.testing.assert_allclose(cache.embeddings[0], expected, atol=1e-5)
        assert not cache.embeddings[1:].any()
    assert (mirrored.meta["mirrored"], plain.meta["mirrored"]) == (True, False)
    assert np.linalg.norm(plain.embeddings[0] - mirrored.embeddings[0]) > 1e-3
