"""CIFAR-shaped arrays in memory, side by side: the `cifar10` preset (pad 4 + crop 32 + flip +
normalize) on each backend against torchvision's own CIFAR recipe in a DataLoader (PIL image from
the array, RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize; persistent workers).
One warm-up epoch, then the median of `--repeats`; `--rounds` alternate the contenders' order.

    python benchmarks/cifar_arrays.py [--images 20000] [--batch-size 512] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from dali_pipes import make_loader
from dali_pipes.bench.runner import epoch_rates

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class ClassicCifar(Dataset):
    """torchvision's CIFAR10 dataset's __getitem__ over the same arrays, with its training transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        import torchvision.transforms as T

        self.images, self.labels = images, labels
        self.transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                                    T.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def rate(contender: str, images, labels, batch_size: int, threads: int, repeats: int) -> float:
    if contender == "classic":
        loader = DataLoader(ClassicCifar(images, labels), batch_size=batch_size, shuffle=True, num_workers=threads,
                            persistent_workers=True)
        epoch_rates(loader, 1)
        return statistics.median(epoch_rates(loader, repeats))
    with make_loader((images, labels), train=True, batch_size=batch_size, preset="cifar10", backend=contender,
                     num_threads=threads, seed=0) as loader:
        epoch_rates(loader, 1)
        return statistics.median(epoch_rates(loader, repeats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--contenders", nargs="+", default=["torchvision", "classic", "dali-cpu"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=args.images)
    rows: dict[str, list[float]] = {c: [] for c in args.contenders}
    for round_ in range(args.rounds):
        order = args.contenders if round_ % 2 == 0 else args.contenders[::-1]
        for contender in order:
            rows[contender].append(rate(contender, images, labels, args.batch_size, args.threads, args.repeats))
    print(f"| contender | {' | '.join(f'round {r + 1}' for r in range(args.rounds))} | vs classic |")
    print("| --- |" + " ---: |" * (args.rounds + 1))
    classic = statistics.mean(rows["classic"]) if "classic" in rows else None
    for contender, rates in rows.items():
        versus = f"{statistics.mean(rates) / classic:.2f}x" if classic else "-"
        print(f"| {contender} | {' | '.join(f'{r:,.0f}' for r in rates)} | {versus} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
