"""`create_loader` with the signature and meaning of `timm.data.create_loader` (timm >= 1.0), so that
timm's `train.py` trains on dali-pipes with one import changed:

    from dali_pipes.timm import create_loader      # was: from timm.data import create_loader

The preprocessing is what timm's `create_transform` would build from the same arguments
(`Preprocess.from_timm` on the given input size, interpolation, crop_pct, crop_mode, mean, std and
training arguments: timm's RandAugment/AutoAugment strings, jitter rule, erasing, ...); the
dataset's reader gives the samples and labels (its transforms are not used); `collate_fn=`
timm's `FastCollateMixup` or `Mixup` becomes the loader's MixUpCutMix. What has no honest
equivalent raises one ConfigError naming the argument, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from .config import IMAGENET_MEAN, IMAGENET_STD, Normalize, Preprocess
from .errors import ConfigError
from .loader import make_loader, make_scheduled_loader
from .mix import MixUpCutMix

_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
CUDA = torch.device("cuda")  # timm's default device


class TimmLoader:
    """What timm's create_loader returns, as train.py uses it: iterate for `(input, target)`,
    `len`, `sampler` (`set_epoch`), `dataset`, `mixup_enabled` (settable: train.py turns MixUp
    off at `--mixup-off-epoch`), `state_dict` / `load_state_dict` and `close`."""

    def __init__(self, loader, dataset, mixer: MixUpCutMix | None, prefetcher: bool, mixes_itself: bool = False):
        # loader: a Loader, or a ScheduledLoader (input_size_choices)
        self.loader, self._dataset, self._mixer, self.use_prefetcher = loader, dataset, mixer, prefetcher
        self._mixes_itself = mixes_itself  # no_aug: an eval-geometry loader, its batches mixed here

    def __iter__(self):
        if not self._mixes_itself or self._mixer is None:
            return iter(self.loader)
        return (self._mixer(images, labels) for images, labels in self.loader)

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def sampler(self):
        return self.loader.sampler

    @property
    def batch_sampler(self):
        return self.loader.batch_sampler

    @property
    def dataset(self):
        return self._dataset

    @property
    def mixup_enabled(self) -> bool:
        return self._mixer is not None and self._mixer.mixup_enabled

    @mixup_enabled.setter
    def mixup_enabled(self, value: bool) -> None:
        if self._mixer is not None:
            self._mixer.mixup_enabled = bool(value)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def state_dict(self) -> dict:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state)

    def close(self) -> None:
        self.loader.close()

    def __repr__(self) -> str:
        return f"TimmLoader({self.loader!r}, prefetcher={self.use_prefetcher})"


def _refuse(argument: str, why: str):
    raise ConfigError(f"dali_pipes.timm.create_loader: {argument}: {why}")


def _refuse_unsupported(args: TimmLoaderArgs) -> None:
    """The arguments with no honest equivalent, each with its reason."""
    checks = (
        ("num_aug_splits", args.num_aug_splits,
         "AugMix splits (several augmented copies per image) are not provided"),
        ("tf_preprocessing", args.tf_preprocessing, "TF's inference preprocessing is not provided"),
        ("crop_border_pixels", args.crop_border_pixels, "eval crops by crop_pct / crop_mode only"),
        ("train_crop_mode", args.train_crop_mode not in (None, "rrc"),
         "only RandomResizedCrop ('rrc'); timm's resize-keep-ratio crops are not provided"),
        ("num_aug_repeats", args.num_aug_repeats and not (args.distributed and args.is_training),
         "repeated augmentation needs distributed=True and is_training=True (timm's RepeatAugSampler)"),
        ("worker_seeding", callable(args.worker_seeding),
         "a seeding function for DataLoader workers: the loader's numbers come from (seed, epoch, sample) "
         "counters, with no per-worker random state to seed"),
    )
    for argument, refused, why in checks:
        if refused:
            _refuse(argument, why)


def _scheduled_sizes(args: TimmLoaderArgs):
    """(sizes, batch sizes) of timm's scheduled input sizes, refused where timm refuses them; None
    without `input_size_choices`."""
    choices = args.input_size_choices
    if choices is None:
        for name in ("batch_size_choices", "batch_choice_weights", "num_batches"):
            if getattr(args, name) is not None:
                _refuse(name, "only with input_size_choices (timm ignores it without them: pass both)")
        return None
    if not args.is_training:
        _refuse("input_size_choices", "scheduled input sizes are for training loaders only (as timm)")
    if args.use_multi_epochs_loader:
        _refuse("use_multi_epochs_loader", "not with scheduled input sizes (as timm)")
    if not choices:
        _refuse("input_size_choices", "must contain at least one size")
    sizes = [_square(size) for size in choices]
    batch_sizes = args.batch_size_choices
    if batch_sizes is None:
        batch_sizes = [args.batch_size] * len(sizes)
    elif len(batch_sizes) != len(sizes):
        _refuse("batch_size_choices", f"{len(batch_sizes)} batch sizes for {len(sizes)} input sizes")
    weights = args.batch_choice_weights
    if weights is not None and len(weights) != len(sizes):
        _refuse("batch_choice_weights", f"{len(weights)} weights for {len(sizes)} input sizes")
    return sizes, [int(b) for b in batch_sizes]


class TimmBatchShapes:
    """The schedule of batch shapes that timm's own ScheduledBatchSampler makes from the same
    arguments (constant or progressive choice, sample-budget or `num_batches`, its seed, its
    shuffle): sampling.BatchShapes over positions of this rank's order."""

    def __init__(self, args: TimmLoaderArgs, batch_sizes):
        self.options = dict(batch_sizes=batch_sizes, choice_weights=args.batch_choice_weights,
                            seed=args.batch_choice_seed, drop_last=True, num_batches=args.num_batches,
                            choice_schedule=args.batch_choice_schedule,
                            schedule_epochs=args.batch_schedule_epochs,
                            schedule_spread=args.batch_schedule_spread,
                            schedule_random_mix=args.batch_schedule_random_mix)
        self._samplers: dict[int, object] = {}

    def _sampler(self, n: int):
        if n not in self._samplers:
            try:
                from timm.data.scheduled_sampler import ScheduledBatchSampler
            except ImportError:
                import timm

                _refuse("input_size_choices", f"scheduled sizes need timm's ScheduledBatchSampler (timm >= 1.0.29); "
                        f"timm {timm.__version__} is installed")
            try:
                self._samplers[n] = ScheduledBatchSampler(_Positions(n), **self.options)
            except (ValueError, TypeError) as err:
                raise ConfigError(f"dali_pipes.timm.create_loader: scheduled batches: {err}") from None
        return self._samplers[n]

    def __call__(self, epoch: int, n: int):
        sampler = self._sampler(n)  # (ScheduledPlan keeps what it returns, epoch by epoch)
        sampler.set_epoch(epoch)
        return tuple((batch[0][1], [p for p, _ in batch]) for batch in sampler)


