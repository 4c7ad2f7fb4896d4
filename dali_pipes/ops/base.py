"""What an augmentation is: the contract every module of `dali_pipes.ops` fulfils.

An augmentation module owns everything that follows from one optional field of `TrainTransform`:
- `config`: its frozen, validated config dataclass (the field holds one, or None for off), and
  `check`, for what it needs of the rest of the transform;
- its own random stream: `draws` uniforms per sample at counters `stream * STREAM_SPAN + offset + 1 ...`
  of the sample's seed (dali_pipes.rng), so switching an op on never moves another op's numbers;
- `draw`: those uniforms -> named per-sample values (torchvision's sampling algorithm, vectorized);
- `feeds`: the values DALI needs, as named, typed per-sample inputs of the graph;
- `dali`: its part of the DALI graph (uint8 HWC images on the graph's device -> the same);
- `torch`: its torchvision kernel on one (3, H, W) uint8 tensor with that sample's values;
- `add_arguments` / `from_arguments`: its `dali-pipes preview|graph` flags;
- `timm_args` / `from_timm`: the timm training arguments that turn it on.

A per-sample op (`SampleOp`) runs on each image before normalization: two are placed by the graph
rather than chained, the crop window (fused with the decode and the resize) and the flip (fused into
the final crop_mirror_normalize); `stage` says which. A batch op (`BatchOp`) runs on the normalized
batch, on the loader's device, the same code for both backends (dali_pipes.output).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Feed(NamedTuple):
    """A per-sample value fed to DALI: its name, numpy dtype and per-sample shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]


class Augmentation:
    """What every op declares; override what the op has."""

    field: str | None = None  # its TrainTransform field; None: always on, no config (crop, flip)
    config: type | None = None  # the dataclass that field holds
    timm_args: tuple[str, ...] = ()  # the timm training arguments `from_timm` reads

    @property
    def name(self) -> str:
        return self.field or type(self).__name__.lower()

    def active(self, cfg) -> bool:
        return self.field is None or getattr(cfg, self.field) is not None

    def check(self, cfg) -> None:
        """Refuse (ConfigError) what this op's settings need of the rest of the TrainTransform `cfg`."""

    def add_arguments(self, parser) -> None:
        """Its flags for `dali-pipes preview` and `graph`."""

    def from_arguments(self, args):
        """Its config from those flags, or None (off)."""
        return None

    def from_timm(self, args: dict):
        """Its config from timm's training arguments `args` (timm's defaults where absent), or None."""
        return None


class SampleOp(Augmentation):
    stream: int = 0
    offset: int = 0
    draws: int = 0
    feeds: tuple[Feed, ...] = ()
    stage: str = "pixels"  # "geometry" (the crop window), "mirror" (the flip), or "pixels" (chained)
    needs_conditionals: bool = False  # its DALI graph uses `if` on data (DALI's conditionals)
    reads: tuple[str, ...] = ()  # other ops' fed values its `torch_node` reads too (e.g. the flip)
    # what it adds per image on each CPU backend, in ms (dali-cpu, torchvision), measured over the
    # bare recipe by benchmarks/augment_cost.py (RESULTS.md): `auto` without CUDA sums them
    cpu_ms: tuple[float, float] = (0.0, 0.0)

    def cpu_cost(self, cfg) -> tuple[float, float]:
        """ms per image this op adds on (dali-cpu, torchvision), as `cfg` configures it."""
        return self.cpu_ms

    def draw(self, cfg, hw: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
        """Named per-sample values from `u`, (n, draws) uniforms; `hw` the (n, 2) image sizes."""
        return {}

    def feed(self, values: dict[str, np.ndarray], cfg) -> dict[str, np.ndarray]:
        """The values DALI gets, cast to the declared dtypes (an op may derive them, from all ops'
        `values` and the TrainTransform `cfg`)."""
        return {f.name: np.ascontiguousarray(values[f.name], dtype=f.dtype) for f in self.feeds}

    def dali(self, images, nodes: dict, cfg, device: str):
        return images

    # A CPU graph with the torch resampler may run (part of) an op in torch, inside the resampler's
    # node, where DALI's CPU operators are slower than torch's kernels: `in_torch_node` says whether,
    # `torch_node` is that part (same numbers and arithmetic as `dali`), `dali_after_torch_node` the
    # DALI part that stays after the node (`dali_after_torch` says whether there is one). GPU graphs
    # (and resampler="dali") always run `dali`.
    def in_torch_node(self, cfg) -> bool:
        return False

    def dali_after_torch(self, cfg) -> bool:
        return False

    def torch_node(self, image: torch.Tensor, feeds: dict[str, np.ndarray], cfg) -> torch.Tensor:
        """(3, H, W) uint8 -> the same, with this sample's fed values (`feeds`, by feed name)."""
        return image

    def dali_after_torch_node(self, images, nodes: dict, cfg, device: str):
        return images

    def torch(self, image: torch.Tensor, values: dict, cfg) -> torch.Tensor:
        return image


class BatchOp(Augmentation):
    """An op on the normalized (B, 3, H, W) batch; its numbers come from the batch's generator."""

    def apply(self, images: torch.Tensor, settings, rng: np.random.Generator, *,
              in_place: bool = False) -> torch.Tensor:
        """`in_place`: the batch is the loader's own, and may be written into."""
        raise NotImplementedError
