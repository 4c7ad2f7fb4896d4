"""`dali_pipes.DataLoader`: `torch.utils.data.DataLoader`'s signature and defaults over the user's own
dataset, transform and sampler; the swap is one import.

Every argument is honoured, mapped onto `make_loader` (`num_workers` -> threads, `generator` ->
seed, `prefetch_factor` -> prefetch, a sampler -> shuffle, shards, padding and the subset) or
refused by name with the reason (`UnsupportedArgument`); none is dropped silently. The dataset's
transform is translated into the engines' config (`dali_pipes.from_torchvision`); what it returns is
the loader `make_loader` returns (resume, `set_epoch`, `len`, the DDP surface).
"""

from __future__ import annotations

import inspect
import warnings

import torch
from torch.utils.data import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    default_collate,
)

from .config import Preprocess
from .dataloader import Loader
from .errors import ConfigError, SourceError
from .loader import make_loader
from .mix import MixUpCutMix
from .sources import resolve_source
from .sources.timm_reader import is_timm_dataset
from .sources.torchvision import (
    SubsetSource,
    UserDatasetSource,
    base_dataset,
    is_torchvision_dataset,
    torchvision_source,
)
from .translate import from_torchvision


class UnsupportedArgument(ConfigError):
    """A DataLoader argument (or a value of it) that dali_pipes cannot honour; the message says why."""

    def __init__(self, name: str, value, reason: str):
        self.argument = name
        super().__init__(f"DataLoader({name}={value!r}): {reason}")


def DataLoader(  # noqa: N802 (torch's name: the swap is one import)
    dataset,
    batch_size: int | None = 1,
    shuffle: bool | None = None,
    sampler=None,
    batch_sampler=None,
    num_workers: int = 0,
    collate_fn=None,
    pin_memory: bool = False,
    drop_last: bool = False,
    timeout: float = 0,
    worker_init_fn=None,
    multiprocessing_context=None,
    generator: torch.Generator | None = None,
    *,
    prefetch_factor: int | None = None,
    persistent_workers: bool = False,
    pin_memory_device: str = "",
    in_order: bool = True,
    backend: str = "auto",
    device: torch.device | str | None = None,
    seed: int | None = None,
    train: bool | None = None,
    preset: str | Preprocess | None = None,
    on_error: str = "raise",
    resampler: str = "auto",
    strict: bool = False,
) -> Loader:
    """`torch.utils.data.DataLoader(dataset, ...)` on dali-pipes' engines; iterating yields (images,
    labels) batches as the dataset's transform and the default collate would.

    `dataset`: a torchvision ImageFolder / DatasetFolder (default loader) or CIFAR10 / CIFAR100 whose
    `transform` is translated, a Subset of one, or anything `make_loader` takes (a path, a
    `datasets.Dataset`, a timm dataset: then `train=` and `preset=` say what to run).
    `num_workers`: the engine's threads (0: all cores, as the engines never load in the calling
    thread alone). `generator`: its initial seed is the loader's seed. `sampler`: RandomSampler,
    SequentialSampler, SubsetRandomSampler or DistributedSampler (its rank, replicas, shuffle, seed
    and drop_last; its `set_epoch(epoch)` is followed at each `iter()`), or any of them in a
    BatchSampler. dali-pipes' own: `backend`, `device`, `seed`, `train` (default: what the transform
    says), `preset` (instead of a transform), `on_error`, `resampler` (see `make_loader`).
    A transform, loader or target_transform with no translation runs as it is on the CPU (one
    `CpuFallbackWarning` says which op and what it costs); `strict=True` raises instead.
    """
    _refuse_worker_arguments(timeout, worker_init_fn, multiprocessing_context)
    mix = mix_from_collate(collate_fn)
    if batch_size is None:
        raise UnsupportedArgument("batch_size", None, "the engines give batches; unbatched samples are not provided")
    if batch_sampler is not None:
        if batch_size != 1 or shuffle or sampler is not None or drop_last:
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                             "and drop_last")  # torch's own message
        if type(batch_sampler) is not BatchSampler:
            raise UnsupportedArgument("batch_sampler", batch_sampler, "torch's BatchSampler over one of the "
                                      "samplers below; a custom batch sampler is not provided")
        sampler, batch_size, drop_last = batch_sampler.sampler, batch_sampler.batch_size, batch_sampler.drop_last
    if sampler is not None and shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")  # torch's own message
    if generator is not None:
        seed = _seed_from(seed, generator, "generator")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                         "multiprocessing.")  # torch's own message
    if prefetch_factor is not None and num_workers == 0:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 "
                         "to enable multiprocessing, otherwise set prefetch_factor to None.")  # torch's own message
    _check_pinning(pin_memory_device)
    source, translated = _source(dataset, preset, train, strict)
    if translated.get("backend", backend) != backend and backend != "auto":
        raise UnsupportedArgument("backend", backend, "the dataset's own transform runs on the torchvision backend "
                                  "only (see the CpuFallbackWarning above; strict=True refuses instead)")
    options = _sampling(sampler, bool(shuffle), seed)
    if "indices" in options:
        source = SubsetSource(source, options.pop("indices"))
    loader = make_loader(source, batch_size=batch_size, drop_last=drop_last, num_threads=num_workers or None,
                         prefetch=prefetch_factor or 2, device=device, on_error=on_error, resampler=resampler, mix=mix,
                         pin_memory=pin_memory,
                         **{"backend": backend, **translated}, **options)
    if isinstance(sampler, DistributedSampler):
        loader.epoch_of = lambda: sampler.epoch
    loader.dataset = dataset  # as torch's: the object passed in (pytorch/examples takes a Subset of it)
    return loader


