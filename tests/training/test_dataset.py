import numpy as np
import pytest

torch = pytest.importorskip("torch")

from faceattrs.training.dataset import augment, mixup, random_erase  # noqa: E402


def test_random_erase_fills_one_rectangle_per_chosen_image_with_one_grey():
    x = torch.rand(32, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out = random_erase(x, 1.0, torch.Generator().manual_seed(1))
    for before, after in zip(x, out, strict=True):
        changed = (before != after).any(0)
        rows, cols = changed.any(1).nonzero()[:, 0], changed.any(0).nonzero()[:, 0]
        height, width = int(rows[-1] - rows[0]) + 1, int(cols[-1] - cols[0]) + 1
        assert 64 // 6 <= height <= 64 // 3 and 64 // 6 <= width <= 64 // 3
        box = after[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert torch.all(box == box[0, 0, 0])  # one grey level, the same in every channel
    assert torch.equal(random_erase(x, 0.0, torch.Generator().manual_seed(1)), x)


def test_augment_without_erasing_draws_as_before():
    """erase_prob 0 (the default) takes no random numbers: earlier runs stay reproducible."""
    faces = (torch.rand(8, 80, 80, 3, generator=torch.Generator().manual_seed(2)) * 255).byte()
    a, b = (torch.Generator().manual_seed(3) for _ in range(2))
    plain = augment(faces, 64, [0.5] * 3, [0.5] * 3, a)
    assert torch.equal(augment(faces, 64, [0.5] * 3, [0.5] * 3, b, 1.0, 0.0), plain)
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))
    erased = augment(faces, 64, [0.5] * 3, [0.5] * 3, torch.Generator().manual_seed(3), 1.0, 1.0)
    assert not torch.equal(erased, plain)


def test_mixup_blends_the_batch_with_a_shuffled_copy():
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out, lam, perm = mixup(x, 0.2, torch.Generator().manual_seed(1))
    assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(16))
    assert torch.allclose(out, lam * x + (1 - lam) * x[perm])
    again, lam2, perm2 = mixup(x, 0.2, torch.Generator().manual_seed(1))  # draws: the generator's
    assert lam2 == lam and torch.equal(perm2, perm) and torch.equal(again, out)
    lams = [mixup(x, 0.2, torch.Generator().manual_seed(s))[1] for s in range(200)]
    assert np.mean([min(v, 1 - v) < 0.1 for v in lams]) > 0.5  # Beta(0.2, 0.2): mostly near 0 or 1
