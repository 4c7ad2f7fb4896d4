"""`make_loader`: the one entry point. Validates at the edge, then joins a source, an engine, the
output stage and the loader's state into a `Loader`."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import replace

import numpy as np
import torch

from .backend import resolve_backend
from .config import GpuDecoder, Preprocess, resolve_preset
from .constants import READ_AHEAD_BYTES
from .dataloader import Loader
from .distributed import detect_shard, shared_seed
from .errors import ConfigError
from .mix import MixUpCutMix
from .options import LoaderOptions, check_positive
from .output import OutputStage
from .resamplers import resolve_resampler
from .sampling import EpochPlan, RowGroupPlan, ScheduledPlan, check_sharding
from .scheduled import ScheduledLoader
from .skips import SkipLog
from .sources import resolve_source
from .sources.header import DEFAULT_MAX_PIXELS
from .state import LoaderState
from .stats import cached_stats

log = logging.getLogger("dali_pipes")

def default_num_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def make_loader(
    source,
    *,
    train: bool,
    batch_size: int,
    backend: str = "auto",
    preset: str | Preprocess = "imagenet",
    seed: int | None = None,
    shuffle: bool | None = None,
    drop_last: bool = False,
    num_threads: int | None = None,
    device: torch.device | str | None = None,
    prefetch: int = 2,
    image_column: str | None = None,
    label_column: str | None = None,
    unlabeled: bool = False,
    mix: MixUpCutMix | None = None,
    shard_id: int | None = None,
    num_shards: int | None = None,
    shard_padding: str = "pad",
    on_error: str = "raise",
    resampler: str = "auto",
    gpu_decoder: GpuDecoder | None = None,
    storage_options: dict | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    read_threads: int | None = None,
    read_ahead_bytes: int = READ_AHEAD_BYTES,
    aug_repeats: float = 0,
    pin_memory: bool = False,
) -> Loader:
    """A drop-in replacement for `torch.utils.data.DataLoader` over an image-classification source.

    Iterating yields `(images, labels)`: images `(B, 3, S, S)` normalized as the preset says, labels
    int64 `(B,)`, on the GPU for the `dali-gpu` backend and on `device` (default CPU) otherwise.
    `shuffle` defaults to `train`; the order of an epoch depends only on `(seed, epoch)`.

    `source`: an ImageFolder path, a saved HF dataset path, a folder of WebDataset shards, a
    `datasets.Dataset` (`image_column`/`label_column` override the detected schema; `unlabeled=True`
    admits a split whose labels are -1), an `(images_uint8_NHWC, labels)` pair, or a Source such as
    `CocoSource` (multi-label: labels are float32 multi-hot `(B, K)`).

    `mix`: a `MixUpCutMix` applied to every training batch; the loader then yields soft targets.

    Distributed: under torch.distributed (or torchrun's RANK / WORLD_SIZE) the loader reads this
    rank's share of one global permutation per epoch; `shard_id` / `num_shards` override. Every rank
    yields the same number of batches: `shard_padding="pad"` repeats at most one sample per rank
    (`loader.num_padded` says how many of this rank's last samples are repeats, for exact eval
    metrics), `"drop"` leaves out at most `num_shards - 1` samples per epoch.

    `on_error`: `"raise"` (an unreadable image raises ImageDecodeError naming it) or `"skip"` (it is
    left out of its batch with a SkippedImageWarning naming it, counted at the end of each epoch in
    `loader.skipped_last_epoch`; `loader.skipped` lists every one met). `len` counts the planned
    batches: a batch left with no readable sample is left out of the epoch, the only case in which
    an epoch yields fewer batches than `len`.

    `resampler` (DALI backends): `"auto"` resizes with torchvision's own kernel inside DALI's CPU graph
    (faster there than DALI's, and pixel-equal to the torchvision backend) and with DALI's `fn.resize`
    on the GPU; `"dali"` forces `fn.resize` on the CPU too (what the GPU runs); `"torch"` is the CPU's.

    `gpu_decoder`: a `GpuDecoder` (dali-gpu's decoder memory and hardware-decoder options; default:
    NVIDIA's ResNet-50 example's).

    `source` may be a URL (`s3://bucket/prefix/`, `gs://...`, `https://...`, any fsspec protocol)
    holding shards, an ImageFolder tree or a saved HF dataset; `storage_options` are fsspec's
    (credentials, `{"client_kwargs": {"endpoint_url": ...}}` for S3-compatible stores), default:
    the environment's credentials. See docs/usage.md, "Object storage".

    `max_pixels`: an encoded image whose header claims more pixels is refused before it is decoded
    (ImageDecodeError naming the file and its size; skipped under `on_error="skip"`); default PIL's
    limit (178,956,970), None turns it off.

    `aug_repeats` (train): repeated augmentation as timm's RepeatAugSampler (DeiT's `--aug-repeats 3`):
    each sample this many times per epoch, the copies on different ranks with different augmentations
    (dali_pipes.sampling says how many each rank takes); 0 is off.

    `pin_memory`: batches that stay on the CPU come in page-locked memory, for fast non-blocking
    copies to the GPU (torch DataLoader's `pin_memory`); without CUDA a warning, as torch's.

    `read_threads`, `read_ahead_bytes` (DALI backends): the coming batches are read by this many
    threads at once (default: 8 per core, 32 to 64) and prepared off the training thread, holding at
    most this many bytes ahead (default 256 MiB). The torchvision backend's workers read ahead by
    `prefetch_factor` batches instead, each reading a batch's files on `read_threads` threads where
    storage is slow.
    """
    options = LoaderOptions(
        train=train, batch_size=batch_size, backend=backend, preset=preset, seed=seed, shuffle=shuffle,
        drop_last=drop_last, num_threads=num_threads, device=device, prefetch=prefetch, image_column=image_column,
        label_column=label_column, unlabeled=unlabeled, mix=mix, shard_id=shard_id, num_shards=num_shards,
        shard_padding=shard_padding, on_error=on_error, resampler=resampler, gpu_decoder=gpu_decoder,
        storage_options=storage_options, max_pixels=max_pixels, read_threads=read_threads,
        read_ahead_bytes=read_ahead_bytes, aug_repeats=aug_repeats, pin_memory=pin_memory)
    cfg = resolve_preset(options.preset)
    choice, src, plan, shard_source = _plan(source, options, cfg)
    _check_mix(options.mix, {len(b) for b in plan.batches(0)}, src)
    if cfg.normalize.is_per_dataset:  # the one expensive pass (cached): after every check
        cfg = _with_dataset_statistics(cfg, src)
    loader = _build(options, src, cfg, plan, choice)
    log.info("dali-pipes backend: %s (%s); %d samples, %d batches of %d; shard %d of %d (%s)", loader.backend,
             choice.reason, len(src), len(loader), batch_size, plan.shard_id, plan.num_shards, shard_source)
    return loader


def make_scheduled_loader(source, *, presets, batch_sizes, shapes, **options) -> ScheduledLoader:
    """A training loader whose batches follow a schedule of input sizes and batch sizes (timm's
    `input_size_choices`, dali_pipes.timm): choice `k` preprocesses with `presets[k]` in batches
    of `batch_sizes[k]`; `shapes` (sampling.BatchShapes) says which samples form each batch and
    its choice. Every other argument means what it means to `make_loader`; one loader per choice
    runs its batches, all reading one order of the samples."""
    if len(presets) != len(batch_sizes) or not presets:
        raise ValueError(f"one batch size per preset: {len(presets)} presets, {len(batch_sizes)} batch sizes")
    for b in batch_sizes:
        check_positive("batch_sizes", b)
    opts = LoaderOptions(batch_size=max(batch_sizes), preset=presets[0], **options)
    cfgs = [resolve_preset(p) for p in presets]
    choice, src, base, _ = _plan(source, opts, cfgs[0])
    plan = ScheduledPlan(replace(base, batch_size=1, drop_last=False), tuple(batch_sizes), shapes)
    _check_mix(opts.mix, set(batch_sizes), src)
    if cfgs[0].normalize.is_per_dataset:
        cfgs = [_with_dataset_statistics(cfg, src) for cfg in cfgs]
    loaders = [_build(opts, src, cfg, plan.choice(k), choice) for k, cfg in enumerate(cfgs)]
    log.info("dali-pipes backend: %s (%s); %d samples, %d scheduled batches of %s",
             loaders[0].backend, choice.reason, len(src), len(plan.choices(0)), list(batch_sizes))
    return ScheduledLoader(loaders)


def _plan(source, options: LoaderOptions, cfg: Preprocess):
    """(backend choice, source, epoch plan, where the shard came from) from make_loader's options."""
    choice = resolve_backend(options.backend, options.device, cfg.train if options.train else None)
    shard, shards, shard_source = detect_shard(options.shard_id, options.num_shards)
    check_sharding(shard, shards, options.shard_padding)
    src = resolve_source(source, **options.source_options())
    seed = shared_seed(shards, random=options.train or options.shuffled) if options.seed is None else options.seed
    if getattr(src, "sequential", False):  # a stream: its own order and division among ranks
        return choice, src, _stream_plan(src, options, seed, shard, shards), shard_source
    if len(src) == 0:
        raise ValueError(f"source {src!r} has no samples")
    plan = EpochPlan(
        num_samples=len(src),
        batch_size=options.batch_size,
        shuffle=options.shuffled,
        drop_last=options.drop_last,
        seed=seed,
        shard_id=shard,
        num_shards=shards,
        padding=options.shard_padding,
        repeats=options.aug_repeats,
    )
    if getattr(src, "row_groups", None) is not None and not plan.repeats:  # parquet: read by row groups
        plan = RowGroupPlan.of(plan, src.row_groups, src.window)
    return choice, src, plan, shard_source


def _stream_plan(src, options: LoaderOptions, seed: int, shard: int, shards: int) -> EpochPlan:
    """The plan of a stream (sources.stream): this rank's positions in order; the stream shuffles
    and divides itself. The augmentation seeds differ by rank (every rank has a position k)."""
    if options.aug_repeats:
        raise ValueError("repeated augmentation (aug_repeats) deals each sample's copies to different ranks, which a "
                         "stream read through its own iteration cannot")
    share = src.bind(shard, shards, options.shard_padding, seed=seed, shuffle=options.shuffled)
    if share == 0:
        raise ValueError(f"source {src!r} has no samples for rank {shard} of {shards}")
    rank_seed = int(np.random.default_rng([seed, shard]).integers(0, 2**62))
    return EpochPlan(share, options.batch_size, shuffle=False, drop_last=options.drop_last, seed=rank_seed)


def _build(options: LoaderOptions, src, cfg: Preprocess, plan, choice) -> Loader:
    """The loader of one plan: its state, engine and output stage."""
    resampler = resolve_resampler(options.resampler, choice.name)
    threads = options.num_threads or default_num_threads()
    state = LoaderState(plan, seed_was_drawn=options.seed is None)
    transformed = getattr(src, "transformed", False)  # a dataset that runs its own transform
    if transformed and choice.name != "torchvision":
        raise ConfigError(f"{src!r} runs its own transform per sample: the torchvision backend only, not {choice.name}")
    pin = options.pin_memory and torch.cuda.is_available()
    if options.pin_memory and not pin:
        warnings.warn("pin_memory=True: no accelerator is found, pinned memory is not used", stacklevel=3)
    skips, output = SkipLog(), OutputStage(cfg, options.train, options.mix, keep_dtype=transformed, pin_memory=pin)
    if choice.name == "torchvision":
        from .tv.engine import TorchvisionEngine

        engine = TorchvisionEngine(src, cfg, state, skips, output, options, device=choice.device,
                                   num_workers=threads)
    else:
        from .dali.engine import DaliEngine

        engine = DaliEngine(src, cfg, state, skips, options, device=choice.device, num_threads=threads,
                            resampler=resampler)
    return Loader(src, cfg, state, engine, output, skips, options, device=choice.device,
                  backend_reason=choice.reason)


def _with_dataset_statistics(cfg: Preprocess, source) -> Preprocess:
    """Resolve `Normalize.per_dataset()` into the source's exact (cached) mean and std."""
    stats = cached_stats(source)
    log.info("dali-pipes: per-dataset normalization mean=%s std=%s", stats.mean, stats.std)
    return cfg.with_normalize(replace(cfg.normalize, mean=stats.mean, std=stats.std))


def _check_mix(mix, batch_sizes: set[int], source) -> None:
    """What the mix needs of this source's labels and batches (checked once, here)."""
    if mix is None:
        return
    targets = source.targets
    if targets.ndim == 2 and targets.shape[1] != mix.num_classes:
        raise ValueError(f"mix: {mix!r} mixes {mix.num_classes} classes; the source's multi-hot labels have "
                         f"{targets.shape[1]}")
    if targets.ndim == 1 and targets.size:
        if targets.min() < 0:
            raise ValueError("mix: the source has unlabeled samples (label -1); MixUp/CutMix needs labels")
        if targets.max() >= mix.num_classes:
            raise ValueError(f"mix: MixUpCutMix(num_classes={mix.num_classes}); the source has labels up to "
                             f"{int(targets.max())} ({len(source.classes)} classes)")
    if mix.mode == "pair":
        odd = sorted(s for s in batch_sizes if s % 2)
        if odd:
            raise ValueError(f"mix mode 'pair' needs even batches; this loader yields batches of {odd} "
                             "(use an even batch_size, and drop_last=True if the last batch is odd)")