def _refuse_worker_arguments(timeout, worker_init_fn, multiprocessing_context) -> None:
    why = "the engines run no per-worker code of yours (their threads and workers are seeded from the loader's seed)"
    if timeout:
        raise UnsupportedArgument("timeout", timeout, "no per-batch deadline; slow storage is reported by on_error")
    if worker_init_fn is not None:
        raise UnsupportedArgument("worker_init_fn", worker_init_fn, why)
    if multiprocessing_context is not None:
        raise UnsupportedArgument("multiprocessing_context", multiprocessing_context, why)


_MIXES = ("MixUp", "CutMix", "RandomChoice")


def mix_from_collate(collate_fn) -> MixUpCutMix | None:
    """The batch mix a collate_fn asks for: None for the default collate; for torchvision's references'
    `lambda batch: mixup_cutmix(*default_collate(batch))` over a v2 MixUp, CutMix or RandomChoice of
    them, the same mix (Beta(alpha, alpha) weights, CutMix's box, the choice's probabilities; no label
    smoothing, which torchvision leaves to the loss). Anything else is refused by name."""
    if collate_fn is None or collate_fn is default_collate:
        return None
    refuse = UnsupportedArgument("collate_fn", collate_fn, "the default collate, or a function applying a v2 "
                                 "MixUp / CutMix / RandomChoice of them to default_collate(batch)")
    try:
        names = inspect.getclosurevars(collate_fn)
    except TypeError:
        raise refuse from None
    seen = {**names.globals, **names.nonlocals}
    mixes = [v for v in seen.values() if type(v).__name__ in _MIXES and type(v).__module__.startswith("torchvision")]
    if len(mixes) != 1 or default_collate not in seen.values() or len(seen) != 2:
        raise refuse
    chosen = mixes[0].transforms if type(mixes[0]).__name__ == "RandomChoice" else [mixes[0]]
    weights = mixes[0].p if type(mixes[0]).__name__ == "RandomChoice" else [1.0]
    if sorted(type(t).__name__ for t in chosen) not in (["MixUp"], ["CutMix"], ["CutMix", "MixUp"]):
        raise refuse
    alphas = {type(t).__name__: float(t.alpha) for t in chosen}
    cutmix_share = sum(w for t, w in zip(chosen, weights) if type(t).__name__ == "CutMix") / sum(weights)
    return MixUpCutMix(chosen[0].num_classes, mixup_alpha=alphas.get("MixUp", 0.0),
                       cutmix_alpha=alphas.get("CutMix", 0.0), switch_prob=cutmix_share, label_smoothing=0.0)


def _seed_from(seed, generator, name: str) -> int:
    if not isinstance(generator, torch.Generator):
        raise UnsupportedArgument(name, generator, "a torch.Generator")
    if seed is not None and seed != generator.initial_seed():
        raise UnsupportedArgument(name, generator, f"its seed {generator.initial_seed()} and seed={seed} disagree")
    return generator.initial_seed()


