"""Interpolation (bilinear, bicubic, nearest) and eval crop modes (center, squash, border) on every
CPU engine, against the torchvision backend, on real photographs: dali-cpu's default resampler runs
torchvision's kernels and must give the same pixels; DALI's fn.resize (the GPU's) stays within the
documented bound (docs/parity.md)."""

from __future__ import annotations

import pytest
import torch

from dali_pipes import ConfigError, EvalTransform, Preprocess, TrainTransform, make_loader

from ..conftest import unnormalize
from .checkers import assert_images_close

INTERPOLATIONS = ["bilinear", "bicubic", "nearest"]
EVALS = [("center", 256), ("squash", 256), ("border", 224), ("border", 160)]  # 160: padded on every photo


def run(folder, cfg: Preprocess, backend: str, resampler: str = "auto", train: bool = False):
    with make_loader(folder, train=train, batch_size=32, backend=backend, preset=cfg, resampler=resampler,
                     seed=3, num_threads=2) as loader:
        images, _ = next(iter(loader))
    return unnormalize(images)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode, resize", EVALS)
def test_eval_geometry_on_every_engine(photo_folder, interpolation, mode, resize):
    cfg = Preprocess(eval=EvalTransform(224, resize, interpolation=interpolation, crop_mode=mode))
    expected = run(photo_folder, cfg, "torchvision")
    assert_images_close(run(photo_folder, cfg, "dali-cpu"), expected, min_psnr=100.0, max_abs=0.01,
                        what=f"{interpolation} {mode} torch resampler")
    if interpolation == "nearest" and mode == "border":
        return  # DALI's nearest picks other source pixels on whole-image downscales (docs/parity.md)
    assert_images_close(run(photo_folder, cfg, "dali-cpu", "dali"), expected, min_psnr=50.0, max_abs=12.0,
                        what=f"{interpolation} {mode} DALI resampler")


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_train_crops_on_every_engine(photo_folder, interpolation):
    cfg = Preprocess(train=TrainTransform(160, interpolation=interpolation))
    expected = run(photo_folder, cfg, "torchvision", train=True)
    assert_images_close(run(photo_folder, cfg, "dali-cpu", train=True), expected, min_psnr=100.0, max_abs=0.01,
                        what=f"{interpolation} torch resampler")
    assert_images_close(run(photo_folder, cfg, "dali-cpu", "dali", train=True), expected, min_psnr=50.0,
                        max_abs=12.0, what=f"{interpolation} DALI resampler")


def test_border_pads_with_the_mean():
    """A 1-pixel-high strip resized into a square: the rows outside are the mean colour, which
    normalizes to 0 on every engine."""
    import numpy as np

    strip = np.full((2, 20, 8, 3), 200, np.uint8)
    cfg = Preprocess(eval=EvalTransform(16, 16, crop_mode="border"))
    for backend in ("torchvision", "dali-cpu"):
        for resampler in ("auto", "dali") if backend == "dali-cpu" else ("auto",):
            with make_loader((strip, [0, 1]), train=False, batch_size=2, backend=backend, preset=cfg,
                             resampler=resampler, num_threads=1) as loader:
                images, _ = next(iter(loader))
            assert images.shape == (2, 3, 16, 16)
            assert float(images[:, :, :, :5].abs().max()) < 0.01  # 20x8 -> 16x6(.4): 5 columns of padding left
            assert float(images[:, :, :, 5:11].mean()) > 1.0  # the bright strip itself


@pytest.mark.parametrize("kwargs, field", [
    ({"interpolation": "lanczos"}, "EvalTransform.interpolation"),
    ({"crop_mode": "pad"}, "EvalTransform.crop_mode"),
    ({"resize_size": 100}, "EvalTransform.resize_size"),
])
def test_eval_options_are_validated(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        EvalTransform(224, **{"resize_size": 256, **kwargs})
    assert EvalTransform(224, 100, crop_mode="border").resize_size == 100  # border pads: smaller is fine


@pytest.mark.parametrize("exact_edges", [False, True])
def test_random_interpolation_is_bilinear_or_bicubic_per_sample(photo_folder, exact_edges):
    """timm's `--train-interpolation random`: each sample is resized with one filter, drawn per
    sample (the same draw on every engine); so each sample of the batch equals, on its engine, the
    same sample resized with bilinear or with bicubic, and dali-cpu equals the torchvision backend."""
    batches = {}
    for interpolation in ("random", "bilinear", "bicubic"):
        cfg = Preprocess(train=TrainTransform(size=48, interpolation=interpolation, exact_edges=exact_edges))
        for backend, resampler in (("torchvision", "auto"), ("dali-cpu", "torch"), ("dali-cpu", "dali")):
            with make_loader(photo_folder, train=True, batch_size=16, backend=backend, preset=cfg, seed=5,
                             num_threads=2, resampler=resampler) as loader:
                batches[interpolation, backend, resampler] = unnormalize(next(iter(loader))[0]).round()
    choices, n = {}, len(batches["random", "torchvision", "auto"])
    for engine in (("torchvision", "auto"), ("dali-cpu", "torch"), ("dali-cpu", "dali")):
        chosen = []
        for k in range(n):
            same = [torch.equal(batches[("random",) + engine][k], batches[(name,) + engine][k])
                    for name in ("bilinear", "bicubic")]
            assert sum(same) == 1, (engine, k)
            chosen.append(same.index(True))
        choices[engine] = chosen
    assert len({tuple(c) for c in choices.values()}) == 1  # the same filter for a sample everywhere
    assert 0 < sum(choices["torchvision", "auto"]) < n
    assert torch.equal(batches["random", "torchvision", "auto"], batches["random", "dali-cpu", "torch"])


def test_random_interpolation_draws_each_filter_half_the_time():
    """P(bicubic) = 1/2 (timm's random.choice of two): 20,000 samples within 4 sigma (sigma = 0.0035)."""

    from dali_pipes.params import draw_train_params

    n = 20000
    p = draw_train_params(TrainTransform(interpolation="random"), [(300, 400)] * n, list(range(n)))
    assert abs(p.resize_filter.mean() - 0.5) < 4 * (0.25 / n) ** 0.5
    assert not hasattr(draw_train_params(TrainTransform(), [(300, 400)], [0]), "resize_filter")
