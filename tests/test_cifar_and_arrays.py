"""The CIFAR presets (pad + crop at 32 x 32, eval = normalize only) and in-memory array sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dali_pipes import PRESETS, Normalize, SourceError, make_loader
from dali_pipes.config import CIFAR10_MEAN, CIFAR10_STD

from .conftest import collect, identity_colour, unnormalize


def random_cifar(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def test_cifar_eval_is_normalization_only(backend):
    images, labels = random_cifar()
    with make_loader((images, labels), train=False, batch_size=16, backend=backend, preset="cifar10",
                     num_threads=2) as loader:
        out, target = next(iter(loader))
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    expected = (torch.from_numpy(images).permute(0, 3, 1, 2) / 255.0 - mean) / std
    assert out.shape == (16, 3, 32, 32)
    assert torch.allclose(out, expected, atol=1e-5)
    assert target.tolist() == labels.tolist()


def _marker_batch(n):
    """Uniform 200 images with one 255 marker pixel at (row 10, column 13)."""
    images = np.full((n, 32, 32, 3), 200, dtype=np.uint8)
    images[:, 10, 13] = 255
    return images, np.zeros(n, dtype=np.int64)


def test_cifar_train_pads_by_4_and_crops_uniformly(backend):
    """The marker's row gives the vertical offset dy = 10 - row, uniform on -4..4 (chi-square, 8
    degrees of freedom, 0.999 quantile 26.12); exactly |dy| zero-padded rows appear on the side the
    crop moved past; flips happen with p = 0.5 (binomial, 360 draws: 4.5 sigma bound)."""
    images, labels = _marker_batch(360)
    with make_loader((images, labels), train=True, batch_size=120, backend=backend, preset="cifar10",
                     seed=0, num_threads=2) as loader:
        pixels = torch.cat([unnormalize(x, mean=CIFAR10_MEAN, std=CIFAR10_STD) for x, _ in loader])
    assert pixels.shape == (360, 3, 32, 32)
    red = pixels[:, 0].round()
    offsets, flips = [], 0
    for image in red:
        rows, cols = torch.nonzero(image == 255, as_tuple=True)
        assert len(rows) == 1, "the marker pixel must survive the crop exactly once"
        dy = 10 - int(rows[0])
        offsets.append(dy)
        zero_rows = [r for r in range(32) if bool((image[r] == 0).all())]
        assert len(zero_rows) == abs(dy)
        assert all(r < 4 for r in zero_rows) if dy < 0 else all(r >= 28 for r in zero_rows)
        zero_left = int((image[12] == 0)[:4].sum())
        zero_right = int((image[12] == 0)[-4:].sum())
        c = int(cols[0])
        # unflipped: dx = 13 - c, zeros left when dx < 0; flipped: dx = c - 18, zeros left when dx > 0
        unflipped = (zero_left, zero_right) == (max(0, c - 13), max(0, 13 - c)) and -4 <= 13 - c <= 4
        flipped = (zero_left, zero_right) == (max(0, c - 18), max(0, 18 - c)) and -4 <= c - 18 <= 4
        assert unflipped != flipped
        flips += flipped
    counts = np.bincount(np.asarray(offsets) + 4, minlength=9)
    assert len(counts) == 9
    chi2 = float(((counts - 40) ** 2 / 40).sum())
    assert chi2 < 26.12, counts
    assert abs(flips - 180) <= 4.5 * np.sqrt(360 * 0.25)


def test_cifar_stays_32_unless_a_size_is_asked_for(backend):
    images, labels = random_cifar(8)
    for cfg, size in ((PRESETS["cifar100"], 32), (PRESETS["cifar100"].resized(224), 224)):
        for train in (True, False):
            with make_loader((images, labels), train=train, batch_size=8, backend=backend, preset=cfg,
                             seed=1, num_threads=2) as loader:
                out, _ = next(iter(loader))
            assert out.shape == (8, 3, size, size)


def test_arrays_both_backends_every_sample_once(backend):
    n = 21
    images = np.stack([np.full((24, 20, 3), identity_colour(i), np.uint8) for i in range(n)])
    labels = np.arange(n) % 4
    with make_loader((images, labels), train=True, batch_size=6, backend=backend, seed=5, num_threads=2) as loader:
        assert loader.dataset.classes == ["0", "1", "2", "3"]
        for _ in range(2):
            identities, got, sizes = collect(loader)
            assert sorted(identities) == list(range(n))
            assert got == [i % 4 for i in identities]
            assert sizes == [6, 6, 6, 3]


def test_grayscale_arrays_become_rgb(backend):
    images = np.full((4, 32, 32), 90, np.uint8)
    with make_loader((images, [0, 1, 2, 3]), train=False, batch_size=4, backend=backend, preset="cifar10",
                     num_threads=2) as loader:
        out, _ = next(iter(loader))
    assert torch.allclose(unnormalize(out, mean=CIFAR10_MEAN, std=CIFAR10_STD), torch.full((4, 3, 32, 32), 90.0,
                          dtype=torch.float64), atol=1e-3)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((4, 32, 32, 4), np.uint8), [0] * 4, r"images: expected an \(N, H, W, 3\)"),
    (np.zeros((4, 32, 32, 3), np.float32), [0] * 4, "images: expected dtype uint8"),
    (np.zeros((4, 32, 32, 3), np.uint8), [0] * 3, "labels: 3 labels for 4 images"),
    (np.zeros((4, 32, 32, 3), np.uint8), ["a", "b", "c", "d"], "labels: labels must be integer"),
    (np.zeros((4, 32, 32, 3), np.uint8), [0.5, 1, 2, 3], "labels: labels must be integer"),
])
def test_bad_arrays_are_named(images, labels, message):
    with pytest.raises(SourceError, match=message):
        make_loader((images, labels), train=True, batch_size=2)


def test_per_dataset_normalization_standardizes_in_eval(backend):
    images, labels = random_cifar(40, seed=3)
    images = (images * np.array([0.3, 0.6, 1.0])).astype(np.uint8)  # skewed channels
    cfg = PRESETS["cifar10"].with_normalize(Normalize.per_dataset())
    with make_loader((images, labels), train=False, batch_size=40, backend=backend, preset=cfg,
                     num_threads=2) as loader:
        out, _ = next(iter(loader))
        assert loader.preprocess.normalize.mean != CIFAR10_MEAN
    per_channel = out.double().transpose(0, 1).reshape(3, -1)
    assert per_channel.mean(dim=1).abs().max() < 1e-5
    assert (per_channel.std(dim=1, unbiased=False) - 1).abs().max() < 1e-5