class _Positions:
    """A sampler of positions 0..n-1 that counts on when timm cycles it (n..2n-1, ...)."""

    def __init__(self, n: int):
        self.n, self.passes = n, 0

    def set_epoch(self, epoch: int) -> None:
        self.passes = 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        start, self.passes = self.passes * self.n, self.passes + 1
        return iter(range(start, start + self.n))


def _square(input_size) -> int:
    if isinstance(input_size, int):
        return input_size
    size = tuple(input_size)
    if len(size) == 3:
        if size[0] != 3:
            _refuse("input_size", f"{size[0]} channels; RGB (3) only")
        size = size[1:]
    if len(size) != 2 or size[0] != size[1]:
        _refuse("input_size", f"{input_size!r} is not square; dali-pipes crops squares")
    return int(size[0])


def _mixer(collate_fn, num_classes_hint: int | None) -> MixUpCutMix | None:
    """timm's FastCollateMixup / Mixup read into a MixUpCutMix (its settings, its mode)."""
    if collate_fn is None:
        return None
    names = {c.__name__ for c in type(collate_fn).__mro__}
    if not names & {"Mixup", "FastCollateMixup"}:
        _refuse("collate_fn", f"{type(collate_fn).__name__}: only timm's FastCollateMixup / Mixup are read "
                "(the loader collates batches itself)")
    if getattr(collate_fn, "mode", "batch") not in ("batch", "pair", "elem"):
        _refuse("collate_fn", f"Mixup mode {collate_fn.mode!r}")
    num_classes = getattr(collate_fn, "num_classes", None) or num_classes_hint
    mixer = MixUpCutMix(num_classes=int(num_classes), mixup_alpha=collate_fn.mixup_alpha,
                        cutmix_alpha=collate_fn.cutmix_alpha, prob=collate_fn.mix_prob,
                        switch_prob=collate_fn.switch_prob, mode=collate_fn.mode,
                        label_smoothing=collate_fn.label_smoothing, cutmix_minmax=collate_fn.cutmix_minmax)
    mixer.mixup_enabled = bool(getattr(collate_fn, "mixup_enabled", True))
    return mixer


