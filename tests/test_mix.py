"""MixUp / CutMix: exact kernels, timm's parameter distributions, modes, errors, loader use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dali_pipes import MixUpCutMix, make_loader

from .conftest import CPU_BACKENDS


def batch(b=6, h=9, w=13, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g), torch.randint(0, k, (b,), generator=g)


def smoothed(labels, k, eps):
    out = torch.full((len(labels), k), eps / k)
    out[torch.arange(len(labels)), labels] = 1 - eps + eps / k
    return out


def test_mixup_is_the_exact_weighted_mix_with_the_reversed_batch():
    x, y = batch()
    mix = MixUpCutMix(5, mixup_alpha=0.4, cutmix_alpha=0.0, label_smoothing=0.1, seed=1)
    params = mix.make_params(6, 9, 13)
    lam = float(params.lam[0])
    assert np.all(params.lam == lam) and not params.cutmix.any()
    out, targets = mix.apply(x, y, params)
    assert torch.allclose(out, lam * x + (1 - lam) * x.flip(0), atol=1e-6)
    expected = lam * smoothed(y, 5, 0.1) + (1 - lam) * smoothed(y.flip(0), 5, 0.1)
    assert torch.allclose(targets, expected, atol=1e-7)
    assert torch.allclose(targets.sum(dim=1), torch.ones(6), atol=1e-6)


@pytest.mark.parametrize("minmax", [None, (0.2, 0.8)])
def test_cutmix_pastes_one_box_and_lambda_is_the_kept_area(minmax):
    x, y = batch(b=4, h=32, w=24)
    mix = MixUpCutMix(5, mixup_alpha=0.0, cutmix_alpha=1.0, cutmix_minmax=minmax, label_smoothing=0.0, seed=3)
    for _ in range(20):
        params = mix.make_params(4, 32, 24)
        out, targets = mix.apply(x, y, params)
        top, left, h, w = params.boxes[0]
        inside = torch.zeros(32, 24, dtype=torch.bool)
        inside[top:top + h, left:left + w] = True
        assert torch.equal(out[:, :, inside], x.flip(0)[:, :, inside])
        assert torch.equal(out[:, :, ~inside], x[:, :, ~inside])
        kept = 1 - inside.sum().item() / (32 * 24)
        assert params.lam[0] == pytest.approx(kept, abs=1e-12)
        assert torch.allclose(targets, kept * smoothed(y, 5, 0) + (1 - kept) * smoothed(y.flip(0), 5, 0))
        if minmax:
            assert int(32 * 0.2) <= h < int(32 * 0.8) and int(24 * 0.2) <= w < int(24 * 0.8)  # timm truncates


def test_cutmix_box_follows_timm_rand_bbox():
    """Side ratio sqrt(1 - lam) around a uniform centre, clipped, as timm's `rand_bbox`: sides are
    int(H * ratio) rounded down to even where the box is not clipped, and the boxes' corners, sides
    and centres have the distributions of timm's own rand_bbox (two-sample KS, lam ~ Beta(1, 1))."""
    from scipy import stats
    from timm.data.mixup import rand_bbox

    n, side = 4000, 40
    mix = MixUpCutMix(3, mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", seed=5)
    params = mix.make_params(n, side, 40, np.random.default_rng(0))
    top, left, h, w = params.boxes.T
    assert (h >= 0).all() and (top + h <= side).all() and (left + w <= 40).all()
    # lam is the kept area, so it lies in [0, 1] and matches the box exactly
    assert np.allclose(params.lam, 1 - h * w / 1600.0)
    unclipped = (top > 0) & (top + h < side)
    assert unclipped.sum() > n // 4 and (h[unclipped] % 2 == 0).all()  # 2 * (cut_h // 2)

    np.random.seed(1)  # timm draws its centres from numpy's global generator
    theirs = []
    for lam in np.random.default_rng(2).beta(1.0, 1.0, n):
        yl, yh, xl, xh = rand_bbox((3, side, 40), lam)
        theirs.append((yl, xl, yh - yl, xh - xl))
    t_top, t_left, t_h, t_w = np.array(theirs).T
    t_unclipped = (t_top > 0) & (t_top + t_h < side)
    pairs = (("top", top, t_top), ("left", left, t_left), ("height", h, t_h), ("width", w, t_w),
             ("centre y", top + h / 2, t_top + t_h / 2), ("centre x", left + w / 2, t_left + t_w / 2),
             ("unclipped height", h[unclipped], t_h[t_unclipped]))
    for name, ours, reference in pairs:
        assert stats.ks_2samp(ours, reference).pvalue > 0.001, name
    # centres of boxes clipped nowhere are uniform over the positions their size allows
    inner = unclipped & (left > 0) & (left + w < 40)
    spare = side - h[inner] - 1  # top is uniform over the `spare` values 1 .. side - h - 1 for such boxes
    jitter = np.random.default_rng(3).random(inner.sum())  # spreads each value over its cell: U(0, 1) exactly
    assert stats.kstest((top[inner] - 1 + jitter) / spare, "uniform").pvalue > 0.001


def test_prob_zero_leaves_images_and_gives_smoothed_one_hot():
    x, y = batch()
    mix = MixUpCutMix(5, prob=0.0, label_smoothing=0.2, seed=0)
    out, targets = mix(x, y)
    assert torch.equal(out, x)
    assert torch.allclose(targets, smoothed(y, 5, 0.2))
    assert sorted(torch.unique(targets).tolist()) == pytest.approx([0.04, 0.84])


def test_lambda_follows_beta_alpha_alpha():
    """Mean 1/2 and variance 1/(4(2a+1)) of Beta(a, a); 20,000 draws, bounds of 5 standard errors.
    A Kolmogorov-Smirnov test against scipy's Beta(a, a) at the 0.001 level completes it."""
    from scipy import stats

    alpha = 0.8
    mix = MixUpCutMix(3, mixup_alpha=alpha, cutmix_alpha=0.0, mode="elem", seed=11)
    lam = mix.make_params(20000, 4, 4).lam
    var = 1 / (4 * (2 * alpha + 1))
    assert abs(lam.mean() - 0.5) < 5 * math.sqrt(var / 20000)
    assert abs(lam.var() - var) < 5 * math.sqrt(2 * var**2 / 20000) * 2  # loose: kurtosis of Beta < normal's
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 0.001


def test_switch_and_apply_probabilities():
    """Binomial counts within 4.5 standard deviations of n*p."""
    n = 8000
    mix = MixUpCutMix(3, mixup_alpha=1.0, cutmix_alpha=1.0, switch_prob=0.3, prob=0.6, mode="elem", seed=2)
    params = mix.make_params(n, 16, 16)
    cut = params.cutmix.sum()
    assert abs(cut - 0.3 * n) < 4.5 * math.sqrt(n * 0.3 * 0.7)
    mixed = (~params.cutmix & (params.lam != 1.0)).sum()
    expected = 0.7 * 0.6 * n
    assert abs(mixed - expected) < 4.5 * math.sqrt(n * 0.42 * 0.58)


def test_pair_mode_mixes_each_pair_symmetrically():
    x, y = batch(b=8)
    mix = MixUpCutMix(5, mixup_alpha=1.0, cutmix_alpha=0.0, mode="pair", label_smoothing=0.0, seed=4)
    params = mix.make_params(8, 9, 13)
    assert np.array_equal(params.lam, params.lam[::-1])
    assert len(set(params.lam[:4].tolist())) == 4
    out, targets = mix.apply(x, y, params)
    for i in range(8):
        lam = float(params.lam[i])
        assert torch.allclose(out[i], lam * x[i] + (1 - lam) * x[7 - i], atol=1e-6)
    assert torch.allclose(targets.sum(1), torch.ones(8))


def test_elem_mode_draws_per_sample():
    mix = MixUpCutMix(5, mixup_alpha=1.0, cutmix_alpha=1.0, mode="elem", seed=4)
    params = mix.make_params(16, 9, 13)
    assert len(set(params.lam.tolist())) > 8 and 0 < params.cutmix.sum() < 16


def test_seeded_and_reproducible():
    x, y = batch()
    a = MixUpCutMix(5, seed=9)(x, y)
    b = MixUpCutMix(5, seed=9)(x, y)
    c = MixUpCutMix(5, seed=10)(x, y)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


@pytest.mark.parametrize("kwargs, message", [
    ({"mixup_alpha": -1}, "mixup_alpha must be a finite number >= 0"),
    ({"cutmix_alpha": float("nan")}, "cutmix_alpha must be a finite number"),
    ({"mixup_alpha": 0, "cutmix_alpha": 0}, "both 0"),
    ({"mode": "sample"}, "mode must be one of"),
    ({"prob": 1.5}, "prob is a probability"),
    ({"label_smoothing": 1.0}, "label_smoothing must lie in"),
    ({"cutmix_minmax": (0.5, 0.2)}, "cutmix_minmax must satisfy"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixUpCutMix(5, **kwargs)


def test_odd_batch_in_pair_mode():
    x, y = batch(b=5)
    with pytest.raises(ValueError, match="'pair' needs an even batch size, got 5"):
        MixUpCutMix(5, mode="pair")(x, y)


def test_multi_hot_targets_are_mixed_as_given():
    x, _ = batch(b=4)
    y = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.float32)
    mix = MixUpCutMix(3, mixup_alpha=1.0, cutmix_alpha=0.0, seed=0)
    params = mix.make_params(4, 9, 13)
    _, targets = mix.apply(x, y, params)
    lam = float(params.lam[0])
    assert torch.allclose(targets, lam * y + (1 - lam) * y.flip(0))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_the_loader_yields_soft_targets_reproducibly(identity_folder, backend):
    root, _ = identity_folder

    def run():
        mix = MixUpCutMix(3, mixup_alpha=0.8, cutmix_alpha=1.0)
        with make_loader(root, train=True, batch_size=8, backend=backend, seed=1, mix=mix, num_threads=2) as loader:
            return [(x.clone(), t.clone()) for x, t in loader]

    first, second = run(), run()
    for (_, t1), (_, t2) in zip(first, second):
        assert t1.shape == (len(t1), 3) and t1.dtype == torch.float32
        assert torch.allclose(t1.sum(1), torch.ones(len(t1)), atol=1e-6)
        assert torch.equal(t1, t2)
    if backend == "torchvision":  # its images are deterministic too (DALI's are per pipeline seed)
        assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))


def test_the_loader_refuses_mix_in_eval_and_odd_pairs(identity_folder):
    root, _ = identity_folder
    with pytest.raises(ValueError, match="training augmentation"):
        make_loader(root, train=False, batch_size=4, mix=MixUpCutMix(3))
    with pytest.raises(ValueError, match=r"'pair' needs even batches; this loader yields batches of \[3\]"):
        make_loader(root, train=True, batch_size=4, mix=MixUpCutMix(3, mode="pair"))
    make_loader(root, train=True, batch_size=4, drop_last=True, mix=MixUpCutMix(3, mode="pair")).close()


@pytest.mark.gpu
def test_mix_runs_on_the_gpu():
    x, y = batch(b=8)
    out, targets = MixUpCutMix(5, mode="elem", seed=0)(x.cuda(), y.cuda())
    ref_out, ref_targets = MixUpCutMix(5, mode="elem", seed=0)(x, y)
    assert out.is_cuda and torch.allclose(out.cpu(), ref_out, atol=1e-6)
    assert torch.allclose(targets.cpu(), ref_targets, atol=1e-6)


def _general_mix(images, params):
    """The general formula (every sample blended and pasted, as before the fast paths)."""
    from dali_pipes.kernels.tv import box_mask

    lam = torch.as_tensor(params.lam, dtype=torch.float32)
    weight = lam.view(-1, 1, 1, 1).to(images.dtype)
    paired = images.flip(0)
    mixed = images * weight + paired * (1 - weight)
    inside = box_mask(params.boxes, images.shape[-2], images.shape[-1], images.device)
    use_cut = torch.as_tensor(params.cutmix).view(-1, 1, 1, 1)
    return torch.where(use_cut, torch.where(inside, paired, images), mixed)


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("alphas", [(0.2, 0.0), (0.0, 1.0), (0.8, 1.0)], ids=["mixup", "cutmix", "both"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_the_fast_paths_give_the_general_formulas_values(mode, alphas, dtype):
    """Whole-batch MixUp and one-box CutMix touch only what changes; the values are the general
    path's exactly, in place or not (and not in place leaves the batch alone)."""
    for seed in range(6):
        mix = MixUpCutMix(5, mixup_alpha=alphas[0], cutmix_alpha=alphas[1], mode=mode, prob=0.8, seed=seed)
        images = torch.randn(8, 3, 17, 23, generator=torch.Generator().manual_seed(seed)).to(dtype)
        labels = torch.arange(8) % 5
        params = mix.make_params(8, 17, 23, np.random.default_rng(seed))
        expected = _general_mix(images, params)
        kept = images.clone()
        out, _ = mix.apply(images, labels, params)
        assert torch.equal(out, expected) and torch.equal(images, kept)
        out, _ = mix.apply(images, labels, params, in_place=True)
        assert torch.equal(out, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_constant_erasing_fills_only_the_boxes(dtype):
    from dali_pipes import RandomErasing
    from dali_pipes.ops.erasing import apply, make_params

    cfg = RandomErasing(p=0.6, value=1.5)
    images = torch.randn(16, 3, 20, 30).to(dtype)
    params = make_params(cfg, 16, 20, 30, np.random.default_rng(0))
    assert (params.boxes[:, 0, 2] > 0).sum() >= 4  # some samples erased, some not
    inside = torch.zeros(16, 1, 20, 30, dtype=torch.bool)
    for i, (top, left, height, width) in enumerate(params.boxes[:, 0].tolist()):
        inside[i, :, top:top + height, left:left + width] = True
    expected = torch.where(inside, torch.tensor(1.5, dtype=dtype), images)
    kept = images.clone()
    assert torch.equal(apply(images, params, cfg), expected) and torch.equal(images, kept)
    assert torch.equal(apply(images, params, cfg, in_place=True), expected)
