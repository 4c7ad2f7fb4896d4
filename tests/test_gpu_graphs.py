"""Every GPU graph the configuration allows is defined on every CI run, without a GPU: DALI checks
operator placement while a pipeline is defined (device_id=0, never built). For each combination:
it defines; the decoder is the `mixed` (nvImageCodec) one; no CPU operator touches image data
after the source (no host round trip: the CPU only reads headers and shapes); everything fed by the
decoded images runs on the GPU; every operator used has an implementation for its device in
DALI's registry."""

from __future__ import annotations

import itertools

import pytest
from nvidia.dali import backend

from dali_pipes import (
    AutoAugment,
    ColorJitter,
    EvalTransform,
    GaussianBlur,
    Normalize,
    Preprocess,
    RandomGrayscale,
    TimmAugment,
    TrainTransform,
)
from dali_pipes.dali.describe import graph_ops

REGISTRY = {"gpu": set(backend.RegisteredGPUOps()), "mixed": set(backend.RegisteredMixedOps()),
            "cpu": set(backend.RegisteredCPUOps())}
CPU_READS_OF_IMAGES = {"PeekImageShape", "Shapes", "_Shape"}  # headers and shapes, never pixels

JITTERS = {"none": None, "no-hue": ColorJitter(0.4, 0.4, 0.4, 0.0), "hue": ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)}
POLICIES = {"none": None, **{p: AutoAugment(p) for p in ("autoaugment", "randaugment", "trivialaugment")},
            "bilinear-randaugment": AutoAugment("randaugment", interpolation="bilinear")}

TRAIN = [pytest.param(Preprocess(train=TrainTransform(size=64, geometry=g, color_jitter=JITTERS[j],
                                                      auto_augment=POLICIES[a], exact_edges=e)),
                      id=f"{g}-{j}-{a}-{'exact' if e else 'plain'}")
         for g, j, a, e in itertools.product(("random_resized_crop", "pad_crop"), JITTERS, POLICIES, (False, True))]
TRAIN += [pytest.param(Preprocess(train=TrainTransform(size=64, interpolation=i, color_jitter=JITTERS["hue"],
                                                       vflip=0.5 if i == "random" else 0.0),
                                  normalize=Normalize(dtype=d, channels_last=c)),
                       id=f"{i}-{d}-{'nhwc' if c else 'nchw'}")
          for i, d, c in itertools.product(("bilinear", "bicubic", "nearest", "random"),
                                           ("float32", "float16", "bfloat16"), (False, True))]
TRAIN += [pytest.param(Preprocess(train=TrainTransform(size=64, geometry=g, grayscale=gray, blur=blur,
                                                       color_jitter=JITTERS["hue"], auto_augment=POLICIES[a]),
                                  normalize=Normalize(channels_last=c)),
                       id=f"{g}-{'gray-' if gray else ''}{'blur-' if blur else ''}{a}-{'nhwc' if c else 'nchw'}")
          for g, gray, blur, a, c in itertools.product(
              ("random_resized_crop", "pad_crop"), (None, RandomGrayscale(0.2)), (None, GaussianBlur((5, 9), p=0.5)),
              ("none", "randaugment"), (False, True)) if gray or blur]
# timm's policies (every kernel op among them) on both geometries, with the jitter timm may add
TRAIN += [pytest.param(Preprocess(train=TrainTransform(size=64, geometry=g,
                                                       timm_augment=TimmAugment(spec, interpolation=i),
                                                       color_jitter=JITTERS["hue"] if spec == "3a" else None)),
                       id=f"{g}-timm-{spec}-{i}")
          for g, spec, i in itertools.product(("random_resized_crop", "pad_crop"),
                                              ("rand-m9-mstd0.5-inc1", "original", "v0r", "3a", "rand-m9-n3-tweights"),
                                              ("random", "nearest"))]
EVAL = [pytest.param(Preprocess(eval=EvalTransform(64, r, interpolation=i, crop_mode=m),
                                normalize=Normalize(dtype=d, channels_last=c)), id=f"{m}{r}-{i}-{d}-{c}")
        for (m, r), i, d, c in itertools.product((("center", 73), ("squash", 73), ("border", 64), ("border", 48)),
                                                 ("bilinear", "bicubic", "nearest"), ("float32", "bfloat16"),
                                                 (False, True))]


def check_gpu_graph(ops, encoded: bool) -> None:
    assert ops, "nothing defined"
    sources = [op for op in ops if op.name == "ExternalSource"]
    image_node = sources[0].outputs[0]
    decoders = [op for op in ops if op.name.startswith("decoders__")]
    if encoded:
        assert [op.device for op in decoders] == ["mixed"], decoders
    else:
        assert not decoders
    for op in ops:
        if image_node in op.inputs and op.device == "cpu":
            assert op.name in CPU_READS_OF_IMAGES, f"{op.name} reads the images on the CPU (a host round trip)"
        assert op.name != "PythonFunction", "a Python operator in a GPU graph"
        assert op.name in REGISTRY[op.device], f"{op.name} has no {op.device} implementation in DALI"
    # everything the decoded images feed runs on the GPU
    reached = set(decoders[0].outputs) if encoded else set()
    for op in ops:
        if reached & set(op.inputs):
            assert op.device == "gpu", f"{op.name} on {op.device} reads decoded images"
            reached |= set(op.outputs)
    normalize = [op for op in ops if op.name == "CropMirrorNormalize"]
    assert [op.device for op in normalize] == ["gpu"]


