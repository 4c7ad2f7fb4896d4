"""Train parity: the same crop box gives the same pixels on DALI and torchvision, and the sampled
boxes, flips and jitter factors follow torchvision's own distributions (two-sample KS tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision import transforms as v1
from torchvision.transforms import v2

from dali_pipes import ColorJitter, Preprocess, TrainTransform, make_loader
from dali_pipes.ops.crop import random_resized_crop_windows
from dali_pipes.params import draw_train_params
from dali_pipes.rng import uniforms
from dali_pipes.sources.decode import decode_rgb

from ..conftest import unnormalize
from .checkers import assert_crop_resize_close, assert_images_close

KS_ALPHA = 0.001
ROUND_TRIP = 0.01  # levels: what normalizing in float32 and undoing it in float64 can move a pixel


def torchvisions_own(decoded: torch.Tensor, cfg: TrainTransform, seed: int) -> torch.Tensor:
    """torchvision's RandomResizedCrop and RandomHorizontalFlip transforms (their `transform` step)
    applied with the window and coin the sample's seed draws: the reference is torchvision's code,
    not this package's kernels."""
    p = draw_train_params(cfg, [tuple(decoded.shape[-2:])], [seed]).sample(0)
    top, left, height, width = (int(v) for v in p["window"])
    crop = v2.RandomResizedCrop(cfg.size, scale=cfg.scale, ratio=cfg.ratio, antialias=True)
    image = crop.transform(decoded, dict(top=top, left=left, height=height, width=width))
    return v2.RandomHorizontalFlip(p=1.0)(image) if p["flip"] else image


def _dali_cpu_samples(folder, cfg: Preprocess, seed: int, resampler: str = "auto"):
    """(path, decoded image, sample seed, dali-cpu's output in levels) of the first batch of 64."""
    with make_loader(folder, train=True, batch_size=64, backend="dali-cpu", preset=cfg, seed=seed,
                     shuffle=False, resampler=resampler) as loader:
        outputs = unnormalize(next(iter(loader))[0])
        paths = [path for path, _ in loader.dataset.samples]
        seeds = loader.plan.sample_seeds(0)
    for i, path in enumerate(paths[:len(outputs)]):
        with open(path, "rb") as f:
            yield path, decode_rgb(f.read(), path), seeds[i], outputs[i]


def _windows_and_outputs(folder, backend, seed, resampler="auto"):
    with make_loader(folder, train=True, batch_size=64, backend=backend, seed=seed, shuffle=False,
                     resampler=resampler) as loader:
        images, _ = next(iter(loader))
        paths = [path for path, _ in loader.dataset.samples]
        seeds = loader.plan.sample_seeds(0)
        cfg = loader.preprocess.train
    return unnormalize(images), paths, seeds, cfg


@pytest.mark.parametrize("backend, resampler", [("dali-cpu", "torch"), ("dali-cpu", "dali"), ("torchvision", "auto")])
def test_the_same_crop_box_gives_torchvisions_resized_crop(photo_folder, backend, resampler):
    """torchvision's kernel (the torchvision backend, and dali-cpu's default resampler) meets the strict
    bound on every pixel; DALI's fn.resize (the GPU's resampler) differs on the crop's outer frame."""
    outputs, paths, seeds, cfg = _windows_and_outputs(photo_folder, backend, seed=3, resampler=resampler)
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            decoded = decode_rgb(f.read(), path)
        expected = torchvisions_own(decoded, cfg, seeds[i])
        if resampler != "dali":  # the same decoder output and the same kernel: the same pixels
            assert_images_close(outputs[i], expected.double(), min_psnr=100.0, max_abs=ROUND_TRIP, what=path)
        else:
            assert_crop_resize_close(outputs[i], expected.double(), what=path)


SHAPES = [(375, 500), (500, 375), (224, 224), (60, 1000), (1000, 45), (33, 17)]
DRAWS = 3000


def _torchvision_windows(h, w, scale, ratio, n):
    torch.manual_seed(0)
    image = torch.empty(3, h, w)
    return np.array([v1.RandomResizedCrop.get_params(image, list(scale), list(ratio)) for _ in range(n)])


def _statistics(windows, h, w):
    top, left, ch, cw = windows.T.astype(np.float64)
    return {"area": ch * cw / (h * w), "log_aspect": np.log(cw / ch),
            "top": (top + 0.5) / (h - ch + 1), "left": (left + 0.5) / (w - cw + 1)}


