"""A `datasets.IterableDataset` that is not parquet files as stored (a generator) read through its
own iteration: every sample once an epoch, an order fixed by (seed, epoch), equal shares among ranks,
exact resume, and the warning that says what is weaker."""

from __future__ import annotations

import warnings

import pytest
import torch

from dali_pipes import EvalTransform, Preprocess, SourceError, StreamedSource, TrainTransform, make_loader
from dali_pipes.sources import stream

from . import factories
from .conftest import CPU_BACKENDS, collect, epoch_and_state

N = 23
SMALL = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))


def generated():
    """imagenet-1k's schema, from a generator (no files behind it)."""
    from datasets import IterableDataset

    rows = factories.imagenet(N)

    def gen():
        yield from rows

    return IterableDataset.from_generator(gen, features=rows.features)


def source(**kw) -> StreamedSource:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return StreamedSource(generated(), num_samples=N, **kw)


def test_the_length_comes_from_the_info_or_is_asked_for(monkeypatch):
    monkeypatch.setattr(stream, "_warned", False)
    with pytest.raises(SourceError, match="num_samples=N"):
        make_loader(generated(), train=True, batch_size=4)
    with pytest.warns(UserWarning, match="through its own iteration"):
        first = StreamedSource(generated(), num_samples=N)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        StreamedSource(generated(), num_samples=N)
    assert len(first.classes) == 1000 and first.image_column == "image"


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_every_sample_once_in_an_order_fixed_by_seed_and_epoch(backend):
    kw = dict(train=True, batch_size=4, backend=backend, seed=5, preset=SMALL, num_threads=2)
    orders = []
    for _ in range(2):
        with make_loader(source(), **kw) as loader:
            assert len(loader) == 6
            epochs = []
            for epoch in (0, 1):
                loader.set_epoch(epoch)
                ids, labels, _ = collect(loader)
                assert sorted(ids) == list(range(N)) and labels == [(131 * i) % 1000 for i in ids]
                epochs.append(ids)
            assert epochs[0] != epochs[1]
            orders.append(epochs)
    assert orders[0] == orders[1]
    with make_loader(source(), train=False, batch_size=4, backend=backend, preset=SMALL) as loader:
        assert collect(loader)[0] == list(range(N))  # eval: the stream's order


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_get_equal_shares(world):
    seen, lengths = [], set()
    for rank in range(world):
        with make_loader(source(), train=True, batch_size=2, backend="torchvision", seed=3, preset=SMALL,
                         shard_id=rank, num_shards=world) as loader:
            ids, _, sizes = collect(loader)
            lengths.add(len(sizes))
            seen += ids
    assert len(lengths) == 1  # DDP cannot hang
    assert set(seen) == set(range(N)) and len(seen) == -(-N // world) * world  # short streams padded by repeats


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_resume_mid_epoch_is_exact(backend):
    kw = dict(train=True, batch_size=4, backend=backend, seed=9, num_threads=1, preset=SMALL)
    with make_loader(source(), **kw) as reference:
        whole, state = epoch_and_state(reference, 1, 2)
    with make_loader(source(), **kw) as loader:
        loader.load_state_dict(state)
        rest = list(loader)
    assert len(rest) == len(whole) - 2
    for (a, la), (b, lb) in zip(rest, whole[2:]):
        assert torch.equal(a, b) and torch.equal(la, lb)
