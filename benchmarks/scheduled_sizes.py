"""timm's scheduled input sizes, side by side in one run: `timm.data.create_loader` and
`dali_pipes.timm.create_loader` with the same arguments (DeiT's augmentation, three sizes with
their batch sizes, timm's prefetcher semantics on the CPU), on the same photos. One warm-up epoch,
then the median of `--repeats` epochs, in images per second. Results go to RESULTS.md.

    python benchmarks/scheduled_sizes.py [--images 512] [--repeats 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from dali_pipes.bench.recipes import zero_bit_posterize_as_black
from dali_pipes.bench.runner import epoch_rates
from dali_pipes.synthetic import make_synthetic_imagefolder

SCHEDULE = dict(input_size_choices=(128, 160, 192), batch_size_choices=(96, 64, 48), batch_choice_seed=1)
DEIT = dict(auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.25, re_mode="pixel", interpolation="random",
            color_jitter=0.4)


def _timm_loader(dataset, kwargs):
    from timm.data import create_loader

    loader = create_loader(dataset, **kwargs)
    for transform in loader.loader.dataset.transforms:  # timm + Pillow >= 12 raise at 0-bit posterize
        zero_bit_posterize_as_black(transform)
    return loader


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--contenders", nargs="+", default=["timm", "dali-cpu", "torchvision"])
    args = parser.parse_args(argv)
    from timm.data import create_dataset

    from dali_pipes.timm import create_loader

    root = make_synthetic_imagefolder(tempfile.mkdtemp(prefix="scheduled-"), num_images=args.images, num_classes=10)
    kwargs = dict(input_size=(3, 224, 224), batch_size=64, is_training=True, num_workers=args.workers,
                  device=torch.device("cpu"), **SCHEDULE, **DEIT)
    results = {}
    for contender in args.contenders:
        dataset = create_dataset("", root=str(root), split="", is_training=True)
        loader = _timm_loader(dataset, kwargs) if contender == "timm" else \
            create_loader(dataset, **kwargs, backend=contender, seed=0)
        rates = epoch_rates(loader, 1 + args.repeats)[1:]
        results[contender] = statistics.median(rates)
        print(f"{contender:12s} {results[contender]:7.1f} images/s  (epochs: {', '.join(f'{r:.0f}' for r in rates)})",
              flush=True)
    if "timm" in results:
        for contender, rate in results.items():
            if contender != "timm":
                print(f"{contender} / timm: {rate / results['timm']:.2f}x")


if __name__ == "__main__":
    main()
