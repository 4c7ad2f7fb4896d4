"""`dali-pipes bench --recipe`: each named recipe means the same augmentations on every contender
(dali-pipes' TrainTransform, the classic torchvision pipeline, timm's create_loader), differences are
stated, and the command runs end to end (no timing asserts)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision.transforms as T

from dali_pipes.bench import runner as bench
from dali_pipes.bench.recipes import RECIPES, recipe
from dali_pipes.cli import main


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from dali_pipes.synthetic import make_synthetic_imagefolder

    return make_synthetic_imagefolder(tmp_path_factory.mktemp("recipes"), num_images=16, num_classes=4,
                                      long_side=96)


def kinds(transforms) -> list[str]:
    """Class names of a transform list, RandomApply unwrapped as 'RandomApply(Inner)'."""
    out = []
    for t in transforms:
        if isinstance(t, T.RandomApply):
            out.append("RandomApply(" + ",".join(type(inner).__name__ for inner in t.transforms) + f", p={t.p})")
        else:
            out.append(type(t).__name__)
    return out


def test_the_classic_pipeline_gets_each_recipes_augmentations_in_dali_pipes_order():
    assert kinds(recipe("crop-flip").classic_transforms()[0]) == []
    pil, tensor = recipe("randaugment").classic_transforms()
    assert kinds(pil) == ["ColorJitter", "RandAugment"] and kinds(tensor) == ["RandomErasing"]
    assert pil[1].num_ops == 2 and pil[1].magnitude == 9 and tensor[0].p == 0.25
    pil, tensor = recipe("simclr").classic_transforms()
    assert kinds(pil) == ["RandomApply(ColorJitter, p=0.8)", "RandomGrayscale", "RandomApply(GaussianBlur, p=0.5)"]
    assert pil[0].transforms[0].hue == (-0.1, 0.1) and pil[2].transforms[0].kernel_size == (23, 23)
    pil, tensor = recipe("ta-wide").classic_transforms()
    assert kinds(pil) == ["TrivialAugmentWide"] and tensor[0].p == 0.1
    assert recipe("ta-wide-mix").classic_mixer(10) is not None and recipe("ta-wide").classic_mixer(10) is None
    pytest.importorskip("timm", reason="the 'test' extra installs timm")
    pil, tensor = recipe("deit").classic_transforms()  # timm's own RandAugment, built from the same string
    assert kinds(pil) == ["RandAugment"] and pil[0].ops[4].name == "PosterizeIncreasing"
    assert pil[0].ops[0].magnitude == 9 and pil[0].ops[0].magnitude_std == 0.5 and tensor[0].value == "random"
    pil, _ = recipe("rsb-a2").classic_transforms()
    assert pil[0].ops[0].magnitude == 7 and recipe("rsb-a2").classic_mixer(10) is not None


def test_dali_pipes_gets_the_same_fields():
    t = recipe("simclr").preset().train
    assert t.color_jitter.p == 0.8 and t.color_jitter.hue == 0.1 and t.grayscale.p == 0.2
    assert t.blur.kernel_size == (23, 23) and t.blur.p == 0.5 and t.auto_augment is None
    t = recipe("randaugment").preset().train
    assert (t.auto_augment.policy, t.auto_augment.num_ops, t.auto_augment.magnitude) == ("randaugment", 2, 9)
    assert t.random_erasing.p == 0.25
    mixer = recipe("ta-wide-mix").mixer(10)
    assert (mixer.mixup_alpha, mixer.cutmix_alpha, mixer.num_classes) == (0.2, 1.0, 10)
    with pytest.raises(ValueError, match="unknown recipe 'fast'; recipes: crop-flip"):
        recipe("fast")


def test_timms_own_transform_factory_takes_each_recipes_arguments():
    """timm builds the transforms itself from the arguments; what it turns off is what `differs` says."""
    timm_data = pytest.importorskip("timm.data", reason="the 'test' extra installs timm")
    for name, r in RECIPES.items():
        if r.timm is None:
            assert "timm" in r.differs, name  # left out, and said why
            continue
        built = kinds(timm_data.create_transform(224, is_training=True, **r.timm).transforms)
        if name == "simclr":
            assert "RandomApply(ColorJitter, p=0.8)" in built and "RandomGrayscale" in built
            assert "RandomApply(GaussianBlur, p=0.5)" in built
        if name == "randaugment":
            assert "RandAugment" in built and "RandomErasing" in built
            assert "ColorJitter" not in built and "colour jitter off" in r.differs["timm"]  # timm's rule, stated
        if name == "crop-flip":
            assert not {"ColorJitter", "RandAugment", "RandomErasing"} & set(built)
        if name in ("rsb-a2", "deit"):  # timm's RandAugment from the same string dali-pipes' TimmAugment reads
            ra = next(t for t in timm_data.create_transform(224, is_training=True, **r.timm).transforms
                      if type(t).__name__ == "RandAugment")
            assert r.train["timm_augment"].spec == r.timm["auto_augment"] and len(ra.ops) == 15
            assert ("RandomErasing" in built) == ("re_prob" in r.timm) and "ColorJitter" not in built


@pytest.mark.parametrize("contender", ["dali-cpu", "torchvision", "classic-torchvision", "timm"])
def test_every_contender_mixes_the_mixing_recipe(photos, contender):
    if contender == "timm":
        pytest.importorskip("timm", reason="the 'test' extra installs timm")
        with pytest.raises(ValueError, match="timm's loader cannot express recipe 'ta-wide-mix': timm has no"):
            bench._build(contender, photos, True, 8, 1, recipe("ta-wide-mix"))
        return
    loader = bench._build(contender, photos, True, 8, 1, recipe("ta-wide-mix"))
    try:
        images, targets = next(iter(loader))
    finally:
        if hasattr(loader, "close"):
            loader.close()
    assert images.shape == (8, 3, 224, 224)
    assert targets.shape == (8, 4) and targets.dtype == torch.float32  # soft targets over the 4 classes
    assert torch.allclose(targets.sum(1), torch.ones(8))


@pytest.mark.parametrize("contender", ["dali-cpu", "torchvision", "classic-torchvision", "timm"])
def test_every_contender_runs_timms_recipes(photos, contender):
    """RSB A2 (timm's RandAugment with MixUp/CutMix) and DeiT's (with pixel erasing) on each contender."""
    pytest.importorskip("timm", reason="the 'test' extra installs timm")
    for name in ("rsb-a2", "deit"):
        loader = bench._build(contender, photos, True, 8, 1, recipe(name))
        try:
            images, targets = next(iter(loader))
        finally:
            if hasattr(loader, "close"):
                loader.close()
        assert images.shape == (8, 3, 224, 224) and torch.isfinite(images).all(), (name, contender)
        assert targets.shape == ((8, 4) if name == "rsb-a2" else (8,)), (name, contender)


def test_bench_recipe_runs_every_contender_and_writes_the_table(tmp_path, photos, capsys):
    pytest.importorskip("timm", reason="the 'test' extra installs timm")
    out = tmp_path / "out"
    assert main(["bench", "--data", str(photos), "--recipe", "crop-flip", "ta-wide", "--batch-size", "8",
                 "--repeats", "1", "--threads", "1", "--contenders", "dali-cpu", "torchvision",
                 "classic-torchvision", "timm", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| recipe | auto | dali-cpu | torchvision | classic-torchvision | timm |" in printed
    assert "- ta-wide, timm: timm has no TrivialAugment policy" in printed
    report = json.loads((out / "recipes.json").read_text())
    rows = {(r["extra"]["recipe"], r["contender"]) for r in report["results"]}
    assert rows == {("crop-flip", c) for c in ("dali-cpu", "torchvision", "classic-torchvision", "timm")} | {
        ("ta-wide", c) for c in ("dali-cpu", "torchvision", "classic-torchvision")}
    assert all(r["mode"] == "train" and r["images_per_s"] > 0 for r in report["results"])
    # auto's pick from the measured cost table (RESULTS.md, 2026-12-04): TrivialAugment is cheaper on torchvision
    assert report["meta"]["auto"] == {"crop-flip": "dali-cpu", "ta-wide": "torchvision"}


def test_timms_contenders_survive_zero_bit_posterize():
    """timm's increasing posterize reaches 0 bits at magnitude 10, which Pillow >= 12 refuses; the
    contenders' timm transforms give black there, as dali-pipes' TimmAugment does."""
    pytest.importorskip("timm", reason="the 'test' extra installs timm")
    from PIL import Image

    from dali_pipes.ops import timm_augment as timm_ops

    pil, _ = recipe("deit").classic_transforms()
    posterize = next(op for op in pil[0].ops if op.name == "PosterizeIncreasing")
    image = Image.new("RGB", (8, 8), (200, 100, 50))
    black = posterize.aug_fn(image, 0)
    assert np.asarray(black).max() == 0
    ours = timm_ops.apply(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1), "Posterize", 0.0)
    assert ours.max() == 0 and np.array_equal(np.asarray(posterize.aug_fn(image, 3)),
                                              ours.new_tensor(np.asarray(image) & 0xE0).numpy())
