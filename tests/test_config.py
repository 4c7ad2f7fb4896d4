"""The frozen configuration: defaults are the standard recipe, bad values name their field."""

from __future__ import annotations

import dataclasses

import pytest

from dali_pipes import (
    PRESETS,
    ConfigError,
    EvalTransform,
    GaussianBlur,
    Normalize,
    Preprocess,
    RandomGrayscale,
    TrainTransform,
)
from dali_pipes.config import resolve_preset


def test_the_imagenet_preset_is_the_standard_recipe():
    cfg = PRESETS["imagenet"]
    assert cfg.normalize.mean == (0.485, 0.456, 0.406)
    assert cfg.normalize.std == (0.229, 0.224, 0.225)
    assert cfg.normalize.dtype == "float32" and cfg.normalize.channels_last is False
    assert cfg.train.size == 224 and cfg.train.scale == (0.08, 1.0)
    assert cfg.train.ratio == pytest.approx((3 / 4, 4 / 3))
    assert cfg.train.hflip == 0.5
    assert (cfg.eval.resize_size, cfg.eval.size) == (256, 224)
    assert cfg.eval.crop_ratio == pytest.approx(0.875)
    assert cfg == Preprocess()


def test_crop_ratio_expresses_the_eval_resize():
    assert EvalTransform.from_crop_ratio(224, 0.875) == EvalTransform(224, 256)
    assert EvalTransform.from_crop_ratio(288, 1.0) == EvalTransform(288, 288)
    assert EvalTransform.from_crop_ratio(224, 0.95).resize_size == 235  # timm: floor(224 / 0.95)


def test_configs_are_frozen_and_hashable():
    cfg = Preprocess()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train = TrainTransform(size=128)
    assert hash(cfg) == hash(Preprocess())


def test_sequences_are_normalised_to_tuples_of_floats():
    n = Normalize(mean=[0, 0, 0], std=[1, 1, 1])
    assert n.mean == (0.0, 0.0, 0.0) and n.std == (1.0, 1.0, 1.0)
    assert TrainTransform(scale=[0.5, 1]).scale == (0.5, 1.0)


