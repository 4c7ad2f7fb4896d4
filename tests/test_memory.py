"""release_free_heap: the DALI loader's end-of-epoch trim really gives freed heap memory back."""

from __future__ import annotations

import sys

import numpy as np
import psutil
import pytest

from dali_pipes.memory import release_free_heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_to_the_os():
    me = psutil.Process()
    arrays = [np.ones(100_000, np.uint8) for _ in range(2000)]  # ~190 MB below the mmap threshold
    keep = arrays[-1]  # pins the top of the heap: without a trim nothing is returned
    del arrays
    before = me.memory_info().rss
    assert release_free_heap() is True
    after = me.memory_info().rss
    assert before - after > 100 * 2**20, f"RSS {before / 2**20:.0f} MB -> {after / 2**20:.0f} MB"
    assert keep[0] == 1


def test_dali_epochs_end_with_a_trim(identity_folder, monkeypatch):
    from dali_pipes import make_loader
    from dali_pipes.dali import engine as dali_loader

    calls = []
    monkeypatch.setattr(dali_loader, "release_free_heap", lambda: calls.append(1))
    root, _ = identity_folder
    with make_loader(root, train=True, batch_size=8, backend="dali-cpu", seed=0) as loader:
        for epoch in range(2):
            loader.set_epoch(epoch)
            for _ in loader:
                pass
    assert len(calls) == 2
