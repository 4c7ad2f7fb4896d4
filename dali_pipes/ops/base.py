"""What a per-sample train op is: the contract every module of `dali_pipes.ops` fulfils.

An op owns one field of `TrainTransform` and everything that follows from it:
- its own random stream: `draws` uniforms per sample at counters `stream * 2**32 + offset + 1 ...`
  of the sample's seed (dali_pipes.params), so switching an op on never moves another op's numbers;
- `draw`: those uniforms -> named per-sample values (torchvision's sampling algorithm, vectorized);
- `feeds`: the values DALI needs, as named, typed per-sample inputs of the graph;
- `dali`: its part of the DALI graph (uint8 HWC images on the graph's device -> the same);
- `torch`: its torchvision kernel on one (3, H, W) uint8 tensor with that sample's values.

Two ops are placed by the graph rather than chained: the crop window (fused with the decode and the
resize) and the flip (fused into the final crop_mirror_normalize); `stage` says which. Every other op
is applied in registry order on both backends.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..config import TrainTransform

STREAM_SPAN = 2**32  # counters of one stream; an op's draws stay inside its own span


class Feed(NamedTuple):
    """A per-sample value fed to DALI: its name, numpy dtype and per-sample shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]


class SampleOp:
    """Base class: override what the op has (an op without draws or feeds keeps the defaults)."""

    field: str | None = None  # the TrainTransform field that switches it on; None: always on
    stream: int = 0
    offset: int = 0
    draws: int = 0
    feeds: tuple[Feed, ...] = ()
    stage: str = "pixels"  # "geometry" (the crop window), "mirror" (the flip), or "pixels" (chained)
    needs_conditionals: bool = False  # its DALI graph uses `if` on data (DALI's conditionals)

    @property
    def name(self) -> str:
        return self.field or type(self).__name__.lower()

    def active(self, cfg: TrainTransform) -> bool:
        return self.field is None or getattr(cfg, self.field) is not None

    def draw(self, cfg: TrainTransform, hw: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
        """Named per-sample values from `u`, (n, draws) uniforms; `hw` the (n, 2) image sizes."""
        return {}

    def feed(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The values DALI gets, cast to the declared dtypes (an op may derive them)."""
        return {f.name: np.ascontiguousarray(values[f.name], dtype=f.dtype) for f in self.feeds}

    def dali(self, images, nodes: dict, cfg: TrainTransform, device: str):
        return images

    def torch(self, image: torch.Tensor, values: dict, cfg: TrainTransform) -> torch.Tensor:
        return image
