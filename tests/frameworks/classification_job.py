"""The data code of two real clients with one import changed (`from dali_pipes import DataLoader`):
pytorch/examples' imagenet/main.py ("examples") and torchvision's references/classification/train.py
("references"): their datasets, transforms, samplers, DataLoader arguments, set_epoch calls, the
distributed validation's leftover Subset, the MixUp/CutMix collate; a tiny model trains two epochs.
Run single process or under torchrun (gloo); each rank writes what it saw to OUT/rank{R}.json.

    python classification_job.py DATA OUT

A transform that fell back to running as it is (CpuFallbackWarning) fails the job: these translate.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torchvision
from torch.utils.data import Subset, default_collate
from torchvision import datasets
from torchvision import transforms as T
from torchvision.transforms import v2

from dali_pipes import CpuFallbackWarning, DataLoader

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CROP, RESIZE = 32, 40


class PresetTrain:
    """references/classification/presets.py's ClassificationPresetTrain (pil backend, v1): its ops."""

    def __init__(self, crop_size, interpolation=T.InterpolationMode.BILINEAR, auto_augment_policy=None,
                 random_erase_prob=0.0):
        ops = [T.RandomResizedCrop(crop_size, interpolation=interpolation, antialias=True), T.RandomHorizontalFlip(0.5)]
        if auto_augment_policy == "ta_wide":
            ops.append(T.TrivialAugmentWide(interpolation=interpolation))
        ops += [T.PILToTensor(), T.ConvertImageDtype(torch.float), T.Normalize(mean=MEAN, std=STD)]
        if random_erase_prob > 0:
            ops.append(T.RandomErasing(p=random_erase_prob))
        self.transforms = T.Compose(ops)

    def __call__(self, img):
        return self.transforms(img)


