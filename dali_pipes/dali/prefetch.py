"""The DALI feeder's read-ahead: the batches the epoch plan lists next are prepared on background
threads - their bytes read by `threads` readers at once, their headers checked, their train
parameters drawn - so the external source's callback, which DALI runs on the training thread, only
takes a ready batch. At most `budget` bytes of prepared-but-untaken batches are held or in flight
(at least one batch always is, so a batch larger than the budget still streams), and the threads end
with the epoch, on `stop()` and on `close()`.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from ..constants import READ_AHEAD_BYTES
from ..readers import ProbedReads, serial_map

MAX_BATCHES_AHEAD = 8  # also bounds the parameter arrays of tiny images


class Prefetcher:
    """`plan(batches, prepare)`: plan batch indices in the order they will be taken, and the function
    that prepares one, `prepare(batch, map)` (`map(fn, items)` runs `fn` on the readers, in order);
    then `take(batch)` for each returns `prepare`'s result (its exception re-raised here, in order).
    A `take` of a batch that is not the next planned one prepares it on the caller (a restart)."""

    def __init__(self, *, threads: int, budget: int = READ_AHEAD_BYTES,
                 nbytes: Callable[[object], int] = lambda prepared: 0, batches_at_once: int = 1):
        self._nbytes = nbytes
        self.threads = threads
        # batches prepared at once: one fans its reads out to the readers (more would contend for the
        # GIL); a source that reads a batch concurrently itself (object storage) gains from two
        self.batches_at_once = batches_at_once
        self.budget = budget
        self._lock = threading.Lock()
        self._queue: deque[tuple[int, Future]] = deque()
        self._coming: deque[int] = deque()
        self._prepare: Callable | None = None
        self._assemblers: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._seen_bytes, self._seen_batches = 0, 0
        self.peak_bytes = 0  # the most prepared-but-untaken bytes held at once
        self.prepared_on_caller = 0  # batches `take` prepared itself (none while the read-ahead keeps up)
        self._probe = ProbedReads(threads)

    def plan(self, batches, prepare: Callable) -> None:
        self.stop()
        with self._lock:
            self._coming = deque(int(b) for b in batches)
            self._prepare = prepare
            if self._coming:
                self._assemblers = ThreadPoolExecutor(self.batches_at_once, thread_name_prefix="dali-pipes-prepare")
                self._readers = ThreadPoolExecutor(self.threads, thread_name_prefix="dali-pipes-read")
        self._top_up()

    def _parallel_map(self, readers: ThreadPoolExecutor):
        """`map` on the readers when reads are slow (`readers.ProbedReads`)."""
        return lambda fn, items: self._probe.run(fn, items, readers)

    def _estimate(self) -> int:
        return self._seen_bytes // self._seen_batches if self._seen_batches else self.budget // 2

    def _ready(self, future: Future) -> bool:
        return future.done() and not future.cancelled() and future.exception() is None

    def _top_up(self, done: Future | None = None) -> None:
        submitted = []
        with self._lock:
            if done is not None and self._ready(done):  # what batches weigh, learnt as they arrive
                self._seen_bytes += self._nbytes(done.result())
                self._seen_batches += 1
            if self._assemblers is None:
                return
            ready = [self._nbytes(f.result()) for _, f in self._queue if self._ready(f)]
            self.peak_bytes = max(self.peak_bytes, sum(ready))
            held = sum(ready) + (len(self._queue) - len(ready)) * self._estimate()  # in flight: estimated
            while self._coming and len(self._queue) < MAX_BATCHES_AHEAD:
                if self._queue and held + self._estimate() > self.budget:
                    break
                batch = self._coming.popleft()
                future = self._assemblers.submit(self._prepare, batch, self._parallel_map(self._readers))
                self._queue.append((batch, future))
                submitted.append(future)
                held += self._estimate()
        for future in submitted:  # outside the lock: a finished future calls back at once
            future.add_done_callback(self._top_up)

    def take(self, batch: int):
        with self._lock:
            planned = bool(self._queue) and self._queue[0][0] == batch
            future = self._queue.popleft()[1] if planned else None
            prepare = self._prepare
        if future is not None and not future.cancelled():
            prepared = future.result()  # its exception, if it failed, reaches the caller here
            self._top_up()
            return prepared
        self.prepared_on_caller += 1
        return prepare(batch, serial_map)

    def stop(self, wait: bool = False) -> None:
        """Nothing more is prepared: queued batches are dropped, running reads finish, threads end."""
        with self._lock:
            dropped = [future for _, future in self._queue]
            self._queue.clear()
            self._coming.clear()
            pools = (self._assemblers, self._readers)
            self._assemblers = self._readers = None
        for future in dropped:  # outside the lock: a cancelled future calls back at once
            future.cancel()
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=wait, cancel_futures=True)

    def close(self) -> None:
        self.stop(wait=True)
