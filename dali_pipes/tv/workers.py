"""The torchvision engine's worker processes, stopped promptly whatever frees their loader.

torch's DataLoader stops a worker by a message on a multiprocessing queue, whose feeder thread is
ended by a weakref callback. When the loader that owns the workers becomes cyclic garbage (kept in a
framework's object graph, or an iterator stored on the loader), the collector runs those callbacks
before any `__del__`: the stop message then never leaves this process, and torch waits out its
5-second join timeout per worker before it kills the worker. Holding each live worker pool here
keeps its queues reachable, so they are never part of a collected cycle; `release` lets go of it
after a graceful stop, and the exit hook stops what is left while multiprocessing still works.
"""

from __future__ import annotations

import atexit

import torch.utils.data  # noqa: F401 - imported first: its exit hooks must run after this module's

_LIVE: set = set()  # torch's multiprocessing DataLoader iterators whose workers may still run


def hold(iterator, _live=_LIVE) -> None:
    """Keep a DataLoader iterator with worker processes reachable until `release`."""
    if getattr(iterator, "_workers", None):
        _live.add(iterator)


# the defaults are bound now: a loader may be freed after interpreter shutdown cleared this module
def release(iterator, _live=_LIVE) -> None:
    """Stop the iterator's workers (a no-op for one already stopped) and let go of it."""
    _live.discard(iterator)
    iterator._shutdown_workers()


@atexit.register
def _release_all(_live=_LIVE, _release=release) -> None:
    # registered after multiprocessing's and torch's own exit hooks, so it runs before them
    for iterator in list(_live):
        _release(iterator)