@pytest.mark.parametrize("h, w", SHAPES)
def test_crop_boxes_follow_random_resized_crop(h, w):
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    ours = random_resized_crop_windows(np.tile([h, w], (DRAWS, 1)), scale, ratio,
                                       uniforms(np.arange(DRAWS) + 12345, 22))
    theirs = _torchvision_windows(h, w, scale, ratio, DRAWS)
    assert (ours[:, 2] >= 1).all() and (ours[:, 0] + ours[:, 2] <= h).all() and (ours[:, 1] + ours[:, 3] <= w).all()
    a, b = _statistics(ours, h, w), _statistics(theirs, h, w)
    for name in a:
        result = stats.ks_2samp(a[name], b[name])
        assert result.pvalue > KS_ALPHA, f"{name} for {h}x{w}: KS p={result.pvalue:.2g}"
    # the central fallback: identical windows, and as often
    def fallback(win):
        return (win[:, 0] == (h - win[:, 2]) // 2) & (win[:, 1] == (w - win[:, 3]) // 2) & (
            win[:, 2] * win[:, 3] > 0.99 * min(h * w, (h if w / h > 4 / 3 else w) ** 2 * (4 / 3)))

    p_ours, p_theirs = fallback(ours).mean(), fallback(theirs).mean()
    pooled = (p_ours + p_theirs) / 2
    assert abs(p_ours - p_theirs) <= 4.5 * np.sqrt(max(pooled * (1 - pooled), 1e-9) * 2 / DRAWS) + 1e-9


def test_fallback_shapes_really_fall_back():
    """On a 60 x 1000 image most of the 10 attempts cannot fit: the fallback is frequent."""
    ours = random_resized_crop_windows(np.tile([60, 1000], (DRAWS, 1)), (0.08, 1.0), (3 / 4, 4 / 3),
                                       uniforms(np.arange(DRAWS), 22))
    central = (ours[:, 2] == 60) & (ours[:, 3] == 80) & (ours[:, 1] == 460)
    assert central.mean() > 0.05


def test_flip_and_jitter_parameters_follow_torchvision():
    n = 4800
    cfg = TrainTransform(hflip=0.5, color_jitter=ColorJitter(brightness=0.4, contrast=0.3, saturation=0.5, hue=0.1))
    ours = draw_train_params(cfg, np.tile([100, 100], (n, 1)), np.arange(n) * 7 + 1)
    assert abs(ours.flip.sum() - n / 2) <= 4.5 * np.sqrt(n / 4)
    torch.manual_seed(1)
    theirs = [v1.ColorJitter.get_params([0.6, 1.4], [0.7, 1.3], [0.5, 1.5], [-0.1, 0.1]) for _ in range(n)]
    for k in range(4):
        reference = np.array([float(t[k + 1]) for t in theirs])
        assert stats.ks_2samp(ours.jitter[:, k], reference).pvalue > KS_ALPHA, f"jitter factor {k}"
    # the application order is a uniform random permutation (chi-square, 23 d.o.f., 0.999 quantile 49.73)
    codes = ours.jitter_order @ np.array([64, 16, 4, 1])
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == 24
    assert float(((counts - n / 24) ** 2 / (n / 24)).sum()) < 49.73


@pytest.mark.parametrize("resampler, exact_edges, channels_last",
                         [("torch", False, False), ("torch", False, True), ("dali", False, False),
                          ("dali", True, False)])
def test_pad_crop_is_identical_on_both_backends(resampler, exact_edges, channels_last):
    """32 x 32 windows of 32 x 32 images: nothing to resample (the torch resampler hands back a copy
    of its input, in either layout)."""
    from dali_pipes import PRESETS, Normalize

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
    labels = np.zeros(64, dtype=np.int64)
    cfg = PRESETS["cifar10"]
    cfg = Preprocess(train=TrainTransform(size=32, geometry="pad_crop", exact_edges=exact_edges),
                     eval=cfg.eval,
                     normalize=Normalize(cfg.normalize.mean, cfg.normalize.std, channels_last=channels_last))
    outputs = []
    for backend in ("dali-cpu", "torchvision"):
        with make_loader((images, labels), train=True, batch_size=64, backend=backend, preset=cfg, seed=9,
                         num_threads=2, resampler=resampler if backend == "dali-cpu" else "auto") as loader:
            outputs.append(next(iter(loader))[0])
    assert torch.allclose(outputs[0], outputs[1], atol=1e-5)


@pytest.mark.parametrize("factors", [(0.4, 0, 0), (0, 0.4, 0), (0, 0, 0.4)],
                         ids=["brightness", "contrast", "saturation"])
