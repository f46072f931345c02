import pytest

torch = pytest.importorskip("torch")

from faceattrs.training.dataset import augment, random_erase  # noqa: E402


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