def _preprocess(args: TimmLoaderArgs, size: int) -> Preprocess:
    """timm's transform for these arguments, as a Preprocess (Preprocess.from_timm's mapping).
    `no_aug` training is timm's transforms_noaug_train: Resize(size) + CenterCrop(size), no erasing,
    bilinear where 'random' was asked (timm's rule), i.e. an eval geometry."""
    if args.no_aug and args.is_training:
        args = replace(args, is_training=False, crop_pct=1.0, crop_mode="center",
                       interpolation="bilinear" if args.interpolation == "random" else args.interpolation)
    config = {"input_size": (3, size, size), "interpolation": args.interpolation,
              "mean": tuple(args.mean), "std": tuple(args.std),
              "crop_pct": args.crop_pct or 0.875, "crop_mode": args.crop_mode or "center"}
    train_args = {}
    if args.is_training:
        train_args = {"hflip": args.hflip, "color_jitter": args.color_jitter,
                      "color_jitter_prob": args.color_jitter_prob, "grayscale_prob": args.grayscale_prob,
                      "gaussian_blur_prob": args.gaussian_blur_prob, "auto_augment": args.auto_augment,
                      "re_prob": args.re_prob, "re_mode": args.re_mode,
                      "train_interpolation": args.interpolation}
        train_args.update({k: tuple(getattr(args, k)) for k in ("scale", "ratio") if getattr(args, k) is not None})
        # from_timm names what it refuses: pass these only when they ask for something
        train_args.update({k: getattr(args, k) for k, off in (("vflip", 0.0), ("re_count", 1), ("re_split", False))
                           if getattr(args, k) != off})
        if config["interpolation"] == "random":  # the eval half of the data config needs one filter
            config["interpolation"] = "bilinear"
    try:
        cfg = Preprocess.from_timm(config, **train_args)
    except ConfigError as err:
        raise ConfigError(f"dali_pipes.timm.create_loader: {err}") from None
    if not args.use_prefetcher:  # timm's transforms end in float32 tensors; img_dtype is the prefetcher's
        return cfg
    dtype = "float16" if args.fp16 else _DTYPES.get(args.img_dtype)
    if dtype is None:
        _refuse("img_dtype", f"{args.img_dtype}: float32, float16 or bfloat16")
    return cfg.with_normalize(Normalize(cfg.normalize.mean, cfg.normalize.std, dtype=dtype))


