"""What crash-proof PNG decoding costs the torchvision backend, measured side by side in one run.

The torchvision backend decodes PNGs with PIL (pypng for 16-bit) because torchvision's libpng
wrapper crashes the process on damaged files. This script times, on the same PNG photographs:
decoding alone (torchvision.io.decode_image vs dali_pipes' decode), and the torchvision backend's
train and eval epochs with either decoder, alternating A/B rounds. Results go to RESULTS.md.

    python benchmarks/png_decode.py [--images 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_image

from dali_pipes import make_loader
from dali_pipes.sources import decode as decoding
from dali_pipes.synthetic import make_synthetic_imagefolder


def png_tree(num_images: int, out: Path, side: int | None = None) -> Path:
    """The synthetic photographs as PNG; `side`: CIFAR-like square crops of that side instead."""
    jpegs = make_synthetic_imagefolder(num_images=num_images)
    for path in sorted(jpegs.rglob("*.jpg")):
        target = out / path.parent.name / (path.stem + ".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        image = Image.open(path)
        if side is not None:
            image = image.resize((side, side), Image.BILINEAR)
        image.save(target)
    return out


def libpng(data: bytes) -> torch.Tensor:
    return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)


def epoch_rate(root: Path, train: bool, threads: int, preset: str) -> float:
    with make_loader(root, train=train, batch_size=64, backend="torchvision", seed=0, num_threads=threads,
                     preset=preset) as loader:
        list(loader)  # warm-up: workers started, files in the page cache
        start = time.perf_counter()
        count = sum(len(labels) for _, labels in loader)
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import os

    threads = args.threads or len(os.sched_getaffinity(0))
    safe = decoding._decode_pil
    decoders = {"libpng (torchvision.io)": lambda d, fmt: libpng(d), "PIL (dali-pipes)": safe}
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"~500 x 375": (png_tree(args.images, Path(tmp) / "photos"), "imagenet"),
                 "32 x 32": (png_tree(args.images * 8, Path(tmp) / "cifar", side=32), "cifar10")}
        for _ in range(args.rounds):
            for size, (root, preset) in trees.items():
                datas = [p.read_bytes() for p in sorted(root.rglob("*.png"))]
                for name, decode in decoders.items():
                    start = time.perf_counter()
                    for data in datas:
                        decode(data, "png")
                    rate = len(datas) / (time.perf_counter() - start)
                    rates.setdefault(f"{size} decode only, 1 thread: {name}", []).append(rate)
                for name, decode in decoders.items():
                    decoding._decode_pil = decode  # the workers fork after this: they decode with it
                    for train in (True, False):
                        key = f"{size} torchvision backend {'train' if train else 'eval'}: {name}"
                        rates.setdefault(key, []).append(epoch_rate(root, train, threads, preset))
                decoding._decode_pil = safe
    print(f"PNG photographs: {args.images} at ~500 x 375 (imagenet preset), {args.images * 8} at 32 x 32 "
          f"(cifar10 preset); batch 64, {threads} workers, {args.rounds} rounds (median img/s)")
    for key, values in rates.items():
        print(f"  {key:65s} {statistics.median(values):8.0f}   ({', '.join(f'{v:.0f}' for v in values)})")


if __name__ == "__main__":
    main()