@pytest.mark.parametrize("encoded", [True, False], ids=["encoded", "arrays"])
@pytest.mark.parametrize("cfg", TRAIN)
def test_every_train_graph_defines_on_the_gpu(cfg, encoded):
    check_gpu_graph(graph_ops(cfg, train=True, device="gpu", encoded=encoded), encoded)


@pytest.mark.parametrize("encoded", [True, False], ids=["encoded", "arrays"])
@pytest.mark.parametrize("cfg", EVAL)
def test_every_eval_graph_defines_on_the_gpu(cfg, encoded):
    check_gpu_graph(graph_ops(cfg, train=False, device="gpu", encoded=encoded), encoded)


@pytest.mark.parametrize("train", [True, False])
def test_multi_label_graphs_define_on_the_gpu(train):
    check_gpu_graph(graph_ops(Preprocess(), train=train, device="gpu", multilabel=True), True)


@pytest.mark.parametrize("name", ["resnet50.a1_in1k", "vit_base_patch16_224.augreg2_in21k_ft_in1k",
                                  "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k"])
def test_pretrained_presets_define_on_the_gpu(name):
    pytest.importorskip("timm", reason="the 'test' extra installs timm")
    cfg = Preprocess.from_timm(name, auto_augment="rand-m9-n2", re_prob=0.25)
    for train in (True, False):
        check_gpu_graph(graph_ops(cfg, train=train, device="gpu"), True)


def test_torchvision_transforms_translate_to_graphs_that_define_on_the_gpu():
    """dali_pipes.DataLoader's translations (from_torchvision) are graphs like any other config."""
    import torch
    from torchvision import transforms as T
    from torchvision.transforms import v2

    from dali_pipes import from_torchvision

    normalize = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    for transform in (
            T.Compose([T.RandomResizedCrop(64), T.RandomHorizontalFlip(), T.ToTensor(), normalize]),
            T.Compose([T.Resize(73), T.CenterCrop(64), T.ToTensor(), normalize]),
            T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.TrivialAugmentWide(), T.ToTensor(),
                       normalize, T.RandomErasing(0.25)]),
            v2.Compose([v2.ToImage(), v2.RandomResizedCrop(64, interpolation=v2.InterpolationMode.BICUBIC),
                        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandAugment(),
                        v2.RandomGrayscale(0.2), v2.RandomApply([v2.GaussianBlur(9)], p=0.5),
                        v2.ToDtype(torch.float16, scale=True), normalize])):
        translation = from_torchvision(transform)
        check_gpu_graph(graph_ops(translation.preprocess, train=translation.train, device="gpu"), True)


def test_a_misplaced_operator_fails_at_definition():
    """The premise of this suite: defining catches a GPU node fed where DALI wants a CPU one."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=1, num_threads=1, device_id=0)
    def misplaced():
        images = fn.decoders.image(fn.external_source(name="x", dtype=types.UINT8), device="mixed")
        return fn.resize(images, device="cpu", size=[8, 8])

    with pytest.raises(Exception, match="(?i)gpu|device|cpu"):
        misplaced()._build_graph()


def test_gpu_decoder_options_reach_the_mixed_decoder():
    """Custom options reach the mixed decoder's arguments in both graphs (and define: DALI checks
    argument names and types at definition); bad values are refused by the config, naming the field."""
    from dali_pipes import ConfigError, GpuDecoder

    decoder = GpuDecoder(device_memory_padding=0, host_memory_padding=0, preallocate_width_hint=0,
                         preallocate_height_hint=0, hw_decoder_load=0.9)
    for train in (True, False):
        ops = graph_ops(Preprocess(), train=train, device="gpu", decoder=decoder)
        check_gpu_graph(ops, True)
        mixed = [op for op in ops if op.device == "mixed"]
        assert [op.name for op in mixed] == ["decoders__Image"]
        assert {name: mixed[0].argument(name) for name in decoder.options()} == decoder.options()
        default = [op for op in graph_ops(Preprocess(), train=train, device="gpu") if op.device == "mixed"][0]
        assert default.argument("hw_decoder_load") == GpuDecoder().hw_decoder_load != 0.9
    with pytest.raises(ConfigError, match="GpuDecoder.hw_decoder_load"):
        GpuDecoder(hw_decoder_load=1.5)
    with pytest.raises(ConfigError, match="GpuDecoder.device_memory_padding"):
        GpuDecoder(device_memory_padding=-1)


def test_graphs_are_generated_untraced_and_tracing_is_restored(monkeypatch):
    """DALI's origin tracing is off while a graph is generated (60% of its cost), restored after; a
    DALI without the switch keeps tracing and still generates graphs."""
    from nvidia.dali._utils import dali_trace

    from dali_pipes.dali.pipeline import untraced

    before = dali_trace.is_tracing_enabled()
    with untraced():
        assert not dali_trace.is_tracing_enabled()
    assert dali_trace.is_tracing_enabled() == before
    monkeypatch.delattr(dali_trace, "set_tracing")
    with untraced():
        assert dali_trace.is_tracing_enabled() == before
        assert graph_ops(Preprocess(), train=True, device="gpu")