def _check_pinning(pin_memory_device: str) -> None:
    if pin_memory_device:
        warnings.warn(f"DataLoader(pin_memory_device={pin_memory_device!r}): batches are pinned for CUDA; where "
                      "they are made is `device`", stacklevel=3)


class CpuFallbackWarning(UserWarning):
    """A dataset whose transform (or loader, or target_transform) has no translation runs as it is, per
    sample on the CPU (the torchvision backend's worker processes): torch DataLoader's speed, not the
    engines'."""


def _source(dataset, preset, train, strict: bool) -> tuple:
    """(the Source, make_loader's train= and preset=) for the dataset."""
    if not (is_torchvision_dataset(dataset) or is_timm_dataset(dataset)):
        if train is None:
            raise UnsupportedArgument("train", None, f"a {type(dataset).__name__} has no torchvision transform to "
                                      "tell training from evaluation: pass train=True or False (and preset=)")
        return resolve_source(dataset), {"train": train, "preset": "imagenet" if preset is None else preset}
    transform = getattr(base_dataset(dataset), "transform", None)
    source = None
    try:
        source = torchvision_source(dataset, resolve_source) if is_torchvision_dataset(dataset) else \
            resolve_source(dataset)
        if preset is None:
            if transform is None:
                raise UnsupportedArgument("dataset", type(dataset).__name__, "it has no transform, so torch's "
                                          "DataLoader would give PIL images; give it one, or preset= and train=")
            translation = from_torchvision(transform, _square_side(source))
            preset, train = translation.preprocess, translation.train if train is None else train
    except UnsupportedArgument:
        raise
    except (ConfigError, SourceError) as err:
        if strict:
            raise
        warnings.warn(f"DataLoader: {err}. The dataset runs as it is, its transform per sample on the CPU in the "
                      "torchvision backend's worker processes: the speed of torch's DataLoader, without DALI or "
                      "the GPU (strict=True makes this an error)", CpuFallbackWarning, stacklevel=3)
        fallback_train = train if train is not None else "Random" in repr(transform) or "Augment" in repr(transform)
        return UserDatasetSource(dataset, like=source), {"train": fallback_train, "preset": "imagenet",
                                                         "backend": "torchvision"}
    return source, {"train": train, "preset": "imagenet" if preset is None else preset}


def _square_side(source) -> int | None:
    """The side of a source's images where all are one square size (CIFAR's arrays), else None."""
    base = getattr(source, "base", source)
    images = getattr(base, "images", None)
    return int(images.shape[1]) if images is not None and images.shape[1] == images.shape[2] else None


def _sampling(sampler, shuffle: bool, seed) -> dict:
    """make_loader's shuffle, seed and sharding (and the subset's indices) for a torch sampler."""
    options: dict = {"shuffle": shuffle, "seed": seed}
    if sampler is None or type(sampler) is SequentialSampler:
        return options
    if type(sampler) is RandomSampler:
        if sampler.replacement or sampler._num_samples is not None:
            raise UnsupportedArgument("sampler", sampler, "RandomSampler without replacement over the whole dataset")
        if sampler.generator is not None:
            options["seed"] = _seed_from(seed, sampler.generator, "sampler.generator")
        return {**options, "shuffle": True}
    if type(sampler) is SubsetRandomSampler:
        if sampler.generator is not None:
            options["seed"] = _seed_from(seed, sampler.generator, "sampler.generator")
        return {**options, "shuffle": True, "indices": list(sampler.indices)}
    if isinstance(sampler, DistributedSampler):
        if seed is not None and seed != sampler.seed:
            raise UnsupportedArgument("sampler", sampler, f"its seed {sampler.seed} and seed={seed} disagree")
        return {"shuffle": sampler.shuffle, "seed": sampler.seed, "shard_id": sampler.rank,
                "num_shards": sampler.num_replicas, "shard_padding": "drop" if sampler.drop_last else "pad"}
    raise UnsupportedArgument("sampler", sampler, "RandomSampler, SequentialSampler, SubsetRandomSampler or "
                              "DistributedSampler; a custom sampler is not provided")
