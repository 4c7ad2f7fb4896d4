"""The per-sample train ops, in the order they apply (see `ops.base` for what an op declares).

Adding an augmentation: a config dataclass and its `TrainTransform` field (config.py), one module
here, and its line in SAMPLE_OPS. The feeder, the DALI graph and the torchvision kernel iterate this
registry; nothing else counts or orders per-sample values.
"""

from __future__ import annotations

from ..config import TrainTransform
from .auto_augment import AutoAugmentOp
from .base import STREAM_SPAN, Feed, SampleOp
from .blur import Blur
from .color_jitter import ColorJitterOp
from .crop import Crop
from .flip import Flip
from .grayscale import Grayscale

# torchvision's order: crop, flip, jitter, policy (this package's order since the start), then
# grayscale and blur (timm's order after the jitter and the policy)
SAMPLE_OPS: tuple[SampleOp, ...] = (Crop(), Flip(), ColorJitterOp(), AutoAugmentOp(), Grayscale(), Blur())


def active_ops(cfg: TrainTransform) -> list[SampleOp]:
    return [op for op in SAMPLE_OPS if op.active(cfg)]


def check_registry(ops=SAMPLE_OPS) -> None:
    """Streams never overlap, and names (ops, feeds) are unique: a new op cannot shift or shadow another."""
    spans = sorted((op.stream * STREAM_SPAN + op.offset, op.draws, op.name) for op in ops if op.draws)
    for (start, draws, name), (next_start, _, next_name) in zip(spans, spans[1:]):
        if start + draws > next_start:
            raise ValueError(f"ops {name!r} and {next_name!r} draw from overlapping counters")
    for op in ops:
        if op.offset + op.draws > STREAM_SPAN:
            raise ValueError(f"op {op.name!r} draws past its stream")
    for kind, names in (("op", [op.name for op in ops]), ("feed", [f.name for op in ops for f in op.feeds])):
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate {kind} names: {names}")


check_registry()

__all__ = ["SAMPLE_OPS", "SampleOp", "Feed", "active_ops", "check_registry"]
