"""Loaders never block interpreter exit, whatever state they are left in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from .conftest import CPU_BACKENDS

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dali_pipes import make_loader
    root, broken, backend = sys.argv[1:4]
    loader = make_loader(root, train=True, batch_size=4, backend=backend, num_threads=2, seed=0)
    it = iter(loader)
    next(it)                      # mid-epoch, prefetch queues full
    second = make_loader(root, train=False, batch_size=4, backend=backend, num_threads=2)
    next(iter(second))            # a second loader beside it
    failing = make_loader(broken, train=True, batch_size=4, backend=backend, num_threads=2, seed=0)
    failing_it = iter(failing)
    next(failing_it)              # mid-epoch, then a new epoch that meets an unreadable file
    (Path(broken) / "ant" / "0000.png").write_bytes(b"")
    try:
        for _ in failing:
            pass
    except Exception as err:
        print("raised", type(err).__name__)
    print("leaving")
    # no close(): the interpreter must still exit promptly
""")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_the_interpreter_exits_with_loaders_left_open(tmp_path, backend):
    """Left open: a loader mid-epoch, a second one beside it, and one whose new epoch raised."""
    from .conftest import make_identity_folder

    make_identity_folder(tmp_path / "ok", {"ant": 5, "bee": 6})
    make_identity_folder(tmp_path / "broken", {"ant": 5, "bee": 6})
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "ok"), str(tmp_path / "broken"), backend],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["raised ImageDecodeError", "leaving"], result.stdout


def test_close_is_idempotent_and_the_context_manager_closes(identity_folder):
    from dali_pipes import make_loader

    root, _ = identity_folder
    for backend in CPU_BACKENDS:
        with make_loader(root, train=True, batch_size=4, backend=backend, num_threads=2) as loader:
            next(iter(loader))
        loader.close()
        with pytest.raises(RuntimeError, match="closed"):
            next(iter(loader))


def test_a_torchvision_loader_freed_in_a_reference_cycle_stops_its_workers_at_once(identity_folder):
    """A loader kept in a cycle (a framework's object graph) is freed by the garbage collector, which
    runs its queues' weakref callbacks first: torch's own stop message then never reached the worker
    and the collection waited out torch's join timeout (5 s per worker) before killing it."""
    import gc
    import time

    from torch.utils.data._utils import MP_STATUS_CHECK_INTERVAL

    from dali_pipes import make_loader

    root, _ = identity_folder
    loader = make_loader(root, train=True, batch_size=4, backend="torchvision", num_threads=1)
    next(iter(loader))
    (worker,) = loader.engine._loader._iterator._workers
    loader.cycle = loader
    del loader
    start = time.perf_counter()
    gc.collect()
    took = time.perf_counter() - start
    assert not worker.is_alive()
    assert took < MP_STATUS_CHECK_INTERVAL, f"the collection waited {took:.1f} s for the worker"


class _CollectingSource:
    """A folder's source whose every read runs a full garbage collection, in whichever process reads."""

    def __init__(self, folder):
        from dali_pipes.sources import resolve_source

        self.inner = resolve_source(folder)
        self.classes, self.class_to_idx = self.inner.classes, self.inner.class_to_idx
        self.targets, self.encoded = self.inner.targets, self.inner.encoded

    def __len__(self) -> int:
        return len(self.inner)

    def read(self, index: int):
        import gc

        gc.collect()
        return self.inner.read(index)

    def describe(self, index: int) -> str:
        return self.inner.describe(index)


@pytest.mark.timeout(120)
def test_workers_never_finalize_the_dali_pipelines_they_inherit(identity_folder):
    """A dali-cpu loader left as uncollected garbage (a cycle) when the torchvision backend forks its
    workers: a worker that collected it would wait forever on DALI threads that do not exist after
    fork. Here every read in the worker runs the collector; the epoch still ends."""
    import gc

    from dali_pipes import make_loader

    root, mapping = identity_folder
    enabled = gc.isenabled()
    gc.disable()  # the garbage must still be there at the fork
    try:
        dali = make_loader(root, train=True, batch_size=4, backend="dali-cpu", num_threads=2)
        next(iter(dali))
        dali.cycle = dali
        del dali
        with make_loader(_CollectingSource(root), train=True, batch_size=4, backend="torchvision",
                         num_threads=1) as loader:
            assert sum(len(labels) for _, labels in loader) == len(mapping)
    finally:
        if enabled:
            gc.enable()
        gc.collect()
