"""The DALI feeder's read-ahead as properties: several reads in flight at once, none on the training
thread, the byte budget held, the same batches as reading in order, and every thread gone with the
epoch, on close(), on an error and on a broken-off loop, with nothing read twice."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import torch

from dali_pipes import EvalTransform, Preprocess, SourceError, TrainTransform, make_loader
from dali_pipes.dali.prefetch import Prefetcher
from dali_pipes.sources import ImageFolderSource

SMALL = Preprocess(train=TrainTransform(size=32), eval=EvalTransform(size=32, resize_size=36))
THREAD_PREFIXES = ("dali-pipes-read", "dali-pipes-prepare")


class SlowSource:
    """An ImageFolder whose every read takes `delay` seconds (slow storage), recording who read what."""

    def __init__(self, root, delay: float = 0.03, fail: int | None = None):
        self.inner = ImageFolderSource(root)
        self.classes, self.class_to_idx, self.targets = self.inner.classes, self.inner.class_to_idx, self.inner.targets
        self.encoded = True
        self.delay, self.fail = delay, fail
        self.lock = threading.Lock()
        self.reads: Counter = Counter()
        self.threads: set[int] = set()
        self.active = self.most_active = 0

    def __len__(self):
        return len(self.inner)

    def describe(self, index):
        return self.inner.describe(index)

    def read(self, index):
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.reads[index] += 1
            self.threads.add(threading.get_ident())
        try:
            time.sleep(self.delay)
            if index == self.fail:
                raise SourceError(f"{self.describe(index)}: the storage said no")
            return self.inner.read(index)
        finally:
            with self.lock:
                self.active -= 1


def reader_threads() -> list[str]:
    deadline = time.monotonic() + 3
    while True:
        alive = [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIXES)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from dali_pipes.synthetic import make_synthetic_imagefolder

    return make_synthetic_imagefolder(tmp_path_factory.mktemp("ra"), num_images=48, long_side=64)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_reads_overlap_off_the_training_thread_and_give_the_same_batches(folder, train):
    slow = SlowSource(folder)
    with make_loader(slow, train=train, batch_size=16, backend="dali-cpu", preset=SMALL, seed=1, num_threads=1,
                     read_threads=8) as loader:
        got = [(images.clone(), labels.clone()) for images, labels in loader]
        feeder = loader.engine._feeder
        assert feeder.ahead.prepared_on_caller == 0
    assert slow.most_active >= 4, slow.most_active  # 16 reads of a batch in flight on 8 readers
    assert threading.get_ident() not in slow.threads
    assert set(slow.reads.values()) == {1} and len(slow.reads) == 48  # every sample read once
    with make_loader(folder, train=train, batch_size=16, backend="dali-cpu", preset=SMALL, seed=1, num_threads=1,
                     read_threads=1) as plain:
        expected = list(plain)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, expected))
    assert reader_threads() == []  # ended with the epoch, and with close()


def test_the_threads_end_on_a_broken_off_loop_and_nothing_is_read_twice(folder):
    slow = SlowSource(folder)
    loader = make_loader(slow, train=True, batch_size=8, backend="dali-cpu", preset=SMALL, seed=1, num_threads=1)
    for index, _ in enumerate(loader):
        if index == 1:
            break
    assert max(slow.reads.values()) == 1  # the broken-off epoch read each sample at most once
    assert reader_threads() == []  # its read-ahead stopped when the next epoch began... or before:
    slow.reads.clear()
    assert sum(len(labels) for _, labels in loader) == 48  # the next epoch is whole
    assert set(slow.reads.values()) == {1} and len(slow.reads) == 48
    loader.close()
    assert reader_threads() == []


def test_an_error_reaches_the_training_thread_in_order_and_stops_the_read_ahead(folder):
    slow = SlowSource(folder, fail=5)
    with make_loader(folder, train=False, batch_size=8, backend="dali-cpu", shuffle=True, seed=2,
                     preset=SMALL) as plain:
        order = list(plain.plan.batches(0))
    failing_batch = next(k for k, batch in enumerate(order) if 5 in batch)
    loader = make_loader(slow, train=False, batch_size=8, backend="dali-cpu", shuffle=True, seed=2, preset=SMALL,
                         num_threads=1)
    delivered = 0
    with pytest.raises(SourceError, match="the storage said no"):
        for _ in loader:
            delivered += 1
    # none after it; DALI asks for up to `prefetch` (2) batches before it delivers them, as with
    # reads made in the callback itself
    assert failing_batch - 2 <= delivered <= failing_batch
    assert reader_threads() == []
    loader.close()


def test_the_byte_budget_holds(folder):
    slow = SlowSource(folder, delay=0.0)  # reads outrun the decoding: the read-ahead fills up to its budget
    with make_loader(slow, train=True, batch_size=4, backend="dali-cpu", preset=SMALL, seed=1, num_threads=1,
                     read_ahead_bytes=20_000) as loader:
        sum(len(labels) for _, labels in loader)
        ahead = loader.engine._feeder.ahead
    biggest = max(sum(len(slow.inner.read(int(i))) for i in batch) for batch in loader.plan.batches(0))
    assert 0 < ahead.peak_bytes <= max(20_000, biggest)


def test_prefetcher_prepares_the_next_batches_within_its_budget():
    prepared = []

    def prepare(batch, read_map):
        prepared.append(batch)
        time.sleep(0.2)  # slow storage
        return b"x" * 1000

    ahead = Prefetcher(threads=2, budget=3500, nbytes=len)  # three batches of 1000 bytes fit, not four
    ahead.plan(range(10), prepare)
    time.sleep(0.8)
    assert prepared == [0, 1, 2] and ahead.peak_bytes == 3000
    start = time.perf_counter()
    assert ahead.take(0) == b"x" * 1000
    assert time.perf_counter() - start < 0.1  # already there: no 0.2 s wait
    time.sleep(0.5)
    assert prepared[-1] == 3 and len(prepared) == 4  # topped up by one
    assert ahead.take(7) == b"x" * 1000 and ahead.prepared_on_caller == 1  # not the next planned: on the caller
    ahead.close()
    assert reader_threads() == []
