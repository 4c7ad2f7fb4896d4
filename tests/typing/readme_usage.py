"""A user's training script written from the README's calls. Never run: `mypy` checks it (.ci/run and
tests/test_typing.py), so every public name, field and argument the README shows is one a type
checker and an IDE see."""

from __future__ import annotations

import torch

import dali_pipes
from dali_pipes import (
    PRESETS,
    AutoAugment,
    ColorJitter,
    ConfigError,
    DataLoader,
    EvalTransform,
    GaussianBlur,
    GpuDecoder,
    ImageDecodeError,
    MixUpCutMix,
    Normalize,
    ParquetSource,
    Preprocess,
    RandomErasing,
    RandomGrayscale,
    SourceError,
    StreamedSource,
    TimmAugment,
    TrainTransform,
    Translation,
    from_torchvision,
    make_loader,
)
from dali_pipes.dataloader import Loader
from dali_pipes.timm import create_loader


def train(model: torch.nn.Module, epochs: int) -> None:
    cfg = Preprocess(
        train=TrainTransform(
            size=224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), hflip=0.5,
            color_jitter=ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=0.8),
            auto_augment=AutoAugment("randaugment", num_ops=2, magnitude=9),
            grayscale=RandomGrayscale(p=0.2),
            blur=GaussianBlur(kernel_size=23, sigma=(0.1, 2.0), p=0.5),
            random_erasing=RandomErasing(p=0.25, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0),
        ),
        eval=EvalTransform.from_crop_ratio(224, 0.875),
        normalize=Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), dtype="bfloat16",
                            channels_last=True),
    )
    timm_cfg = Preprocess(train=TrainTransform(timm_augment=TimmAugment("rand-m9-mstd0.5-inc1")))
    per_dataset = PRESETS["imagenet"].with_normalize(Normalize.per_dataset())
    mix = MixUpCutMix(num_classes=1000, mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5,
                      mode="batch", label_smoothing=0.1)
    loader: Loader = make_loader("data/train", train=True, batch_size=256, preset=cfg, mix=mix, seed=0,
                                 backend="auto", num_threads=4, on_error="skip", gpu_decoder=GpuDecoder())
    val = make_loader("data/val", train=False, batch_size=256, preset="imagenet", shard_padding="pad")
    make_loader("data/train", train=True, batch_size=64, preset=timm_cfg)
    make_loader("data/train", train=True, batch_size=64, preset=per_dataset, storage_options={"anon": True})
    hub = ParquetSource("imagenet-1k/data", split="train", window=32)
    make_loader(hub, train=True, batch_size=256, preset="imagenet")
    make_loader(StreamedSource(object(), num_samples=1000), train=True, batch_size=64)
    make_loader("hf://datasets/uoft-cs/cifar10/plain_text/train-*.parquet", train=True, batch_size=128,
                preset="cifar10")
    state = loader.state_dict()
    loader.load_state_dict(state)
    for epoch in range(loader.epoch, epochs):
        loader.set_epoch(epoch)
        for images, soft_targets in loader:
            loss = torch.sum(-soft_targets * torch.log_softmax(model(images), dim=1), dim=1).mean()
            loss.backward()
    print(len(loader), len(val), val.num_padded, loader.skipped, dali_pipes.__version__)
    try:
        create_loader("data/train", input_size=(3, 224, 224), batch_size=128, is_training=True)
    except (ConfigError, ImageDecodeError, SourceError) as err:
        print(err)


def drop_in(dataset, sampler) -> None:
    """The README's one-import swap: torch's DataLoader arguments, and the translation it shows."""
    loader: Loader = DataLoader(dataset, batch_size=256, shuffle=False, sampler=sampler, num_workers=8,
                                pin_memory=True, drop_last=True, persistent_workers=True, backend="dali-cpu")
    for images, target in loader:
        print(images.shape, target.shape)
    translation: Translation = from_torchvision(dataset.transform)
    print(translation.train, translation.preprocess.train.size)
