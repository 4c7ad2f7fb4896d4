"""What each augmentation costs, side by side in one run: the train loader on the same files with the
ImageNet recipe alone, then with one op added at a time (colour jitter, the three policies,
grayscale, blur, random erasing, MixUp/CutMix), for each backend. One warm-up epoch, then the median
of `--repeats`. Results go to RESULTS.md.

    python benchmarks/augment_cost.py [--images 512] [--repeats 3] [--backends dali-cpu torchvision]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

from dali_pipes import (
    AutoAugment,
    ColorJitter,
    GaussianBlur,
    MixUpCutMix,
    Preprocess,
    RandomErasing,
    RandomGrayscale,
    TimmAugment,
    make_loader,
)
from dali_pipes.bench.runner import epoch_rates, loader_choice
from dali_pipes.synthetic import make_synthetic_imagefolder

ADDED = {
    "recipe only": {},
    "+ color jitter 0.4, hue 0.1": {"color_jitter": ColorJitter(0.4, 0.4, 0.4, 0.1)},
    "+ color jitter 0.4 (no hue)": {"color_jitter": ColorJitter(0.4, 0.4, 0.4)},
    "+ RandAugment(2, 9)": {"auto_augment": AutoAugment("randaugment")},
    "+ AutoAugment (ImageNet)": {"auto_augment": AutoAugment("autoaugment")},
    "+ TrivialAugmentWide": {"auto_augment": AutoAugment("trivialaugment")},
    "+ timm rand-m9-mstd0.5-inc1": {"timm_augment": TimmAugment("rand-m9-mstd0.5-inc1", interpolation="bilinear")},
    "+ timm original (AutoAugment)": {"timm_augment": TimmAugment("original", interpolation="bilinear")},
    "+ random filter (bilinear / bicubic)": {"interpolation": "random"},
    "+ grayscale p=0.2": {"grayscale": RandomGrayscale(0.2)},
    "+ blur k=23 p=0.5": {"blur": GaussianBlur(23, p=0.5)},
    "+ blur k=23 p=1.0": {"blur": GaussianBlur(23, p=1.0)},
    "+ random erasing p=0.25": {"random_erasing": RandomErasing(0.25)},
    "+ random erasing p=0.25 pixel": {"random_erasing": RandomErasing(0.25, value="random")},
    "+ MixUp(0.2) / CutMix(1.0)": {"mix": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0}},
}


def rate(root, cfg: Preprocess, contender: str, repeats: int, batch_size: int, threads: int, mix=None) -> float:
    with make_loader(str(root), train=True, batch_size=batch_size, preset=cfg, seed=0, num_threads=threads,
                     mix=mix, **loader_choice(contender)) as loader:
        epoch_rates(loader, 1)  # warm-up
        return statistics.median(epoch_rates(loader, repeats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", nargs="+", default=["dali-cpu", "dali-cpu:dali", "torchvision"])
    parser.add_argument("--only", nargs="+", default=None, metavar="WORD",
                        help="the rows whose name has one of these words (the recipe-only row always runs)")
    args = parser.parse_args()
    root = make_synthetic_imagefolder(num_images=args.images)
    base = Preprocess()
    rows = {}
    for name, fields in ADDED.items():
        if args.only and name != "recipe only" and not any(word in name for word in args.only):
            continue
        fields = dict(fields)
        mix = MixUpCutMix(10, seed=0, **fields.pop("mix")) if "mix" in fields else None
        cfg = replace(base, train=replace(base.train, **fields))
        rows[name] = [rate(root, cfg, b, args.repeats, args.batch_size, args.threads, mix) for b in args.backends]
        print(name, [round(r) for r in rows[name]], flush=True)
    print()
    print("| train recipe | " + " | ".join(args.backends) + " |")
    print("| --- |" + " ---: |" * len(args.backends))
    first = rows["recipe only"]
    for name, values in rows.items():
        cells = [f"{v:.0f}" + ("" if name == "recipe only" else f" ({v / f:.2f}x)") for v, f in zip(values, first)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
