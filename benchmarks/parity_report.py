"""Measure DALI-vs-torchvision parity on the parity suite's photographs; prints a Markdown table.

    python benchmarks/parity_report.py [--backend dali-cpu|dali-gpu] [--resampler auto|dali|torch]

Eval: DALI's Resize(256) + CenterCrop(224) against torchvision's on the torchvision-decoded image.
Train: the same crop box and flip (dali_pipes.params) against torchvision's resized_crop.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dali_pipes import make_loader  # noqa: E402
from dali_pipes.params import draw_train_params  # noqa: E402
from dali_pipes.sources.decode import decode_rgb  # noqa: E402
from tests.conftest import unnormalize  # noqa: E402
from tests.parity.checkers import psnr  # noqa: E402
from tests.parity.photos import write_corpus  # noqa: E402


def measure(backend: str, resampler: str = "auto") -> list[tuple]:
    root = Path(tempfile.mkdtemp())
    write_corpus(root)
    rows = []
    reference_eval = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])
    with make_loader(root, train=False, batch_size=64, backend=backend, resampler=resampler) as loader:
        evals = unnormalize(next(iter(loader))[0])
    with make_loader(root, train=True, batch_size=64, backend=backend, seed=3, shuffle=False,
                     resampler=resampler) as loader:
        trains = unnormalize(next(iter(loader))[0])
        seeds, cfg, samples = loader.plan.sample_seeds(0), loader.preprocess.train, loader.dataset.samples
    for i, (path, _) in enumerate(samples):
        with open(path, "rb") as f:
            decoded = decode_rgb(f.read(), path)
        expected_eval = reference_eval(decoded).double()
        p = draw_train_params(cfg, [tuple(decoded.shape[-2:])], [seeds[i]])
        expected_train = F.resized_crop(decoded, *(int(v) for v in p.window[0]), [224, 224], antialias=True).double()
        if p.flip[0]:
            expected_train = F.horizontal_flip(expected_train)
        diff = (trains[i] - expected_train).abs()
        rows.append((Path(path).name, tuple(decoded.shape[-2:]), psnr(evals[i], expected_eval),
                     float((evals[i] - expected_eval).abs().max()), psnr(trains[i], expected_train),
                     float(diff[:, 2:-2, 2:-2].max()), float(diff.max())))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="dali-cpu")
    parser.add_argument("--resampler", default="auto", choices=["auto", "dali", "torch"])
    args = parser.parse_args()
    print("| image | H x W | eval PSNR dB | eval max | train PSNR dB | train max (interior) | train max (2-px frame) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, (h, w), ep, em, tp, ti, tm in measure(args.backend, args.resampler):
        print(f"| {name} | {h} x {w} | {ep:.1f} | {em:.1f} | {tp:.1f} | {ti:.1f} | {tm:.1f} |")


if __name__ == "__main__":
    main()