class PresetEval:
    """ClassificationPresetEval: Resize, CenterCrop, PILToTensor, ConvertImageDtype, Normalize."""

    def __init__(self, crop_size, resize_size):
        self.transforms = T.Compose([T.Resize(resize_size, antialias=True), T.CenterCrop(crop_size), T.PILToTensor(),
                                     T.ConvertImageDtype(torch.float), T.Normalize(mean=MEAN, std=STD)])

    def __call__(self, img):
        return self.transforms(img)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = torch.tensor(STD).view(1, 3, 1, 1) * 255  # back to pixel levels
    mse = float(((a - b) * scale).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def compare(loader, reference, report: dict) -> None:
    """Our evaluation batches against torch's DataLoader's: the same labels, every image >= the PSNR kept."""
    for (images, target), (ref_images, ref_target) in zip(loader, reference, strict=True):
        assert torch.equal(target, ref_target)
        report["val_psnr"] = min([report["val_psnr"]] + [psnr(a[None], b[None]) for a, b in zip(images, ref_images)])
        report["val_labels"] += target.tolist()


def fit(classes: int, loader, sampler, soft: bool, momentum: float = 0.0) -> list[tuple[int, int]]:
    """Two epochs of a tiny model (DDP when distributed), the scripts' `sampler.set_epoch` before
    each: (batches, samples) per epoch."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, classes))
    if dist.is_initialized():
        model = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), 0.01, momentum=momentum)
    epochs = []
    for epoch in range(2):
        if isinstance(sampler, torch.utils.data.distributed.DistributedSampler):
            sampler.set_epoch(epoch)
        epochs.append(train_epoch(model, optimizer, loader, soft=soft))
    return epochs


def train_epoch(model, optimizer, loader, soft: bool) -> tuple[int, int]:
    batches = samples = 0
    for images, target in loader:
        output = model(images)
        loss = torch.nn.functional.cross_entropy(output, target)  # soft targets under MixUp/CutMix
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert target.dim() == (2 if soft else 1)
        batches, samples = batches + 1, samples + images.size(0)
    return batches, samples


def examples(data: Path, distributed: bool, world: int) -> dict:
    """pytorch/examples imagenet/main.py's data section and loops."""
    normalize = T.Normalize(mean=list(MEAN), std=list(STD))
    train_dataset = datasets.ImageFolder(data / "train", T.Compose([
        T.RandomResizedCrop(CROP), T.RandomHorizontalFlip(), T.ToTensor(), normalize]))
    val_dataset = datasets.ImageFolder(data / "val", T.Compose([
        T.Resize(RESIZE), T.CenterCrop(CROP), T.ToTensor(), normalize]))
    if distributed:
        train_sampler = torch.utils.data.distributed.DistributedSampler(train_dataset)
        val_sampler = torch.utils.data.distributed.DistributedSampler(val_dataset, shuffle=False, drop_last=True)
    else:
        train_sampler = val_sampler = None
    train_loader = DataLoader(train_dataset, batch_size=4, shuffle=(train_sampler is None), num_workers=2,
                              pin_memory=True, sampler=train_sampler)
    val_loader = DataLoader(val_dataset, batch_size=4, shuffle=False, num_workers=2, pin_memory=True,
                            sampler=val_sampler)
    reference = torch.utils.data.DataLoader(val_dataset, batch_size=4, shuffle=False, sampler=val_sampler)
    report = {"train": fit(len(train_dataset.classes), train_loader, train_sampler, soft=False, momentum=0.9),
              "val_psnr": math.inf, "val_labels": [], "aux_labels": []}
    with torch.no_grad():
        compare(val_loader, reference, report)
        if distributed and len(val_loader.sampler) * world < len(val_loader.dataset):
            leftover = range(len(val_loader.sampler) * world, len(val_loader.dataset))
            aux_val_dataset = Subset(val_loader.dataset, leftover)
            aux_val_loader = DataLoader(aux_val_dataset, batch_size=4, shuffle=False, num_workers=2, pin_memory=True)
            report["aux_labels"] = [y for _, target in aux_val_loader for y in target.tolist()]
    report["val_sampler_len"], report["val_dataset_len"] = len(val_loader.sampler), len(val_loader.dataset)
    report["train_len"] = len(train_loader)
    return report


def references(data: Path, distributed: bool, world: int) -> dict:
    """torchvision's references/classification/train.py: load_data's datasets and samplers, main's
    MixUp/CutMix collate (the v2 ones, torchvision's current recipe) and loaders."""
    preset = PresetTrain(CROP, auto_augment_policy="ta_wide", random_erase_prob=0.25)
    dataset = torchvision.datasets.ImageFolder(data / "train", preset)
    dataset_test = torchvision.datasets.ImageFolder(data / "val", PresetEval(CROP, RESIZE))
    if distributed:
        train_sampler = torch.utils.data.distributed.DistributedSampler(dataset)
        test_sampler = torch.utils.data.distributed.DistributedSampler(dataset_test, shuffle=False)
    else:
        train_sampler = torch.utils.data.RandomSampler(dataset)
        test_sampler = torch.utils.data.SequentialSampler(dataset_test)
    num_classes = len(dataset.classes)
    mixupcutmix = v2.RandomChoice([v2.MixUp(alpha=0.2, num_classes=num_classes),
                                   v2.CutMix(alpha=1.0, num_classes=num_classes)])

    def collate_fn(batch):
        return mixupcutmix(*default_collate(batch))

    data_loader = DataLoader(dataset, batch_size=4, sampler=train_sampler, num_workers=2, pin_memory=True,
                             collate_fn=collate_fn)
    data_loader_test = DataLoader(dataset_test, batch_size=4, sampler=test_sampler, num_workers=2, pin_memory=True)
    reference = torch.utils.data.DataLoader(dataset_test, batch_size=4, sampler=test_sampler)
    report = {"train": fit(num_classes, data_loader, train_sampler, soft=True),
              "val_psnr": math.inf, "val_labels": []}
    with torch.no_grad():
        compare(data_loader_test, reference, report)
    report["train_len"] = len(data_loader)
    train_cfg = data_loader.preprocess.train
    report["translated"] = [train_cfg.auto_augment.policy, train_cfg.auto_augment.interpolation,
                            train_cfg.random_erasing.p, data_loader.mix.switch_prob]
    return report


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    warnings.simplefilter("error", CpuFallbackWarning)
    distributed = "RANK" in os.environ
    rank, world = 0, 1
    if distributed:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    report = {client.__name__: client(data, distributed, world) for client in (examples, references)}
    report["rank"], report["world"] = rank, world
    (out / f"rank{rank}.json").write_text(json.dumps(report))
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
