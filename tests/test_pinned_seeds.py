"""Existing seeds keep their outputs: the per-sample parameters and the pixels that today's seeds
give are pinned here (recorded before the per-sample op registry replaced the positional stream).
Adding an augmentation must not shift any of them: each op draws from its own stream.

Parameters are pinned exactly. Pixels are pinned through moments of each batch (mean level, its
first moments along x and y, and a position-weighted mean): any change of a crop box, a flip, a
jitter factor or the order of samples moves them by whole levels, while they stay insensitive to
the last-bit differences a different CPU's vector units may produce in a resize.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dali_pipes import AutoAugment, ColorJitter, Preprocess, TimmAugment, TrainTransform, make_loader
from dali_pipes.params import draw_train_params

from .conftest import unnormalize

SIZES = [(375, 500), (500, 375), (32, 32), (60, 1000), (1000, 45), (224, 224), (17, 11), (301, 23)]
SEEDS = np.arange(8) * 1000003 + 17

WINDOWS = [[26, 84, 296, 282], [197, 101, 220, 206], [0, 6, 27, 21], [0, 460, 60, 80], [470, 0, 60, 45],
           [31, 98, 87, 109], [1, 0, 10, 11], [135, 0, 31, 23]]
FLIPS = [0, 0, 1, 0, 1, 1, 0, 0]
JITTER = [[1.362607189, 0.72458202, 0.504191267, -0.078640233], [1.269221184, 1.160840792, 0.9370012, -0.046602908],
          [1.127126805, 0.873684182, 1.256034788, -0.091868203], [0.843566469, 1.122661388, 0.616632562, 0.087333271],
          [1.298574166, 0.835270997, 1.33956042, -0.08365407], [1.365900884, 1.018759183, 0.5512449, -0.004794299],
          [1.018747491, 1.062808666, 1.42070484, -0.090652604], [1.164991122, 0.79141488, 1.31863652, 0.067269009]]
ORDERS = [[2, 1, 0, 3], [2, 0, 1, 3], [1, 0, 3, 2], [2, 0, 3, 1], [2, 3, 1, 0], [3, 1, 0, 2], [3, 0, 2, 1],
          [1, 3, 0, 2]]


def test_todays_seeds_draw_todays_parameters():
    cfg = TrainTransform(color_jitter=ColorJitter(0.4, 0.3, 0.5, 0.1))
    p = draw_train_params(cfg, SIZES, SEEDS)
    assert p.window.tolist() == WINDOWS
    assert p.flip.astype(int).tolist() == FLIPS
    np.testing.assert_allclose(p.jitter, JITTER, rtol=0, atol=1e-8)
    assert p.jitter_order.tolist() == ORDERS


def test_new_ops_leave_todays_parameters_alone():
    """Switching on grayscale and blur changes none of the crop, flip and jitter draws."""
    from dali_pipes import GaussianBlur, RandomGrayscale

    cfg = TrainTransform(color_jitter=ColorJitter(0.4, 0.3, 0.5, 0.1), grayscale=RandomGrayscale(0.5),
                         blur=GaussianBlur(5, p=0.5))
    p = draw_train_params(cfg, SIZES, SEEDS)
    assert p.window.tolist() == WINDOWS and p.flip.astype(int).tolist() == FLIPS
    np.testing.assert_allclose(p.jitter, JITTER, rtol=0, atol=1e-8)
    assert p.jitter_order.tolist() == ORDERS


POLICY_DRAWS = {  # op ids of kernels.policy.OPS and signed magnitudes, for SEEDS at size 224
    "randaugment": ([[12, 3], [0, 13], [5, 3], [9, 8], [5, 5], [1, 8], [4, 6], [7, 9]],
                    [[0.0, -30.453173], [0.0, 0.0], [9.0, 30.453173], [0.27, -0.27], [9.0, -9.0], [0.09, 0.27],
                     [-30.453173, 0.27], [-0.27, 0.27]]),
    "autoaugment": ([[7, 8], [0, 13], [7, 8], [0, 0], [7, 8], [0, 13], [7, 8], [0, 8]],
                    [[-0.4, -0.8], [0.0, 0.0], [0.4, 0.8], [0.0, 0.0], [0.4, -0.8], [0.0, 0.0], [-0.4, 0.8],
                     [0.0, 0.8]]),
    "trivialaugment": ([[12], [0], [5], [9], [5], [1], [4], [7]],
                       [[0.0], [0.0], [36.0], [0.99], [49.5], [0.99], [-19.199999], [-0.759]]),
}


@pytest.mark.parametrize("policy", list(POLICY_DRAWS))
def test_todays_seeds_draw_todays_policy_ops(policy):
    p = draw_train_params(TrainTransform(auto_augment=AutoAugment(policy)), SIZES, SEEDS)
    ops, mags = POLICY_DRAWS[policy]
    assert p.policy_ops.tolist() == ops
    np.testing.assert_allclose(p.policy_mags, mags, rtol=0, atol=1e-5)
    assert p.window.tolist() == WINDOWS and p.flip.astype(int).tolist() == FLIPS  # and moved nothing else


# timm's rand-m9-mstd0.5-inc1 for SEEDS at 224: (kernels.timm_ops op id, filter id) per layer, and the
# ops' parameters (recorded when TimmAugment landed, #24)
TIMM_OPS = [[[9, 0], [12, 1]], [[1, 0], [10, 0]], [[7, 0], [0, 0]], [[6, 0], [12, 2]], [[0, 0], [0, 0]],
            [[0, 0], [0, 0]], [[4, 1], [0, 0]], [[4, 1], [12, 2]]]
TIMM_ARGS = [[0.199855, -0.244926], [0.0, 0.232389], [103.0, 0.0], [25.0, -0.266269], [0.0, 0.0], [0.0, 0.0],
             [-27.656811, 0.0], [26.78927, -0.251141]]


def test_todays_seeds_draw_todays_timm_ops():
    p = draw_train_params(TrainTransform(timm_augment=TimmAugment("rand-m9-mstd0.5-inc1")), SIZES, SEEDS)
    assert p.timm_ops.tolist() == TIMM_OPS
    np.testing.assert_allclose(p.timm_args, TIMM_ARGS, rtol=0, atol=1e-5)
    assert p.window.tolist() == WINDOWS and p.flip.astype(int).tolist() == FLIPS  # and moved nothing else


CONFIGS = {
    "plain": TrainTransform(size=24),
    "jitter": TrainTransform(size=24, color_jitter=ColorJitter(0.4, 0.4, 0.4, 0.1)),
    "jitter_aa": TrainTransform(size=24, color_jitter=ColorJitter(0.4, 0.4, 0.4, 0),
                                auto_augment=AutoAugment("randaugment")),
    "padcrop": TrainTransform(size=32, geometry="pad_crop", color_jitter=ColorJitter(0.3, 0.3, 0.3, 0.05, p=0.8)),
}
LEGS = [("torchvision", "auto"), ("dali-cpu", "torch"), ("dali-cpu", "dali")]
MOMENTS = {  # recorded with the positional stream (commit b1edbbd)
    ("plain", "torchvision", "auto"): [126.371, 63.394, 68.296, 128.203],
    ("plain", "dali-cpu", "torch"): [126.371, 63.394, 68.296, 128.203],
    ("plain", "dali-cpu", "dali"): [126.33, 63.374, 68.28, 128.171],
    ("jitter", "torchvision", "auto"): [112.518, 56.496, 60.044, 116.061],
    ("jitter", "dali-cpu", "torch"): [110.344, 55.008, 59.045, 115.621],
    ("jitter", "dali-cpu", "dali"): [110.318, 54.995, 59.034, 115.6],
    # re-recorded when the policies' draws moved from each engine's own RNG (DALI's auto_aug, torch's)
    # into the op's counter stream (#23): the same ops for a sample on every backend since
    ("jitter_aa", "torchvision", "auto"): [115.853, 59.844, 62.402, 125.544],
    ("jitter_aa", "dali-cpu", "torch"): [116.878, 60.362, 62.843, 126.977],
    ("jitter_aa", "dali-cpu", "dali"): [113.441, 58.644, 61.094, 122.24],
    ("padcrop", "torchvision", "auto"): [108.185, 52.935, 59.206, 107.824],
    ("padcrop", "dali-cpu", "torch"): [108.158, 52.787, 59.553, 107.675],
    ("padcrop", "dali-cpu", "dali"): [108.108, 52.764, 59.512, 107.627],
}


@pytest.fixture(scope="module")
def gradient_folder(tmp_path_factory):
    """Smooth, asymmetric images: every crop box and flip has its own moments."""
    root = tmp_path_factory.mktemp("gradients")
    for i, (h, w) in enumerate([(40, 48), (48, 40), (33, 33), (64, 20)] * 4):
        y, x = np.mgrid[0:h, 0:w]
        image = np.stack([255 * y / (h - 1), 255 * x / (w - 1), (40 * i + 3 * x + 2 * y) % 256], axis=2)
        (root / f"c{i % 3}").mkdir(exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(root / f"c{i % 3}" / f"{i:02d}.png")
    return root


def moments(folder, cfg: TrainTransform, backend: str, resampler: str) -> list[float]:
    with make_loader(str(folder), train=True, batch_size=16, backend=backend, preset=Preprocess(train=cfg), seed=11,
                     num_threads=1, resampler=resampler) as loader:
        levels = unnormalize(next(iter(loader))[0])
    n, _, h, w = levels.shape
    ys = torch.linspace(0, 1, h, dtype=torch.float64).view(1, 1, h, 1)
    xs = torch.linspace(0, 1, w, dtype=torch.float64).view(1, 1, 1, w)
    per_image = torch.stack([levels.mean(dim=(1, 2, 3)), (levels * xs).mean(dim=(1, 2, 3)),
                             (levels * ys).mean(dim=(1, 2, 3))], dim=1)
    weights = torch.arange(1, n + 1, dtype=torch.float64)
    return [round(float(v), 3) for v in [*per_image.mean(dim=0), (per_image[:, 0] * weights).sum() / weights.sum()]]


@pytest.mark.parametrize("name, backend, resampler", [(n, b, r) for n in CONFIGS for b, r in LEGS])
def test_todays_seeds_give_todays_pixels(gradient_folder, name, backend, resampler):
    got = moments(gradient_folder, CONFIGS[name], backend, resampler)
    np.testing.assert_allclose(got, MOMENTS[name, backend, resampler], rtol=0, atol=0.02, err_msg=name)
