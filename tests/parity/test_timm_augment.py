"""timm's auto-augmentations (`TimmAugment`) mean what they mean in timm.

- The draws against timm's own transforms (built by timm from the same string, run with each
  op's PIL call recorded instead of made): which ops apply (chi-square over the categories), and
  each op's parameter (KS for continuous ones, chi-square for discrete ones), the filters too.
- The CPU kernels (`kernels.timm_ops`, both CPU backends) equal timm's op functions pixel for pixel.
- The DALI graph (the GPU's, run here on the CPU) keeps each op's bound against timm's ops.
- Whole loaders: the torchvision backend and dali-cpu give the same batches; from_timm maps timm's
  arguments (fill from the mean, the jitter off under a policy, as timm).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from dali_pipes import Preprocess, TimmAugment, TrainTransform, make_loader
from dali_pipes.errors import ConfigError
from dali_pipes.ops import timm_augment as K
from dali_pipes.ops.timm_augment import LEVELS, MAX_LAYERS, PER_LAYER, draw_timm, inverse_maps, plan
from dali_pipes.rng import uniforms

from ..conftest import unnormalize
from .checkers import run_dali_layer

aa = pytest.importorskip("timm.data.auto_augment", reason="timm (the test extra) builds the reference transforms")

SIZE = 48
SPECS = ["rand-m9-mstd0.5-inc1", "rand-m7-mstd0.5-inc1", "rand-m9-n2", "rand-m10-mstd101-n3", "rand-m9-n3-tweights",
         "rand-m9-p0.8-mmax15-mstd3", "original", "originalr", "v0", "v0r", "3a", "original-mstd0.5"]
PIL_FILTER = {Image.Resampling.BILINEAR: "bilinear", Image.Resampling.BICUBIC: "bicubic",
              Image.Resampling.NEAREST: "nearest"}


def _timm_transform(spec: str):
    hparams = {"translate_const": int(SIZE * 0.45), "img_mean": (124, 116, 104)}
    return aa.rand_augment_transform(spec, hparams) if spec.startswith("rand") else aa.auto_augment_transform(spec,
                                                                                                            hparams)


def _recorder(name, calls):
    """Stands in for one AugmentOp's PIL call: records (kernel op, parameter, filter) as our kernels
    would receive them, drawing what timm's function itself draws (its filter, the random blur radius)."""
    kernel_op = LEVELS[name][0]

    def record(img, *args, **kwargs):
        arg = float(args[0]) if args else 0.0
        if name in ("TranslateXRel", "TranslateYRel"):
            arg *= img.size[0] if name == "TranslateXRel" else img.size[1]
        elif name == "Desaturate":
            arg = min(1., max(0., 1. - arg))
        elif name == "GaussianBlurRand":
            arg = random.uniform(0.1, 2.0 * arg)  # noqa: S311 (timm's own draw, replayed)
        resample = kwargs.get("resample")
        if isinstance(resample, (tuple, list)):
            resample = random.choice(resample)  # noqa: S311 (timm's own draw, replayed)
        filt = PIL_FILTER[resample] if kernel_op in K.GEOMETRIC else "bilinear"
        calls[-1].append((kernel_op, arg, filt))
        return img
    return record


def _timm_draws(spec: str, n: int) -> list[list[tuple]]:
    transform, calls = _timm_transform(spec), []
    ops = transform.ops if spec.startswith("rand") else [op for sub in transform.policy for op in sub]
    for op in ops:
        op.aug_fn = _recorder(op.name, calls)
    random.seed(0)
    np.random.seed(0)
    image = Image.new("RGB", (SIZE, SIZE))
    for _ in range(n):
        calls.append([])
        transform(image)
    return calls


def _our_draws(spec: str, n: int) -> list[list[tuple]]:
    u = uniforms(np.arange(n) * 7 + 3, 1 + PER_LAYER * MAX_LAYERS, 5000)
    ops, args = draw_timm(TimmAugment(spec), SIZE, u)
    return [[(K.OPS[o], float(a), K.RESAMPLE_IDS[f] if K.OPS[o] in K.GEOMETRIC else "bilinear")
             for (o, f), a in zip(row_ops, row_args) if K.OPS[o] != "Identity"] for row_ops, row_args in zip(ops, args)]


def _chi2_same(ours: list, theirs: list) -> float:
    categories = sorted(set(ours) | set(theirs), key=repr)
    a, b = Counter(ours), Counter(theirs)
    counts = np.array([[a[c] for c in categories], [b[c] for c in categories]])
    frequent = counts.sum(axis=0) >= 10
    pooled = np.column_stack([counts[:, frequent], counts[:, ~frequent].sum(axis=1, keepdims=True)])
    pooled = pooled[:, pooled.sum(axis=0) > 0]
    return stats.chi2_contingency(pooled).pvalue if pooled.shape[1] > 1 else 1.0