@pytest.mark.parametrize("build, field", [
    (lambda: Normalize(mean=(0.5, 0.5)), "Normalize.mean"),
    (lambda: Normalize(std=(0.2, 0.0, 0.2)), "Normalize.std"),
    (lambda: Normalize(dtype="int8"), "Normalize.dtype"),
    (lambda: Normalize(channels_last="yes"), "Normalize.channels_last"),
    (lambda: TrainTransform(size=0), "TrainTransform.size"),
    (lambda: TrainTransform(size=224.0), "TrainTransform.size"),
    (lambda: TrainTransform(scale=(0.5, 0.1)), "TrainTransform.scale"),
    (lambda: TrainTransform(scale=(0.0, 1.0)), "TrainTransform.scale"),
    (lambda: TrainTransform(scale=(0.5, 1.5)), "TrainTransform.scale"),
    (lambda: TrainTransform(ratio=(0.0, 1.0)), "TrainTransform.ratio"),
    (lambda: TrainTransform(ratio=3), "TrainTransform.ratio"),
    (lambda: TrainTransform(hflip=1.5), "TrainTransform.hflip"),
    (lambda: TrainTransform(exact_edges="yes"), "TrainTransform.exact_edges"),
    (lambda: TrainTransform(geometry="center"), "TrainTransform.geometry"),
    (lambda: EvalTransform(size=224, resize_size=200), "EvalTransform.resize_size"),
    (lambda: EvalTransform.from_crop_ratio(224, 1.2), "EvalTransform.crop_ratio"),
    (lambda: Preprocess(train=EvalTransform()), "Preprocess.train"),
    (lambda: RandomGrayscale(p=1.5), "RandomGrayscale.p"),
    (lambda: GaussianBlur(4), "GaussianBlur.kernel_size"),
    (lambda: GaussianBlur(0), "GaussianBlur.kernel_size"),
    (lambda: GaussianBlur(True), "GaussianBlur.kernel_size"),
    (lambda: GaussianBlur((3, 5, 7)), "GaussianBlur.kernel_size"),
    (lambda: GaussianBlur(3, sigma=0.0), "GaussianBlur.sigma"),
    (lambda: GaussianBlur(3, sigma=(2.0, 1.0)), "GaussianBlur.sigma"),
    (lambda: GaussianBlur(3, p=-0.1), "GaussianBlur.p"),
    (lambda: TrainTransform(size=32, blur=GaussianBlur(65)), "TrainTransform.blur"),
    (lambda: TrainTransform(grayscale=0.2), "TrainTransform.grayscale"),
])
def test_bad_values_name_the_field(build, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build()


def test_the_dtype_error_lists_the_allowed_values():
    with pytest.raises(ConfigError, match="float32.*float16.*bfloat16"):
        Normalize(dtype="float64")


def test_resolve_preset():
    assert resolve_preset("imagenet") is PRESETS["imagenet"]
    custom = Preprocess(train=TrainTransform(size=160))
    assert resolve_preset(custom) is custom
    with pytest.raises(ValueError, match="unknown preset 'nope'; valid presets: cifar10, cifar100, imagenet"):
        resolve_preset("nope")


def test_from_timm_without_timm_names_the_missing_package(monkeypatch):
    import sys

    from dali_pipes import Preprocess

    monkeypatch.setitem(sys.modules, "timm", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "timm.data", None)
    with pytest.raises(ImportError, match=r"from_timm needs the timm package: pip install 'dali-pipes\[pretrained\]'"):
        Preprocess.from_timm("resnet50.a1_in1k")


def test_blur_arguments_take_torchvisions_forms():
    assert GaussianBlur(5).kernel_size == (5, 5) and GaussianBlur((3, 7)).kernel_size == (3, 7)
    assert GaussianBlur(5, sigma=1.5).sigma == (1.5, 1.5) and GaussianBlur(5, sigma=[0.1, 2]).sigma == (0.1, 2.0)
    assert TrainTransform(size=32, blur=GaussianBlur(63)).blur.kernel_size == (63, 63)  # half 31 < 32: reflectable


def test_the_augmentation_fields_and_exports_are_the_registrys():
    """Written out for type checkers, held equal to the registry: each op's field, in its order, typed
    with its config, and the config exported from the package (the same class)."""
    import typing

    import dali_pipes
    from dali_pipes.ops import CONFIGURED

    names = [f.name for f in dataclasses.fields(TrainTransform)]
    assert names[names.index("hflip") + 1:names.index("exact_edges")] == [op.field for op in CONFIGURED]
    hints = typing.get_type_hints(TrainTransform)
    for op in CONFIGURED:
        assert hints[op.field] == typing.Optional[op.config], op.field
        assert TrainTransform.__dataclass_fields__[op.field].default is None
        assert op.config.__name__ in dali_pipes.__all__
        assert getattr(dali_pipes, op.config.__name__) is op.config
    assert set(dali_pipes.__all__) <= set(dir(dali_pipes))


def test_a_registry_op_without_its_field_is_named_at_import(monkeypatch):
    from dali_pipes import config
    from dali_pipes.ops import CONFIGURED
    from dali_pipes.ops.base import Augmentation

    class Invert(Augmentation):
        field, config = "invert", type("RandomInvert", (), {})

    monkeypatch.setattr(config, "CONFIGURED", CONFIGURED + (Invert(),))
    with pytest.raises(TypeError, match=r"add invert: RandomInvert \| None = None"):
        config._check_fields_match_registry()


def test_make_loaders_signature_is_its_options():
    """make_loader's keyword arguments and defaults are LoaderOptions' fields, in order: the options
    travel as one object read by name, and the two cannot drift apart."""
    import inspect

    from dali_pipes import make_loader
    from dali_pipes.options import LoaderOptions

    params = list(inspect.signature(make_loader).parameters.values())[1:]
    option_fields = dataclasses.fields(LoaderOptions)
    assert [p.name for p in params] == [f.name for f in option_fields]
    for p, f in zip(params, option_fields):
        assert p.kind is inspect.Parameter.KEYWORD_ONLY
        assert p.default == (inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default), p.name
        assert p.annotation == f.type, p.name


def test_a_field_typed_otherwise_than_its_registry_op_is_named_at_import(monkeypatch):
    from dali_pipes import config
    from dali_pipes.ops import CONFIGURED
    from dali_pipes.ops.base import Augmentation

    class OtherJitter(Augmentation):
        field, config = "color_jitter", type("BrightnessOnly", (), {})

    swapped = tuple(OtherJitter() if op.field == "color_jitter" else op for op in CONFIGURED)
    monkeypatch.setattr(config, "CONFIGURED", swapped)
    with pytest.raises(TypeError, match=r"TrainTransform.color_jitter is typed 'ColorJitter \| None'; the registry "
                                        r"says BrightnessOnly \| None"):
        config._check_fields_match_registry()