def test_each_jitter_factor_gives_torchvisions_pixels(photo_folder, factors):
    """One jitter op at a time (so torchvision's random order cannot matter): the same factor gives
    the same pixels. dali-cpu's default runs the resize and the jitter in torch inside its graph, with
    torchvision's arithmetic; the factor it gets is the float32 DALI is fed, where the torchvision
    backend keeps float64: at most 1 level on a few pixels (the exact arithmetic is the next test)."""
    cfg = Preprocess(train=TrainTransform(color_jitter=ColorJitter(*factors)))
    outputs = []
    for backend in ("dali-cpu", "torchvision"):
        with make_loader(photo_folder, train=True, batch_size=64, backend=backend, preset=cfg, seed=2,
                         shuffle=False) as loader:
            outputs.append(unnormalize(next(iter(loader))[0]))
    for i in range(len(outputs[0])):
        assert_images_close(outputs[0][i], outputs[1][i], min_psnr=50.0, max_abs=1.0 + ROUND_TRIP,
                            what=f"sample {i}")


def test_dali_cpu_jitter_is_torchvisions_kernels_in_the_graphs_order(photo_folder):
    """All three factors at once: dali-cpu's default (jitter in torch inside its graph) gives exactly
    torchvision's crop, then its adjust_brightness, adjust_contrast and adjust_saturation in the
    graph's fixed order with the sample's factors - the reference is torchvision's own code."""
    from torchvision.transforms.v2 import functional as F

    cfg = Preprocess(train=TrainTransform(color_jitter=ColorJitter(0.4, 0.4, 0.4)))
    for path, decoded, seed, output in _dali_cpu_samples(photo_folder, cfg, seed=4):
        image = torchvisions_own(decoded, cfg.train, seed)
        factors = draw_train_params(cfg.train, [tuple(decoded.shape[-2:])], [seed]).sample(0)["jitter"]
        for kernel, factor in zip((F.adjust_brightness, F.adjust_contrast, F.adjust_saturation), factors):
            image = kernel(image, float(np.float32(factor)))  # fed to the graph as float32
        assert_images_close(output, image.double(), min_psnr=100.0, max_abs=ROUND_TRIP, what=path)


@pytest.mark.parametrize("jitter", [ColorJitter(0.4, 0.4, 0.4), ColorJitter(0.8, 0.6, 1.0, 0.2, p=0.8),
                                    ColorJitter(0.0, 0.5, 0.0), ColorJitter(0.3, 0.0, 0.6, 0.5)],
                         ids=["bcs", "bcsh-p", "contrast", "bsh"])
def test_torchvision_backends_jitter_is_torchvisions_color_jitter(photo_folder, jitter):
    """The torchvision backend's jitter (brightness, contrast and saturation in float from one
    conversion) gives exactly torchvision's own ColorJitter.transform with the sample's factors and
    random order: on crops of photos and on random pixels (saturated and flat levels included)."""
    from dali_pipes.ops.color_jitter import ColorJitterOp

    cfg = TrainTransform(color_jitter=jitter)
    theirs = v2.ColorJitter(jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue or None)
    rng = np.random.default_rng(3)
    photos = [decode_rgb(path.read_bytes(), str(path))[:, :160, :200] for path in sorted(photo_folder.rglob("*.jpg"))]
    randoms = [torch.from_numpy(rng.integers(0, 256, (3, 48, 40), dtype=np.uint8)) for _ in range(8)]
    flat = [torch.full((3, 16, 16), 255, dtype=torch.uint8), torch.zeros(3, 9, 7, dtype=torch.uint8)]
    images = photos[:24] + randoms + flat
    params = draw_train_params(cfg, [tuple(image.shape[-2:]) for image in images], list(range(len(images))))
    for i, image in enumerate(images):
        values = params.sample(i)
        b, c, s, h = (float(v) for v in values["jitter"])
        reference = theirs.transform(image, dict(
            fn_idx=torch.as_tensor(values["jitter_order"]), brightness_factor=b if jitter.brightness else None,
            contrast_factor=c if jitter.contrast else None, saturation_factor=s if jitter.saturation else None,
            hue_factor=h if jitter.hue else None))
        assert torch.equal(ColorJitterOp().torch(image, values, cfg), reference), f"image {i}"


@pytest.mark.parametrize("factors", [(0.4, 0, 0), (0, 0.4, 0), (0, 0, 0.4)],
                         ids=["brightness", "contrast", "saturation"])
def test_each_jitter_factor_with_dalis_resampler(photo_folder, factors):
    """The GPU's graph (fn.resize, then DALI's jitter ops), run on the CPU: the crop-resize bound."""
    cfg = Preprocess(train=TrainTransform(color_jitter=ColorJitter(*factors)))
    outputs = []
    for backend in ("dali-cpu", "torchvision"):
        with make_loader(photo_folder, train=True, batch_size=64, backend=backend, preset=cfg, seed=2,
                         shuffle=False, resampler="dali" if backend == "dali-cpu" else "auto") as loader:
            outputs.append(unnormalize(next(iter(loader))[0]))
    for i in range(len(outputs[0])):
        assert_crop_resize_close(outputs[0][i], outputs[1][i], what=f"sample {i}")


