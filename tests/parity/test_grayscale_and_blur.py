"""RandomGrayscale and GaussianBlur: drawn as torchvision draws them (binomial bounds, KS against
torchvision's own GaussianBlur), independent of the other ops' draws, and the same pixels on both
backends; the torchvision backend's outputs equal torchvision's own transform classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import v2

from dali_pipes import GaussianBlur, Preprocess, RandomGrayscale, TrainTransform, make_loader
from dali_pipes.params import draw_train_params
from dali_pipes.sources.decode import decode_rgb

from ..conftest import unnormalize
from .checkers import assert_crop_resize_close, assert_images_close

KS_ALPHA = 0.001
N = 4800
Z = 4.5  # |binomial deviation| bound in standard deviations: fails by chance with p < 1e-5


def _draws(cfg: TrainTransform, n: int = N):
    return draw_train_params(cfg, np.tile([100, 120], (n, 1)), np.arange(n) * 13 + 5)


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits - n * p) <= Z * np.sqrt(n * p * (1 - p)) + 1e-9


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
def test_grayscale_turns_a_fraction_p_grey(p):
    flags = _draws(TrainTransform(grayscale=RandomGrayscale(p))).grayscale
    assert _binomial_ok(int(flags.sum()), N, p), flags.mean()


def test_blur_sigma_follows_torchvisions_gaussian_blur():
    cfg = TrainTransform(blur=GaussianBlur(23, sigma=(0.1, 2.0), p=0.5))
    ours = _draws(cfg)
    assert _binomial_ok(int(ours.blur.sum()), N, 0.5)
    torch.manual_seed(0)
    theirs = [v2.GaussianBlur(23, sigma=(0.1, 2.0)).make_params([])["sigma"][0] for _ in range(N)]
    result = stats.ks_2samp(ours.blur_sigma, theirs)
    assert result.pvalue > KS_ALPHA, f"KS p={result.pvalue:.2g}"
    assert ours.blur_sigma.min() >= 0.1 and ours.blur_sigma.max() < 2.0


def test_the_new_streams_are_independent_of_the_flip_and_of_each_other():
    """The phi coefficient of two independent coins is ~ N(0, 1/n): |phi| sqrt(n) < Z."""
    d = _draws(TrainTransform(grayscale=RandomGrayscale(0.5), blur=GaussianBlur(5, p=0.5)))
    for a, b in ((d.flip, d.grayscale), (d.flip, d.blur), (d.grayscale, d.blur)):
        phi = np.corrcoef(a.astype(float), b.astype(float))[0, 1]
        assert abs(phi) * np.sqrt(N) < Z, phi
    # and the sigma does not depend on whether the sample is blurred or grey (KS between halves)
    assert stats.ks_2samp(d.blur_sigma[d.grayscale], d.blur_sigma[~d.grayscale]).pvalue > KS_ALPHA


CFG = Preprocess(train=TrainTransform(grayscale=RandomGrayscale(0.5), blur=GaussianBlur(7, sigma=(0.5, 2.0), p=0.5)))


def _outputs(folder, backend, resampler="auto", cfg=CFG):
    with make_loader(folder, train=True, batch_size=64, backend=backend, preset=cfg, seed=4, shuffle=False,
                     resampler=resampler) as loader:
        images = unnormalize(next(iter(loader))[0])
        paths = [path for path, _ in loader.dataset.samples]
        seeds = loader.plan.sample_seeds(0)
    return images, paths, seeds


def test_the_torchvision_backend_is_torchvisions_own_transforms(photo_folder):
    """Each output equals torchvision's transform classes (RandomResizedCrop, RandomHorizontalFlip,
    Grayscale, GaussianBlur) applied with the sample's drawn parameters."""
    outputs, paths, seeds = _outputs(photo_folder, "torchvision")
    t = CFG.train
    crop = v2.RandomResizedCrop(t.size, scale=t.scale, ratio=t.ratio, antialias=True)
    seen = {"grey": 0, "blur": 0}
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            image = decode_rgb(f.read(), path)
        p = draw_train_params(t, [tuple(image.shape[-2:])], [seeds[i]]).sample(0)
        top, left, height, width = (int(v) for v in p["window"])
        image = crop.transform(image, dict(top=top, left=left, height=height, width=width))
        if p["flip"]:
            image = v2.RandomHorizontalFlip(p=1.0)(image)
        if p["grayscale"]:
            image = v2.Grayscale(num_output_channels=3)(image)
            seen["grey"] += 1
        if p["blur"]:
            sigma = float(p["blur_sigma"])
            image = v2.GaussianBlur(t.blur.kernel_size, sigma=(sigma, sigma))(image)
            seen["blur"] += 1
        assert_images_close(outputs[i], image.double(), min_psnr=100.0, max_abs=0.01, what=path)
    assert min(seen.values()) > 0, seen  # both ops really ran on some samples


