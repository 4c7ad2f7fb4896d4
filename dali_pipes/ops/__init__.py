"""The augmentation registry: every op, in the order it applies (see `ops.base` for what an op declares).

Adding an augmentation: one module here (its config dataclass, draw, DALI function, torch kernel,
CLI flags and timm arguments), its line in SAMPLE_OPS (or BATCH_OPS), and its typed TrainTransform
field and package export, written out (`dali_pipes.config` refuses, at import, a registry op without
its field). The field's type check, the CLI flags, `from_timm`'s table, the feeder, the DALI graph and
the torchvision kernel come from this registry (docs/architecture.md, "Adding an augmentation").
"""

from __future__ import annotations

from ..rng import STREAM_SPAN
from .auto_augment import AutoAugmentOp
from .base import Augmentation, BatchOp, Feed, SampleOp
from .blur import Blur
from .color_jitter import ColorJitterOp
from .crop import Crop, ResizeFilter
from .erasing import Erasing
from .flip import Flip, VerticalFlip
from .grayscale import Grayscale
from .timm_augment import TimmAugmentOp

# torchvision's order: crop (its window, its resize filter), flips, jitter, policy (this package's
# order since the start), then grayscale and blur (timm's order after the jitter and the policy);
# timm's own policies apply before the jitter, as in timm's transforms
SAMPLE_OPS: tuple[SampleOp, ...] = (
    Crop(), ResizeFilter(), Flip(), VerticalFlip(),
    TimmAugmentOp(), ColorJitterOp(), AutoAugmentOp(), Grayscale(), Blur())
# on the normalized batch, before MixUp/CutMix (make_loader(mix=...))
BATCH_OPS: tuple[BatchOp, ...] = (Erasing(),)
# the ops a TrainTransform field switches on, in field order
CONFIGURED: tuple[Augmentation, ...] = tuple(op for op in SAMPLE_OPS + BATCH_OPS if op.field is not None)


def active_ops(cfg) -> list[SampleOp]:
    return [op for op in SAMPLE_OPS if op.active(cfg)]


def active_batch_ops(cfg) -> list[BatchOp]:
    return [op for op in BATCH_OPS if op.active(cfg)]


def check_registry(ops=SAMPLE_OPS, batch_ops=BATCH_OPS) -> None:
    """Streams never overlap, and names (ops, feeds, fields, timm arguments) are unique: a new op
    cannot shift or shadow another."""
    spans = sorted((op.stream * STREAM_SPAN + op.offset, op.draws, op.name) for op in ops if op.draws)
    for (start, draws, name), (next_start, _, next_name) in zip(spans, spans[1:]):
        if start + draws > next_start:
            raise ValueError(f"ops {name!r} and {next_name!r} draw from overlapping counters")
    for op in ops:
        if op.offset + op.draws > STREAM_SPAN:
            raise ValueError(f"op {op.name!r} draws past its stream")
    everything = tuple(ops) + tuple(batch_ops)
    for op in everything:
        if (op.field is None) != (op.config is None):
            raise ValueError(f"op {op.name!r}: a field and its config dataclass go together")
    for kind, names in (("op", [op.name for op in everything]), ("feed", [f.name for op in ops for f in op.feeds]),
                        ("timm argument", [a for op in everything for a in op.timm_args]),
                        ("config", [op.config.__name__ for op in everything if op.config is not None])):
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate {kind} names: {names}")


check_registry()

__all__ = ["SAMPLE_OPS", "BATCH_OPS", "CONFIGURED", "Augmentation", "SampleOp", "BatchOp", "Feed", "active_ops",
           "active_batch_ops", "check_registry"]
