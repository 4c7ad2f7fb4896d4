"""Reading a batch's files on threads only when storage is slow: shared by the DALI backends'
read-ahead and the torchvision backend's workers.

Reads from memory (the page cache) take microseconds, and many threads taking turns at the GIL for
them are slower than one; reads from a network filesystem take milliseconds, and then a batch's
files read one at a time leave the cores idle. So a batch's first `PROBE` reads are made on the
caller and timed: when their median is under `FAST_READ_S` the batch is read on the caller; else the
rest go to the reader threads, one contiguous chunk each (a future per sample would cost more than a
fast read), and the next `REPROBE - 1` batches go straight to them.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

PROBE = 8  # reads timed before a batch's reads go to the readers
FAST_READ_S = 100e-6  # a read this fast comes from memory: no thread hop for it
REPROBE = 8  # batches between probes while reads are slow


def default_read_threads() -> int:
    """Readers mostly wait on storage, and a network filesystem serves requests in flight / latency:
    8 per core, at least 32, at most 64. Reads from memory do not go to them (see `PROBE`), so many
    cost nothing when storage is fast."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(32, min(64, 8 * cores))


def serial_map(fn, items) -> list:
    return [fn(item) for item in items]


class ProbedReads:
    """`run(fn, items, readers)`: `fn` over `items` in order, on the caller while reads are fast,
    on `readers` (a ThreadPoolExecutor of `threads`) while they are slow."""

    def __init__(self, threads: int):
        self.threads = threads
        self._slow_streak = 0  # batches read on the readers since the last probe found slow reads

    def run(self, fn, items, readers: ThreadPoolExecutor | None) -> list:
        if readers is None or self.threads < 2 or len(items) <= PROBE:
            return serial_map(fn, items)
        head = []
        if self._slow_streak % REPROBE == 0:
            seconds = []
            for item in items[:PROBE]:
                start = time.perf_counter()
                head.append(fn(item))
                seconds.append(time.perf_counter() - start)
            if sorted(seconds)[PROBE // 2] < FAST_READ_S:
                self._slow_streak = 0
                return head + serial_map(fn, items[PROBE:])
        self._slow_streak += 1
        rest = items[len(head):]
        chunks = min(self.threads, len(rest))
        bounds = [len(rest) * k // chunks for k in range(chunks + 1)]
        parts = [readers.submit(serial_map, fn, rest[lo:hi]) for lo, hi in zip(bounds, bounds[1:])]
        return head + [out for part in parts for out in part.result()]


class ProcessReaders:
    """A process's own reader threads and probe (a forked worker makes its own on first use)."""

    def __init__(self, threads: int | None = None):
        self.threads = threads or default_read_threads()
        self._pid: int | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._probe = ProbedReads(self.threads)

    def map(self, fn, items) -> list:
        if self._pid != os.getpid():
            self._pid, self._probe = os.getpid(), ProbedReads(self.threads)
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dali-pipes-read")
        return self._probe.run(fn, items, self._pool)

    def __getstate__(self):
        return {"threads": self.threads, "_pid": None, "_pool": None, "_probe": ProbedReads(self.threads)}