@pytest.mark.parametrize("spec", SPECS)
def test_draws_follow_timms(spec):
    """Which ops apply to an image (with their filters; the whole applied sequence for
    AutoAugment's sub-policies and weighted choice, per layer otherwise), and each op's parameter
    distribution: 6000 images of ours and timm's look like draws of one distribution (p > 1e-3;
    a failing seed would be a 1-in-1000 event if the distributions were equal)."""
    n = 6000
    ours, theirs = _our_draws(spec, n), _timm_draws(spec, n)
    whole = not spec.startswith("rand") or "tweights" in spec
    if whole:
        assert _chi2_same([tuple((o, f) for o, _, f in row) for row in ours],
                          [tuple((o, f) for o, _, f in row) for row in theirs]) > 1e-3
    else:
        assert _chi2_same([len(row) for row in ours], [len(row) for row in theirs]) > 1e-3  # how many applied
        assert _chi2_same([(o, f) for row in ours for o, _, f in row],
                          [(o, f) for row in theirs for o, _, f in row]) > 1e-3
    params = defaultdict(lambda: ([], []))
    for side, rows in ((0, ours), (1, theirs)):
        for row in rows:
            for o, a, _ in row:
                params[o][side].append(a)
    for op, (a, b) in params.items():
        if min(len(a), len(b)) < 30:
            continue
        if len(set(a) | set(b)) <= 24:  # discrete parameters: the same values, the same frequencies
            assert set(a) <= set(b) | {v for v in set(a) if a.count(v) < 5}, (op, sorted(set(a) - set(b)))
            assert _chi2_same(a, b) > 1e-3, op
        else:
            assert stats.ks_2samp(a, b).pvalue > 1e-3, op


def test_timm_refusals_name_the_string():
    for spec, words in (("rand-m9-x3", "timm does not accept"), ("augmix-m5", "AugMix"),
                        ("nonsense", "timm does not accept")):
        with pytest.raises(ConfigError, match=words):
            TrainTransform(timm_augment=TimmAugment(spec))
    with pytest.raises(ConfigError, match="choose one"):
        from dali_pipes import AutoAugment
        TrainTransform(timm_augment=TimmAugment("rand-m9"), auto_augment=AutoAugment("randaugment"))


def _photo(h, w, seed):
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h, w, 3))
    return np.clip(noise * 0.4 + np.linspace(0, 150, w)[None, :, None], 0, 255).astype(np.uint8)


GRID = {"Rotate": [30., -27., 9.3, 0., 90.], "Posterize": [0, 1, 2, 4, 7, 8], "Solarize": [0, 128, 200, 256],
        "SolarizeAdd": [0, 50, 110], "ShearX": [0.3, -0.27, 0.], "ShearY": [0.3, -0.27], "TranslateX": [10., -21.6, 0.],
        "TranslateY": [10., -21.6], "GaussianBlur": [0.1, 1.0, 2.0]}
NO_ARGS = ("Identity", "AutoContrast", "Equalize", "Invert")


def _grid(op):
    return GRID.get(op, [0.0] if op in NO_ARGS else [0.1, 0.5, 1.0, 1.9])


def _filters(op):
    return ("bilinear", "bicubic", "nearest") if op in K.GEOMETRIC else ("bilinear",)


def _timm_op(image: np.ndarray, op: str, arg: float, filt: str, fill=(124, 116, 104)) -> np.ndarray:
    """timm's own op function (NAME_TO_OP) on the image."""
    if op == "Identity":
        return image
    if op == "Posterize" and arg < 1:  # PIL >= 12 refuses 0 bits; older PIL (and torchvision) give black
        return np.zeros_like(image)
    args = () if op in NO_ARGS else (arg,)
    out = aa.NAME_TO_OP[op](Image.fromarray(image), *args, fillcolor=fill, resample=K.RESAMPLE[filt])
    return np.asarray(out)


@pytest.mark.parametrize("op", K.OPS)
def test_cpu_kernels_are_timms_ops(op):
    for h, w, seed in [(SIZE, SIZE, 1), (37, 51, 2), (224, 224, 4)]:
        hwc = _photo(h, w, seed)
        for image in (torch.from_numpy(hwc).permute(2, 0, 1), torch.from_numpy(hwc).permute(2, 0, 1).contiguous()):
            for arg in _grid(op):
                for filt in _filters(op):
                    got = K.apply(image, op, arg, filt, (124, 116, 104)).permute(1, 2, 0).numpy()
                    assert np.array_equal(got, _timm_op(hwc, op, arg, filt)), (op, arg, filt, h, w)


