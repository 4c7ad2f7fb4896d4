"""Per-sample random parameters of the train transform, drawn once and shared by both backends.

Each op of `dali_pipes.ops` draws its uniforms from its own counter range (dali_pipes.rng) keyed by
the sample's seed from the epoch plan, and turns them into its parameters with torchvision's own
sampling algorithm, vectorized over the batch. So DALI and torchvision apply the *same* crop box,
flip, jitter factors, grey and blur to the same sample, and their train outputs can be compared
pixel by pixel.
"""

from __future__ import annotations

import numpy as np

from .ops import active_ops
from .rng import STREAM_SPAN, uniforms


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


def draw_train_params(cfg, hw, seeds) -> TrainParams:
    """Parameters of the active ops of TrainTransform `cfg` for samples of sizes `hw` (n, 2) from
    their seeds (n,)."""
    hw = np.asarray(hw, dtype=np.int64).reshape(-1, 2)
    params = TrainParams()
    for op in active_ops(cfg):
        if op.draws:
            u = uniforms(seeds, op.draws, op.stream * STREAM_SPAN + op.offset)
            params.update(op.draw(cfg, hw, u))
    return params
