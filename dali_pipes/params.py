"""Per-sample random parameters of the train transform, drawn once and shared by both backends.

Each op of `dali_pipes.ops` draws its uniforms from its own counter range of a counter-based
generator keyed by the sample's seed from the epoch plan, and turns them into its parameters with
torchvision's own sampling algorithm, vectorized over the batch. So:

- DALI and torchvision apply the *same* crop box, flip, jitter factors, grey and blur to the same
  sample, and their train outputs can be compared pixel by pixel;
- the parameters of a sample depend only on (seed, epoch, position): not on threads, workers or
  where a resumed run restarted, nor on which other ops are switched on.
"""

from __future__ import annotations

import numpy as np

from .config import TrainTransform
from .ops import STREAM_SPAN, active_ops


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


class TrainParams(dict):
    """Named per-sample parameters of one batch (each op's `draw`); every array has the batch as its
    first axis. Attribute access for reading: `p.window`, `p.flip`."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def sample(self, i: int) -> dict:
        """Sample `i`'s values, as an op's torchvision kernel takes them."""
        return {name: values[i] for name, values in self.items()}


def draw_train_params(cfg: TrainTransform, hw, seeds) -> TrainParams:
    """Parameters of the active ops for samples of sizes `hw` (n, 2) from their seeds (n,)."""
    hw = np.asarray(hw, dtype=np.int64).reshape(-1, 2)
    params = TrainParams()
    for op in active_ops(cfg):
        if op.draws:
            u = uniforms(seeds, op.draws, op.stream * STREAM_SPAN + op.offset)
            params.update(op.draw(cfg, hw, u))
    return params