@pytest.mark.parametrize("resampler", ["torch", "dali"])
def test_dali_gives_the_torchvision_backends_pixels(photo_folder, resampler):
    """The same draws on both backends. With the same resize kernel (dali-cpu's default) DALI's
    luma blend is exact and its blur within one level (float32 sums in another order can move a
    rounding tie); with DALI's resampler (the GPU's) the crop-resize bound, its frame widened by the
    kernel's half (the blur carries the frame's differences that far inward)."""
    dali, paths, _ = _outputs(photo_folder, "dali-cpu", resampler)
    reference, _, _ = _outputs(photo_folder, "torchvision")
    half = max(CFG.train.blur.kernel_size) // 2
    for i, path in enumerate(paths):
        if resampler == "torch":
            assert_images_close(dali[i], reference[i], min_psnr=60.0, max_abs=1.01, what=path)
        else:
            assert_crop_resize_close(dali[i], reference[i], frame=2 + half, what=path)


@pytest.mark.parametrize("resampler", ["torch", "dali"])
def test_grayscale_alone_is_exact_on_dali(photo_folder, resampler):
    """DALI's grey (a per-sample colour matrix, truncation as torchvision) equals F.rgb_to_grayscale
    exactly: with the torch resampler the outputs are the torchvision backend's to the round trip."""
    cfg = Preprocess(train=TrainTransform(grayscale=RandomGrayscale(0.5)))
    dali, paths, _ = _outputs(photo_folder, "dali-cpu", resampler, cfg)
    reference, _, _ = _outputs(photo_folder, "torchvision", "auto", cfg)
    for i, path in enumerate(paths):
        if resampler == "torch":
            assert_images_close(dali[i], reference[i], min_psnr=100.0, max_abs=0.01, what=path)
        else:
            assert_crop_resize_close(dali[i], reference[i], what=path)


def test_grey_samples_have_three_equal_channels_on_dali(photo_folder):
    cfg = Preprocess(train=TrainTransform(grayscale=RandomGrayscale(0.5)))
    outputs, paths, seeds = _outputs(photo_folder, "dali-cpu", "dali", cfg)
    grey = [bool(draw_train_params(cfg.train, [(10, 10)], [s]).grayscale[0]) for s in seeds]
    assert 0 < sum(grey) < len(grey)
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            decoded = decode_rgb(f.read(), path)
        grey[i] |= bool((decoded == decoded[0]).all())  # a grey photo stays grey
    for i, image in enumerate(outputs):
        spread = float((image.amax(dim=0) - image.amin(dim=0)).max())
        assert (spread < 0.01) == grey[i], f"{paths[i]}: channel spread {spread:.2f}, grey={grey[i]}"


def test_the_separable_blur_is_within_a_level_of_torchvisions():
    """dali-cpu's torch node blurs with the same 1-D kernels as two passes: at most 1 level from
    torchvision's 2-D kernel, on a tiny fraction of pixels (float sums in another order)."""
    from torchvision.transforms.v2 import functional as F

    from dali_pipes.ops.blur import separable_gaussian_blur

    rng = np.random.default_rng(5)
    differing = total = 0
    for _ in range(24):
        h, w = (int(v) for v in rng.integers(24, 160, 2))
        image = torch.from_numpy(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).permute(2, 0, 1)
        kernel = (int(rng.choice([3, 5, 9, 23])), int(rng.choice([3, 7, 23])))
        sigma = float(rng.uniform(0.1, 2.0))
        diff = (separable_gaussian_blur(image, kernel, sigma).int()
                - F.gaussian_blur(image, list(kernel), [sigma, sigma]).int()).abs()
        assert int(diff.max()) <= 1, (kernel, sigma)
        differing, total = differing + int((diff > 0).sum()), total + diff.numel()
    assert differing / total < 1e-3


def test_consecutive_torch_parts_share_one_node_and_keep_the_order():
    """SimCLR's chain on dali-cpu: the whole jitter (b/c/s, then DALI's hue), grayscale and blur in
    the resampler's torch node; an op with a DALI part after its torch part splits the node there;
    with DALI's resampler (the GPU's graph) every op is its DALI part."""
    from dali_pipes import ColorJitter, GaussianBlur, RandomGrayscale
    from dali_pipes.dali.graph import Resampler, pixel_steps
    from dali_pipes.ops import active_ops
    from dali_pipes.ops.base import SampleOp

    class HalfInTorch(SampleOp):
        def in_torch_node(self, cfg):
            return True

        def dali_after_torch(self, cfg):
            return True

    cfg = TrainTransform(color_jitter=ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8), grayscale=RandomGrayscale(0.2),
                         blur=GaussianBlur(23, p=0.5))
    jitter, grey, blur = [op for op in active_ops(cfg) if op.stage == "pixels"]
    assert pixel_steps([jitter, grey, blur], cfg, Resampler("torch", 2)) == [[jitter, grey, blur]]
    half = HalfInTorch()
    steps = pixel_steps([jitter, half, grey], cfg, Resampler("torch", 2))
    assert steps == [[jitter, half], half.dali_after_torch_node, [grey]]
    assert pixel_steps([jitter, grey, blur], cfg, Resampler("dali", 2)) == [jitter.dali, grey.dali, blur.dali]
