"""`LoaderOptions`: everything `make_loader` takes besides the source, as one frozen object checked when
it is built. The loader's stages read it by name (`options.batch_size`), so a reader follows an
option from the call to its use; every check that needs nothing but the option itself is here, before
a source is scanned or statistics computed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .config import GpuDecoder, Preprocess
from .constants import READ_AHEAD_BYTES
from .mix import MixUpCutMix
from .resamplers import check_resampler
from .sources.header import DEFAULT_MAX_PIXELS

ON_ERROR = ("raise", "skip")


def check_positive(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class LoaderOptions:
    """`make_loader`'s keyword arguments, with its defaults (its docstring says what each means)."""

    train: bool
    batch_size: int
    backend: str = "auto"
    preset: str | Preprocess = "imagenet"
    seed: int | None = None
    shuffle: bool | None = None
    drop_last: bool = False
    num_threads: int | None = None
    device: torch.device | str | None = None
    prefetch: int = 2
    image_column: str | None = None
    label_column: str | None = None
    unlabeled: bool = False
    mix: MixUpCutMix | None = None
    shard_id: int | None = None
    num_shards: int | None = None
    shard_padding: str = "pad"
    on_error: str = "raise"
    resampler: str = "auto"
    gpu_decoder: GpuDecoder | None = None
    storage_options: dict | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    read_threads: int | None = None
    read_ahead_bytes: int = READ_AHEAD_BYTES
    aug_repeats: float = 0
    pin_memory: bool = False

    def __post_init__(self):
        for name in ("train", "drop_last", "unlabeled", "pin_memory"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.shuffle is not None and not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle must be True, False or None (= train), got {self.shuffle!r}")
        check_positive("batch_size", self.batch_size)
        check_positive("prefetch", self.prefetch)
        if self.storage_options is not None and not isinstance(self.storage_options, dict):
            raise ValueError("storage_options must be a dict of fsspec options, got "
                             f"{type(self.storage_options).__name__}")
        for name in ("num_threads", "max_pixels", "read_threads"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        check_positive("read_ahead_bytes", self.read_ahead_bytes)
        seed = self.seed
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        for name in ("image_column", "label_column"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a column name (str) or None, got {getattr(self, name)!r}")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.gpu_decoder is not None and not isinstance(self.gpu_decoder, GpuDecoder):
            raise ValueError("gpu_decoder must be a dali_pipes.GpuDecoder or None, got "
                             f"{type(self.gpu_decoder).__name__}")
        check_resampler(self.resampler)
        if self.mix is not None:
            if not isinstance(self.mix, MixUpCutMix):
                raise ValueError(f"mix must be a dali_pipes.MixUpCutMix or None, got {type(self.mix).__name__}")
            if not self.train:
                raise ValueError("mix: MixUp/CutMix is a training augmentation; pass it to the train loader only")

    @property
    def shuffled(self) -> bool:
        """`shuffle`, where None means `train`."""
        return self.train if self.shuffle is None else self.shuffle

    def source_options(self) -> dict[str, Any]:
        """What `resolve_source` takes of these options (the ones set)."""
        options: dict[str, Any] = {k: getattr(self, k) for k in ("image_column", "label_column", "storage_options")
                                   if getattr(self, k) is not None}
        if self.unlabeled:
            options["unlabeled"] = True
        return options
