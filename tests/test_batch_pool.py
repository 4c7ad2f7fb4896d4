"""The torchvision backend's workers write batches into shared memory they reuse (dali_pipes.tv.pool):
reuse must never touch a batch the training loop still holds, in any view, and must happen when
the loop lets batches go."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dali_pipes import make_loader
from dali_pipes.tv.pool import SEGMENTS_PER_WORKER, BatchPool


@pytest.fixture
def arrivals(monkeypatch):
    """The pool segment of each batch as it reaches the main process."""
    seen: list[int] = []
    arrived = BatchPool.arrived

    def record(self, segment, images):
        if segment is not None:  # None: a batch in memory of its own (every segment was in use)
            seen.append(segment)
        arrived(self, segment, images)

    monkeypatch.setattr(BatchPool, "arrived", record)
    return seen


def _arrays(n=96):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 5


def _loader(**kwargs):
    return make_loader(_arrays(), train=True, batch_size=8, backend="torchvision", num_threads=2, seed=1,
                       preset="cifar10", **kwargs)


def test_batches_the_loop_keeps_stay_intact(arrivals):
    """Every batch of two epochs kept (whole, as a slice view, as a numpy view): each still equals
    the copy taken when it arrived, while the workers went on writing later batches."""
    kept, copies = [], []
    with _loader() as loader:
        for epoch in range(2):
            loader.set_epoch(epoch)
            for k, (images, _) in enumerate(loader):
                copies.append(images.clone())
                kept.append((images, images[2:5], images.numpy())[k % 3])
    assert len(kept) == 24 and len(set(arrivals)) == len(arrivals)  # no segment was written twice
    for held, copy in zip(kept, copies):
        whole = copy[2:5] if held.shape[0] == 3 else copy
        assert torch.equal(torch.as_tensor(held), whole)


def test_segments_are_reused_when_the_loop_lets_batches_go(arrivals):
    """A loop that drops each batch: the workers cycle through their few segments, and the batches
    are the ones a loop that keeps everything gets."""
    with _loader() as loader:
        expected = [images for images, _ in loader]  # all kept: no reuse
    arrivals.clear()
    with _loader() as loader:
        got = [images.clone() for images, _ in loader]
    assert len(arrivals) >= len(got) - 2 * SEGMENTS_PER_WORKER  # most batches came in a pool segment
    assert len(set(arrivals)) <= 2 * SEGMENTS_PER_WORKER < len(arrivals)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_segments_kept_then_let_go_are_reused(arrivals):
    """A loop that keeps a whole epoch uses up the segments (later batches come in memory of their
    own); once it lets them go, the next epoch's batches come in segments again."""
    with _loader() as loader:
        kept = [images for images, _ in loader]
        batches, first = len(kept), len(arrivals)
        assert first <= 2 * SEGMENTS_PER_WORKER < batches
        del kept
        for _ in loader:
            pass
    # the batches prefetched before the first arrival of the epoch come in memory of their own
    assert len(arrivals) - first >= batches - 2 * SEGMENTS_PER_WORKER > 0