@dataclass(frozen=True)
class TimmLoaderArgs:
    """`create_loader`'s arguments but the dataset, with timm's names and defaults: built once, read by
    name (tests/test_timm_loader.py holds it equal to the signature)."""

    input_size: Any
    batch_size: int
    is_training: bool = False
    no_aug: bool = False
    re_prob: float = 0.
    re_mode: str = "const"
    re_count: int = 1
    re_split: bool = False
    train_crop_mode: str | None = None
    scale: Any = None
    ratio: Any = None
    hflip: float = 0.5
    vflip: float = 0.
    color_jitter: Any = 0.4
    color_jitter_prob: float | None = None
    grayscale_prob: float = 0.
    gaussian_blur_prob: float = 0.
    auto_augment: str | None = None
    num_aug_repeats: int = 0
    num_aug_splits: int = 0
    interpolation: str = "bilinear"
    mean: Any = IMAGENET_MEAN
    std: Any = IMAGENET_STD
    num_workers: int = 1
    distributed: bool = False
    crop_pct: float | None = None
    crop_mode: str | None = None
    crop_border_pixels: int | None = None
    collate_fn: Any = None
    pin_memory: bool = False
    fp16: bool = False
    img_dtype: torch.dtype = torch.float32
    device: torch.device = CUDA
    use_prefetcher: bool = True
    use_multi_epochs_loader: bool = False
    persistent_workers: bool = True
    worker_seeding: Any = "all"
    tf_preprocessing: bool = False
    input_size_choices: Any = None
    batch_size_choices: Any = None
    batch_choice_weights: Any = None
    batch_choice_seed: int = 0
    batch_choice_schedule: str = "constant"
    batch_schedule_epochs: int | None = None
    batch_schedule_spread: float = 0.65
    batch_schedule_random_mix: float = 0.1
    num_batches: int | None = None
    backend: str = "auto"
    seed: int | None = None


