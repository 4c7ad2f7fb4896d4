"""Train-time augmentation on both backends: flip rate, color-jitter factor distributions and
ranges, the auto-augment policies, random erasing. Fixed seeds; bounds from the distributions."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from dali_pipes import AutoAugment, ColorJitter, Preprocess, RandomErasing, TrainTransform, make_loader
from dali_pipes.ops.erasing import apply as apply_erasing
from dali_pipes.ops.erasing import make_params as erasing_params

from .conftest import unnormalize

N = 400
KS_ALPHA = 0.001


def folder_of(tmp_path, image: np.ndarray, n: int = N):
    (tmp_path / "c").mkdir(exist_ok=True)
    Image.fromarray(image).save(tmp_path / "c" / "only.png")
    # one file, many samples: an ArraySource repeats it without n files on disk
    return (np.repeat(image[None], n, axis=0), np.zeros(n, dtype=np.int64))


def whole_image(size=64, **augment) -> Preprocess:
    """Train geometry that keeps the whole (square) image: scale 1, ratio 1, no flip."""
    return Preprocess(train=TrainTransform(size=size, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0, **augment))


def run(source, cfg, backend, seed=0):
    with make_loader(source, train=True, batch_size=100, backend=backend, preset=cfg, seed=seed,
                     num_threads=2) as loader:
        return torch.cat([unnormalize(x) for x, _ in loader])


def binomial_ok(count, n, p, sigmas=4.5):
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_flip_rate(tmp_path, backend, p):
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = 220
    cfg = Preprocess(train=TrainTransform(size=64, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=p))
    out = run(folder_of(tmp_path, image), cfg, backend)
    flipped = (out[:, 0, :, :32].mean(dim=(1, 2)) < out[:, 0, :, 32:].mean(dim=(1, 2))).sum().item()
    assert binomial_ok(flipped, N, p)


def test_brightness_factor_is_uniform_on_its_range(tmp_path, backend):
    out = run(folder_of(tmp_path, np.full((64, 64, 3), 100, np.uint8)),
              whole_image(color_jitter=ColorJitter(brightness=0.5, contrast=0, saturation=0)), backend)
    factors = out[:, 0].mean(dim=(1, 2)).numpy() / 100.0
    assert factors.min() >= 0.5 - 0.006 and factors.max() <= 1.5 + 0.006
    assert stats.kstest(factors, stats.uniform(0.5, 1.0).cdf).pvalue > KS_ALPHA


def test_contrast_blends_with_the_grey_mean(tmp_path, backend):
    image = np.full((64, 64, 3), 60, np.uint8)
    image[:, 32:] = 160  # grey mean 110: out = c * x + (1 - c) * 110
    out = run(folder_of(tmp_path, image), whole_image(color_jitter=ColorJitter(0, 0.4, 0)), backend)
    left, right = out[:, 0, :, :32].mean(dim=(1, 2)), out[:, 0, :, 32:].mean(dim=(1, 2))
    factors = ((right - left) / 100.0).numpy()
    assert np.allclose((left + right).numpy() / 2, 110, atol=1.5)  # the centre stays the grey mean
    assert factors.min() >= 0.6 - 0.02 and factors.max() <= 1.4 + 0.02
    assert stats.kstest(factors, stats.uniform(0.6, 0.8).cdf).pvalue > KS_ALPHA


def test_saturation_factor(tmp_path, backend):
    out = run(folder_of(tmp_path, np.full((32, 32, 3), (200, 100, 50), np.uint8)),
              whole_image(size=32, color_jitter=ColorJitter(0, 0, 0.4)), backend)
    rgb = out.mean(dim=(2, 3))
    factors = ((rgb[:, 0] - rgb[:, 2]) / 150.0).numpy()  # a blend with grey scales R - B by s
    assert factors.min() >= 0.6 - 0.015 and factors.max() <= 1.4 + 0.015
    assert stats.kstest(factors, stats.uniform(0.6, 0.8).cdf).pvalue > KS_ALPHA


def _hue_shift_degrees(rgb: np.ndarray, backend: str) -> np.ndarray:
    """torchvision shifts the HSV hue; DALI rotates the chroma (I, Q) plane of YIQ."""
    base = np.array([200, 100, 50], dtype=np.float64)
    if backend == "torchvision":
        h0 = colorsys.rgb_to_hsv(*(base / 255))[0]
        shifts = [colorsys.rgb_to_hsv(*(c / 255))[0] - h0 for c in rgb]
    else:
        yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        i0, q0 = (yiq @ base)[1:]
        iq = rgb @ yiq.T
        shifts = (np.arctan2(iq[:, 2], iq[:, 1]) - np.arctan2(q0, i0)) / (2 * np.pi)
    shifts = (np.asarray(shifts) + 0.5) % 1.0 - 0.5
    return np.abs(shifts * 360.0)


def test_hue_shift_stays_within_its_range_and_spans_it(tmp_path, backend):
    h = 0.1  # +-36 degrees
    out = run(folder_of(tmp_path, np.full((32, 32, 3), (200, 100, 50), np.uint8)),
              whole_image(size=32, color_jitter=ColorJitter(0, 0, 0, hue=h)), backend)
    shifts = _hue_shift_degrees(out.mean(dim=(2, 3)).numpy(), backend)
    assert shifts.max() <= 36 + 2.0
    assert shifts.max() >= 0.9 * 36  # 400 uniform draws: P(all |shift| < 0.9 h) = 0.9**400
    assert stats.kstest(shifts / 36.0, stats.uniform(0, 1).cdf).pvalue > KS_ALPHA  # |U(-h, h)| = U(0, h)


def test_jitter_probability(tmp_path, backend):
    out = run(folder_of(tmp_path, np.full((32, 32, 3), 100, np.uint8)),
              whole_image(size=32, color_jitter=ColorJitter(brightness=0.5, contrast=0, saturation=0, p=0.5)), backend)
    unchanged = (out[:, 0].mean(dim=(1, 2)) - 100).abs().lt(0.5).sum().item()
    # unchanged = not applied (1/2) or applied with |100 b - 100| < 0.5 (b within 0.005 of 1: 1/100)
    assert binomial_ok(unchanged, N, 0.5 + 0.5 * 0.01)


def _photos(tmp_path, n=8):
    from dali_pipes.synthetic import make_synthetic_imagefolder

    return make_synthetic_imagefolder(tmp_path / "photos", num_images=n, num_classes=2)


@pytest.mark.parametrize("policy", ["autoaugment", "randaugment", "trivialaugment"])
def test_each_auto_augment_policy_runs_and_keeps_the_contract(tmp_path, backend, policy):
    root = _photos(tmp_path)
    plain = Preprocess(train=TrainTransform(size=96, scale=(0.5, 0.5), ratio=(1, 1), hflip=0.0))
    augmented = Preprocess(train=TrainTransform(size=96, scale=(0.5, 0.5), ratio=(1, 1), hflip=0.0,
                                                auto_augment=AutoAugment(policy, num_ops=2, magnitude=9)))
    outputs = []
    for cfg in (plain, augmented):
        with make_loader(root, train=True, batch_size=8, backend=backend, preset=cfg, shuffle=False, seed=7,
                         num_threads=2) as loader:
            images, labels = next(iter(loader))
        assert images.shape == (8, 3, 96, 96) and images.dtype == torch.float32 and labels.shape == (8,)
        pixels = unnormalize(images)
        assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3
        outputs.append(pixels)
    changed = ((outputs[0] - outputs[1]).abs().amax(dim=(1, 2, 3)) > 2).sum().item()
    assert changed >= 4  # identity and no-op choices are possible, but not for most of 8 images


def test_random_erasing_parameters_follow_torchvision():
    """Boxes within the scale range (up to rounding) and the aspect range, erased with probability p."""
    cfg = RandomErasing(p=0.7, scale=(0.05, 0.3), ratio=(0.5, 2.0))
    params = erasing_params(cfg, 4000, 64, 48, np.random.default_rng(0))
    top, left, h, w = params.boxes[:, 0].T  # one box per image (count=1)
    erased = h > 0
    assert binomial_ok(erased.sum(), 4000, 0.7)
    area = h[erased] * w[erased] / (64 * 48)
    assert area.min() > 0.05 * 0.8 and area.max() < 0.3 * 1.2
    aspect = h[erased] / w[erased]
    assert aspect.min() > 0.5 * 0.75 and aspect.max() < 2.0 / 0.75
    assert (top + h <= 64).all() and (left + w <= 48).all()


def test_random_erasing_fills_only_the_box():
    cfg = RandomErasing(p=1.0, value=-3.0)
    images = torch.randn(16, 3, 20, 30)
    params = erasing_params(cfg, 16, 20, 30, np.random.default_rng(1))
    out = apply_erasing(images, params, cfg)
    for b, (top, left, h, w) in enumerate(params.boxes[:, 0]):
        box = torch.zeros(20, 30, dtype=torch.bool)
        box[top:top + h, left:left + w] = True
        assert (out[b][:, box] == -3.0).all()
        assert torch.equal(out[b][:, ~box], images[b][:, ~box])
    noisy = apply_erasing(images, params, RandomErasing(p=1.0, value="random"))
    again = apply_erasing(images, params, RandomErasing(p=1.0, value="random"))
    assert torch.equal(noisy, again) and not torch.equal(noisy, images)


def test_random_erasing_in_the_loader(tmp_path, backend):
    image = np.full((32, 32, 3), 180, np.uint8)
    cfg = whole_image(size=32, random_erasing=RandomErasing(p=1.0, value=0.0))
    with make_loader(folder_of(tmp_path, image, n=50), train=True, batch_size=50, backend=backend, preset=cfg,
                     seed=3, num_threads=2) as loader:
        images, _ = next(iter(loader))
    erased = (images == 0).all(dim=1)  # value 0 in normalized units, all channels
    assert erased.any(dim=(1, 2)).sum() >= 45  # p=1: only draws with no fitting box (rare) escape


def test_random_erasing_follows_timms_count_colour_and_split():
    """timm's re_count (the image's count uniform in 1..count, each box's area divided by it),
    re_mode 'rand' (one normal colour per box and channel) and re_split (the first half clean),
    against timm's own RandomErasing run on the same shapes: the count of erased boxes per image and
    the erased share of the image (two-sample KS, p > 1e-3), and the colours' moments."""
    random_erasing = pytest.importorskip("timm.data.random_erasing", reason="the test extra installs timm")
    import random

    from scipy import stats

    n, h, w = 3000, 40, 48
    cfg = RandomErasing(p=0.8, scale=(0.02, 1 / 3), value="random_color", count=3)
    params = erasing_params(cfg, n, h, w, np.random.default_rng(2))
    boxes = (params.boxes[:, :, 2] > 0).sum(axis=1)
    images = apply_erasing(torch.full((n, 3, h, w), 100.0), params, cfg)
    ours_share = (images != 100.0).any(dim=1).float().mean(dim=(1, 2)).numpy()
    random.seed(0)
    torch.manual_seed(0)
    timm_re = random_erasing.RandomErasing(0.8, mode="rand", max_count=3, device="cpu")
    theirs = torch.full((n, 3, h, w), 100.0)
    counts = []
    for i in range(n):
        before = theirs[i].clone()
        timm_re._erase(theirs[i], 3, h, w, theirs.dtype)
        counts.append(int((theirs[i] != before).any()))
    theirs_share = (theirs != 100.0).any(dim=1).float().mean(dim=(1, 2)).numpy()
    assert stats.ks_2samp(ours_share, theirs_share).pvalue > 1e-3
    assert binomial_ok((boxes > 0).sum(), n, sum(counts) / n)
    assert set(np.unique(boxes)) <= {0, 1, 2, 3} and (boxes == 3).any()
    colours = params.colors[params.boxes[:, :, 2] > 0]
    assert abs(colours.mean()) < 0.05 and abs(colours.std() - 1) < 0.05  # N(0, 1): sd of the mean ~0.01
    split = erasing_params(RandomErasing(p=1.0, splits=2), 16, h, w, np.random.default_rng(3))
    assert (split.boxes[:8, :, 2] == 0).all() and (split.boxes[8:, 0, 2] > 0).all()
