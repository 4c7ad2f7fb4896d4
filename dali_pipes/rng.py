"""The counter-based random streams every per-sample op draws from.

A sample's uniforms are splitmix64 of (its seed from the epoch plan, a counter). Each op owns the
counters `stream * STREAM_SPAN + offset + 1 ...`, so switching an op on never moves another op's
numbers, and a sample's values depend only on (seed, epoch, position): not on threads, workers or
where a resumed run restarted.
"""

from __future__ import annotations

import numpy as np

STREAM_SPAN = 2**32  # counters of one stream; an op's draws stay inside its own span


def uniforms(seeds, count: int, first: int = 0) -> np.ndarray:
    """(n, count) uniforms in [0, 1): splitmix64 of (seed, counter) for counters first+1 .. first+count."""
    seeds = np.asarray(seeds, dtype=np.int64).astype(np.uint64).reshape(-1, 1)
    counters = np.arange(first + 1, first + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = seeds * np.uint64(0x9E3779B97F4A7C15) + counters * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