def create_loader(
        dataset,
        input_size,
        batch_size: int,
        is_training: bool = False,
        no_aug: bool = False,
        re_prob: float = 0.,
        re_mode: str = 'const',
        re_count: int = 1,
        re_split: bool = False,
        train_crop_mode: str | None = None,
        scale=None,
        ratio=None,
        hflip: float = 0.5,
        vflip: float = 0.,
        color_jitter=0.4,
        color_jitter_prob: float | None = None,
        grayscale_prob: float = 0.,
        gaussian_blur_prob: float = 0.,
        auto_augment: str | None = None,
        num_aug_repeats: int = 0,
        num_aug_splits: int = 0,
        interpolation: str = 'bilinear',
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        num_workers: int = 1,
        distributed: bool = False,
        crop_pct: float | None = None,
        crop_mode: str | None = None,
        crop_border_pixels: int | None = None,
        collate_fn=None,
        pin_memory: bool = False,
        fp16: bool = False,
        img_dtype: torch.dtype = torch.float32,
        device: torch.device = CUDA,
        use_prefetcher: bool = True,
        use_multi_epochs_loader: bool = False,
        persistent_workers: bool = True,
        worker_seeding='all',
        tf_preprocessing: bool = False,
        input_size_choices=None,
        batch_size_choices=None,
        batch_choice_weights=None,
        batch_choice_seed: int = 0,
        batch_choice_schedule: str = 'constant',
        batch_schedule_epochs: int | None = None,
        batch_schedule_spread: float = 0.65,
        batch_schedule_random_mix: float = 0.1,
        num_batches: int | None = None,
        *,
        backend: str = "auto",
        seed: int | None = None,
) -> TimmLoader:
    """timm's `create_loader`, on dali-pipes. `dataset`: timm's ImageDataset (`create_dataset`:
    folder, tar or HF reader), or anything `make_loader` reads (a path, a `datasets.Dataset`, ...).

    `use_prefetcher=True` (train.py's default): normalized batches on `device` in `img_dtype`, as
    timm's PrefetchLoader yields them; False: normalized float32 batches on the CPU, as timm's
    DataLoader collates them. Either way normalization and erasing (timm's prefetcher or transform
    steps) are done. `num_workers`: DALI's threads or the torchvision backend's workers.
    `distributed=True`: this rank's share (torchrun's RANK / WORLD_SIZE), train and eval (eval pads,
    as timm's OrderedDistributedSampler); False reads everything, even under torchrun.
    `input_size_choices` (+ `batch_size_choices`, `batch_choice_*`, `batch_schedule_*`,
    `num_batches`): scheduled sizes, the batch shapes made by timm's own ScheduledBatchSampler, one
    pipeline per size (dali_pipes.scheduled).
    `pin_memory`, `persistent_workers`, `use_multi_epochs_loader` change nothing here (the loader
    keeps its pipeline and stages its own batches). `backend` and `seed` are dali-pipes' own
    (keyword-only: timm has neither).
    """
    args = TimmLoaderArgs(
        input_size=input_size, batch_size=batch_size, is_training=is_training, no_aug=no_aug, re_prob=re_prob,
        re_mode=re_mode, re_count=re_count, re_split=re_split, train_crop_mode=train_crop_mode, scale=scale,
        ratio=ratio, hflip=hflip, vflip=vflip, color_jitter=color_jitter, color_jitter_prob=color_jitter_prob,
        grayscale_prob=grayscale_prob, gaussian_blur_prob=gaussian_blur_prob, auto_augment=auto_augment,
        num_aug_repeats=num_aug_repeats, num_aug_splits=num_aug_splits, interpolation=interpolation, mean=mean,
        std=std, num_workers=num_workers, distributed=distributed, crop_pct=crop_pct, crop_mode=crop_mode,
        crop_border_pixels=crop_border_pixels, collate_fn=collate_fn, pin_memory=pin_memory, fp16=fp16,
        img_dtype=img_dtype, device=device, use_prefetcher=use_prefetcher,
        use_multi_epochs_loader=use_multi_epochs_loader, persistent_workers=persistent_workers,
        worker_seeding=worker_seeding, tf_preprocessing=tf_preprocessing, input_size_choices=input_size_choices,
        batch_size_choices=batch_size_choices, batch_choice_weights=batch_choice_weights,
        batch_choice_seed=batch_choice_seed, batch_choice_schedule=batch_choice_schedule,
        batch_schedule_epochs=batch_schedule_epochs, batch_schedule_spread=batch_schedule_spread,
        batch_schedule_random_mix=batch_schedule_random_mix, num_batches=num_batches, backend=backend, seed=seed)
    _refuse_unsupported(args)
    scheduled = _scheduled_sizes(args)
    size = _square(input_size)
    from .sources import resolve_source

    resolved = resolve_source(dataset)
    mixer = _mixer(collate_fn, len(resolved.classes)) if is_training else None
    no_aug = no_aug and is_training  # timm's no-aug training: the eval geometry, shuffled, batches still mixed
    target = torch.device(device) if use_prefetcher else torch.device("cpu")
    if target.type == "cuda" and not torch.cuda.is_available():
        _refuse("device", f"{target}: CUDA is not available here (train.py passes the device it runs on)")
    options = dict(train=is_training and not no_aug, backend=backend, seed=seed, shuffle=is_training,
                   drop_last=is_training, num_threads=max(1, num_workers), device=target,
                   mix=None if no_aug else mixer, aug_repeats=num_aug_repeats if is_training else 0,
                   **({} if distributed else {"shard_id": 0, "num_shards": 1}))
    if scheduled is None:
        loader = make_loader(resolved, batch_size=batch_size, preset=_preprocess(args, size), **options)
    else:
        sizes, batch_sizes = scheduled
        loader = make_scheduled_loader(resolved, presets=[_preprocess(args, s) for s in sizes],
                                       batch_sizes=batch_sizes, shapes=TimmBatchShapes(args, batch_sizes),
                                       **options)
    return TimmLoader(loader, dataset, mixer, use_prefetcher, mixes_itself=no_aug)