# the DALI graph (the GPU's) against timm's ops: (max level difference, share of pixels that may
# differ); docs/parity.md derives them. Bicubic samples are filtered bilinearly (DALI's warp has no
# bicubic): those stay within 1 level of timm's op with the bilinear filter.
BOUNDS = {"AutoContrast": (1, 0.01), "Equalize": (3, 1.0), "GaussianBlur": (20, 0.6)}
GEOMETRY = (1, 0.6)
BLUR_INTERIOR = 5


def _dali_layer(images, ops, args, flips, t, device="cpu"):
    from dali_pipes.ops.timm_augment import apply_layer

    affine = inverse_maps(ops, args, SIZE, flips)
    return run_dali_layer(images, (ops, args, affine), lambda x, o, a, m: apply_layer(x, o[0, 0], a[0], m[0], device,
                                                                                      t, SIZE), device)


def _check_dali_graph(device):
    t = TimmAugment("rand-m9")
    cases = [(op, a, f, flip) for op in K.OPS for a in _grid(op) for f in _filters(op)[:2] for flip in (False, True)]
    cases = [c for c in cases if not (c[0] == "Posterize" and c[1] < 1)]
    images = [_photo(SIZE, SIZE, k) for k in range(len(cases))]
    ops = np.array([[[K.OP_ID[o], K.RESAMPLE_IDS.index(f)]] for o, _, f, _ in cases], dtype=np.int32)
    args = np.array([[a] for _, a, _, _ in cases], dtype=np.float64)
    outputs = _dali_layer(images, ops, args, np.array([c[3] for c in cases]), t, device)
    for (op, arg, filt, flip), image, out in zip(cases, images, outputs):
        got = out[:, ::-1] if flip else out  # the graph flips last: timm's op on the flipped image
        source = np.ascontiguousarray(image[:, ::-1]) if flip else image
        expected = _timm_op(source, op, arg, "bilinear" if op in K.GEOMETRIC else filt, t.fill)
        diff = np.abs(got.astype(int) - expected.astype(int))
        level, share = GEOMETRY if op in K.GEOMETRIC else BOUNDS.get(op, (0, 0.0))
        assert diff.max() <= level and (diff > 0).mean() <= share, (op, arg, filt, flip, diff.max(), (diff > 0).mean())
        if op == "GaussianBlur":  # PIL's box approximation and DALI's Gaussian, borders aside
            assert diff[3:-3, 3:-3].max() <= BLUR_INTERIOR, (arg, diff[3:-3, 3:-3].max())


def test_dali_graph_keeps_each_ops_bound():
    _check_dali_graph("cpu")


@pytest.mark.gpu
def test_dali_graph_on_the_gpu_keeps_each_ops_bound():
    """The same bounds for the GPU's operators (a failure says by how much, for docs/parity.md)."""
    _check_dali_graph("gpu")


@pytest.mark.parametrize("spec", ["rand-m9-mstd0.5-inc1", "original", "3a"])
def test_torchvision_backend_and_dali_cpu_give_the_same_batches(tmp_path, spec):
    """The same draws, flips and PIL calls on both CPU backends (dali-cpu flips after the op)."""
    from dali_pipes.synthetic import make_synthetic_imagefolder

    root = make_synthetic_imagefolder(tmp_path / "photos", num_images=24, num_classes=2)
    cfg = Preprocess(train=TrainTransform(size=SIZE, timm_augment=TimmAugment(spec)))
    batches = []
    for backend in ("torchvision", "dali-cpu"):
        with make_loader(root, train=True, batch_size=12, backend=backend, preset=cfg, seed=5,
                         num_threads=2) as loader:
            batches.append(unnormalize(next(iter(loader))[0]).round())
    assert torch.equal(batches[0], batches[1])


def test_from_timm_maps_timms_strings_to_timms_augmentation():
    pytest.importorskip("timm")
    cfg = Preprocess.from_timm("resnet50.a1_in1k", auto_augment="rand-m7-mstd0.5-inc1", color_jitter=0.4,
                               train_interpolation="bicubic")
    assert cfg.train.timm_augment == TimmAugment("rand-m7-mstd0.5-inc1", fill=(124, 116, 104), interpolation="bicubic")
    assert cfg.train.auto_augment is None and cfg.train.color_jitter is None  # timm drops the jitter under a policy
    forced = Preprocess.from_timm("resnet50.a1_in1k", auto_augment="rand-m9-mstd0.5", force_color_jitter=True,
                                  train_interpolation="bilinear")
    assert forced.train.color_jitter is not None
    ta = Preprocess.from_timm("resnet50.a1_in1k", auto_augment="ta_wide", train_interpolation="bilinear")
    assert ta.train.timm_augment is None and ta.train.auto_augment.policy == "trivialaugment"
    assert plan("rand-m9-mstd0.5-inc1", 100).groups[0][4].name == "PosterizeIncreasing"  # inc1: timm's own list
