"""Shared fixtures: tiny, odd-sized images whose uniform colour encodes their identity.

A uniform image stays uniform under every crop, resize and flip, so after any train or eval
transform the mean colour of an output tells which sample it came from: the tests can check
"every sample exactly once", labels and order without trusting the code under test.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dali_pipes import IMAGENET_MEAN, IMAGENET_STD

CPU_BACKENDS = ["dali-cpu", "torchvision"]
ODD_SIZES = [(17, 11), (11, 17), (40, 61), (64, 64), (23, 301), (301, 23), (250, 333), (7, 9)]


def identity_colour(identity: int) -> tuple[int, int, int]:
    return (8 * (identity % 32) + 4, 8 * (identity // 32) + 4, 132)


def write_image(path: Path, colour, size, fmt: str | None = None) -> None:
    h, w = size
    image = Image.fromarray(np.full((h, w, 3), colour, dtype=np.uint8))
    fmt = fmt or {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WEBP"}[path.suffix.lower()]
    image.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))


def make_identity_folder(root: Path, class_sizes: dict[str, int], exts=(".png", ".jpg")) -> dict[int, int]:
    """Write ROOT/CLASS/ID.EXT images; returns identity -> class index (sorted class names)."""
    identity_to_class = {}
    identity = 0
    for class_index, name in enumerate(sorted(class_sizes)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for _ in range(class_sizes[name]):
            ext = exts[identity % len(exts)]
            write_image(root / name / f"{identity:04d}{ext}", identity_colour(identity),
                        ODD_SIZES[identity % len(ODD_SIZES)])
            identity_to_class[identity] = class_index
            identity += 1
    return identity_to_class


def unnormalize(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Back to 0..255 pixel levels (float64), on the CPU."""
    images = images.detach().to("cpu", torch.float64)
    m = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
    return (images * s + m) * 255.0


def read_identities(images: torch.Tensor, **norm) -> list[int]:
    """The identity of each image in a normalized batch, from the mean colour of its central half
    (the border may be zero padding from a pad-and-crop)."""
    h, w = images.shape[-2:]
    pixels = unnormalize(images, **norm)[:, :, h // 4: h - h // 4, w // 4: w - w // 4].mean(dim=(2, 3))
    low = torch.round((pixels[:, 0] - 4) / 8)
    high = torch.round((pixels[:, 1] - 4) / 8)
    return (high * 32 + low).long().tolist()


def collect(loader, **norm):
    """(identities, labels, batch sizes) of one epoch, read from the pixels."""
    identities, labels, sizes = [], [], []
    for images, target in loader:
        identities += read_identities(images, **norm)
        labels += target.tolist()
        sizes.append(len(target))
    return identities, labels, sizes


def epoch_and_state(loader, epoch: int, taken: int):
    """(every batch of `epoch`, the loader's state after its first `taken` batches): what a resumed
    loader must continue exactly."""
    loader.set_epoch(epoch)
    whole = list(loader)
    loader.set_epoch(epoch)
    batches = iter(loader)
    for _ in range(taken):
        next(batches)
    return whole, loader.state_dict()


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    """Each CPU backend in turn (the GPU one has its own marked tests)."""
    return request.param


@pytest.fixture(scope="session")
def identity_folder(tmp_path_factory) -> tuple[Path, dict[int, int]]:
    """23 images in 3 classes of unequal size, PNG and JPEG mixed, odd sizes."""
    root = tmp_path_factory.mktemp("folder")
    mapping = make_identity_folder(root, {"cat": 9, "dog": 6, "ant": 8})
    return root, mapping


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _quiet_threads():
    """Two cores here: keep torch's intra-op pool from fighting the loaders' workers, for the test only."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    torch.set_num_threads(before)