def test_exact_edges_meet_the_strict_bound_everywhere(photo_folder):
    """With exact_edges, DALI's resampler (the GPU's) puts the whole image (frame included) within
    2.5 levels of resized_crop."""
    cfg = Preprocess(train=TrainTransform(exact_edges=True))
    for path, decoded, seed, output in _dali_cpu_samples(photo_folder, cfg, seed=3, resampler="dali"):
        expected = torchvisions_own(decoded, cfg.train, seed)
        assert_images_close(output, expected.double(), min_psnr=50.0, max_abs=2.5, what=path)


@pytest.mark.parametrize("resampler", ["torch", "dali"])
def test_the_gpus_whole_decode_and_slice_equals_the_fused_window_decode(photo_folder, monkeypatch, resampler):
    """The GPU decodes whole images and slices the window; the CPU decodes only the window. Run the
    GPU's variant on the CPU: the pixels are the same (JPEG, PNG, grayscale, CMYK, odd sizes)."""
    from dali_pipes.dali import graph

    def first_batch():
        with make_loader(photo_folder, train=True, batch_size=64, backend="dali-cpu", seed=5, shuffle=False,
                         resampler=resampler) as loader:
            return next(iter(loader))[0]

    fused = first_batch()
    asked = []
    monkeypatch.setattr(graph, "fuses_window_decode", lambda device: asked.append(device) or False)
    assert torch.equal(first_batch(), fused)
    assert asked == ["cpu"]


def test_torch_nodes_hue_is_dalis_hue():
    """dali-cpu's torch node rotates the hue as DALI's fn.hue (the GPU graph's op): its YIQ matrices,
    rounded to the nearest level; a different summation order moves rounding ties by 1 level."""
    from nvidia.dali import fn, pipeline_def

    from dali_pipes.kernels.color import dali_hue

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (96, 80, 3), dtype=np.uint8) for _ in range(8)]
    hues = np.float32([-180, -36, -7.5, 0, 0.4, 12, 36, 179.9])

    @pipeline_def(batch_size=8, num_threads=1, device_id=None)
    def pipe():
        x = fn.external_source(lambda: images, batch=True, layout="HWC")
        h = fn.external_source(lambda: list(hues), batch=True)
        return fn.hue(x, hue=h)

    p = pipe()
    p.build()
    differing = total = 0
    for image, hue, expected in zip(images, hues, p.run()[0]):
        pixels = torch.from_numpy(image).permute(2, 0, 1).contiguous().to(torch.float32)
        got = dali_hue(pixels, float(hue)).permute(1, 2, 0).numpy().astype(int)
        diff = np.abs(got - np.array(expected).astype(int))
        assert diff.max() <= 1, hue
        differing, total = differing + int((diff > 0).sum()), total + diff.size
    assert differing / total < 1e-4


def test_vertical_flip_is_torchvisions_on_every_engine(photo_folder):
    """TrainTransform(vflip=p), timm's `vflip` (RandomVerticalFlip): each sample flipped upside down
    with probability p, the same samples on every engine; with vflip=1 every sample of the batch is
    the unflipped batch's sample upside down (the same crop: the draw moves nothing else)."""
    batches = {}
    for vflip in (0.0, 0.5, 1.0):
        cfg = Preprocess(train=TrainTransform(size=48, vflip=vflip))
        for backend, resampler in (("torchvision", "auto"), ("dali-cpu", "torch"), ("dali-cpu", "dali")):
            with make_loader(photo_folder, train=True, batch_size=16, backend=backend, preset=cfg, seed=5,
                             num_threads=2, resampler=resampler) as loader:
                batches[vflip, backend, resampler] = unnormalize(next(iter(loader))[0]).round()
    flipped = []
    for engine in (("torchvision", "auto"), ("dali-cpu", "torch"), ("dali-cpu", "dali")):
        plain, half, full = (batches[(v,) + engine] for v in (0.0, 0.5, 1.0))
        assert torch.equal(full, plain.flip(-2)), engine
        flipped.append([torch.equal(half[k], full[k]) and not torch.equal(half[k], plain[k]) for k in range(len(half))])
        assert all(torch.equal(half[k], full[k] if f else plain[k]) for k, f in enumerate(flipped[-1]))
    assert flipped[0] == flipped[1] == flipped[2] and 0 < sum(flipped[0]) < len(flipped[0])
    p = draw_train_params(TrainTransform(vflip=0.3), [(300, 400)] * 20000, list(range(20000)))
    assert abs(p.vflip.mean() - 0.3) < 4 * (0.3 * 0.7 / 20000) ** 0.5
