"""Backend resolution: names, the `auto` rule, and what runs where."""

from __future__ import annotations

import pytest
import torch

from dali_pipes import AutoAugment, ColorJitter, GaussianBlur, RandomGrayscale, TimmAugment, TrainTransform
from dali_pipes import backend as backend_module
from dali_pipes.backend import resolve_backend


def test_unknown_backend_lists_the_valid_names():
    with pytest.raises(ValueError, match="valid backends: auto, dali, dali-gpu, dali-cpu, torchvision"):
        resolve_backend("fast")


@pytest.mark.skipif(torch.cuda.is_available(), reason="describes a machine without CUDA")
def test_without_cuda_auto_and_dali_run_dali_on_the_cpu():
    for name in ("auto", "dali"):
        choice = resolve_backend(name)
        assert choice.name == "dali-cpu" and choice.device == torch.device("cpu")
    # one line saying why: no driver, a driver too old for the CUDA builds (and what to install), or no GPU
    with pytest.raises(RuntimeError, match=r"backend 'dali-gpu' cannot run: (no NVIDIA driver found|no CUDA GPU "
                                           r"is visible|driver .* serves CUDA .* install)"):
        resolve_backend("dali-gpu")


def test_auto_falls_back_to_torchvision_when_dali_does_not_import(monkeypatch):
    monkeypatch.setattr(backend_module, "dali_import_error", lambda: "ImportError: No module named 'nvidia'")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    choice = resolve_backend("auto")
    assert choice.name == "torchvision" and "DALI unavailable" in choice.reason
    with pytest.raises(RuntimeError, match="needs NVIDIA DALI"):
        resolve_backend("dali")


def test_auto_prefers_dali_on_the_gpu(monkeypatch):
    monkeypatch.setattr(backend_module, "dali_import_error", lambda: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    choice = resolve_backend("auto")
    assert choice.name == "dali-gpu" and choice.device == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert resolve_backend("auto").device == torch.device("cuda", 3)  # torchrun's GPU for this rank
    assert resolve_backend("auto", device="cuda:1").device == torch.device("cuda", 1)
    assert resolve_backend("auto", device="cpu").name == "dali-cpu"


def test_torchvision_delivers_where_asked():
    assert resolve_backend("torchvision").device == torch.device("cpu")
    assert resolve_backend("torchvision", device="cuda:2").device == torch.device("cuda", 2)


def test_the_backend_is_logged_once_per_loader(tmp_path, caplog):
    from dali_pipes import make_loader

    from .conftest import write_image

    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "x.png", (1, 2, 3), (5, 5))
    with caplog.at_level("INFO", logger="dali_pipes"):
        make_loader(tmp_path, train=True, batch_size=1, backend="torchvision", num_threads=1).close()
    lines = [r.getMessage() for r in caplog.records if "backend" in r.getMessage()]
    assert len(lines) == 1 and "torchvision" in lines[0]


@pytest.mark.parametrize("fields, expected", [
    ({}, "dali-cpu"),
    ({"color_jitter": ColorJitter(0.4, 0.4, 0.4, 0.1)}, "dali-cpu"),  # in torch inside DALI's graph
    # the policies (both families) and a hue-less jitter: cheaper on the torchvision backend (RESULTS.md, 2026-12-04)
    ({"auto_augment": AutoAugment("randaugment")}, "torchvision"),
    ({"color_jitter": ColorJitter(), "auto_augment": AutoAugment("randaugment", 2, 9)}, "torchvision"),
    ({"auto_augment": AutoAugment("trivialaugment")}, "torchvision"),
    ({"auto_augment": AutoAugment("autoaugment")}, "torchvision"),
    ({"timm_augment": TimmAugment("rand-m9-mstd0.5-inc1", interpolation="bilinear")}, "torchvision"),
    ({"grayscale": RandomGrayscale(0.2), "blur": GaussianBlur(23, p=0.5)}, "dali-cpu"),
])
def test_auto_without_cuda_picks_the_faster_cpu_backend_for_the_train_ops(monkeypatch, fields, expected):
    """Decided from what the config turns on (each op's measured `cpu_cost`, summed), not by timing."""
    from dali_pipes.backend import cpu_estimates

    monkeypatch.setattr(backend_module, "dali_import_error", lambda: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    train = TrainTransform(**fields)
    choice = resolve_backend("auto", train_cfg=train)
    assert choice.name == expected and choice.device == torch.device("cpu")
    costs = cpu_estimates(train)
    lower_by_more_than_the_margin = costs["torchvision"] < costs["dali-cpu"] * (1 - backend_module.TIE_MARGIN)
    assert lower_by_more_than_the_margin == (expected == "torchvision")
    if expected == "torchvision":
        assert f"({costs['torchvision']:.2f} vs {costs['dali-cpu']:.2f} ms per image" in choice.reason
    assert resolve_backend("auto").name == "dali-cpu"  # eval loaders (no train transform) keep DALI
    assert resolve_backend("dali-cpu", train_cfg=train).name == "dali-cpu"  # a named backend is honoured
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_backend("auto", train_cfg=train).name == "dali-gpu"  # with a GPU, every op runs there


def test_auto_picks_torchvision_where_its_sum_is_smaller(monkeypatch):
    """Whatever the table says, the rule takes torchvision when the sums say so, and says why."""
    monkeypatch.setattr(backend_module, "dali_import_error", lambda: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setitem(backend_module.CPU_BASE_MS, "dali-cpu", 50.0)
    choice = resolve_backend("auto", train_cfg=TrainTransform(auto_augment=AutoAugment("randaugment")))
    assert choice.name == "torchvision" and "ms per image" in choice.reason


@pytest.mark.parametrize("torchvision_ms, expected", [(0.69 * 0.95, "dali-cpu"), (0.69 * 0.85, "torchvision")])
def test_auto_keeps_dali_unless_torchvision_is_lower_by_more_than_the_margin(monkeypatch, torchvision_ms, expected):
    """Estimates closer than TIE_MARGIN are a tie, and a tie goes to DALI (its read-ahead and memory)."""
    monkeypatch.setattr(backend_module, "dali_import_error", lambda: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(backend_module, "TIE_MARGIN", 0.10)
    monkeypatch.setattr(backend_module, "CPU_BASE_MS", {"dali-cpu": 0.69, "torchvision": torchvision_ms})
    assert resolve_backend("auto", train_cfg=TrainTransform()).name == expected


def test_every_configured_op_states_its_cpu_cost():
    """A new augmentation must say what it costs on each CPU backend, or auto cannot weigh it."""
    from dali_pipes.ops import SAMPLE_OPS

    defaults = TrainTransform(color_jitter=ColorJitter(), auto_augment=AutoAugment(), grayscale=RandomGrayscale(),
                              blur=GaussianBlur())
    for op in SAMPLE_OPS:
        if op.field is not None:
            # timm's policy and torchvision's are exclusive: each is costed with its own default
            cfg = TrainTransform(timm_augment=op.config()) if op.field == "timm_augment" else defaults
            dali_ms, torchvision_ms = op.cpu_cost(cfg)
            assert dali_ms > 0 and torchvision_ms > 0, op.name


@pytest.mark.skipif(torch.cuda.is_available(), reason="describes a machine without CUDA")
def test_the_loader_says_why_its_backend_runs(tmp_path, monkeypatch):
    from dali_pipes import Preprocess, make_loader
    from dali_pipes.synthetic import make_synthetic_imagefolder

    root = make_synthetic_imagefolder(tmp_path / "d", num_images=8, long_side=64)
    # a jitter with hue: cheaper on dali-cpu by the measured table
    policy = Preprocess(train=TrainTransform(size=32, color_jitter=ColorJitter(0.4, 0.4, 0.4, 0.1)))
    with make_loader(root, train=True, batch_size=4, preset=policy) as loader:
        assert loader.backend == "dali-cpu" and "ms per image" in loader.backend_reason
    monkeypatch.setitem(backend_module.CPU_BASE_MS, "dali-cpu", 50.0)  # a machine where DALI's CPU mode is slow
    with make_loader(root, train=True, batch_size=4, preset=policy) as loader:
        assert loader.backend == "torchvision" and "runs faster on the torchvision backend" in loader.backend_reason
        assert sum(len(labels) for _, labels in loader) == 8
    monkeypatch.undo()
    with make_loader(root, train=False, batch_size=4, preset=policy) as loader:
        assert loader.backend == "dali-cpu" and loader.backend_reason == "auto: no CUDA GPU, DALI's CPU mode"
    with make_loader(root, train=True, batch_size=4, preset=policy, backend="dali-cpu") as loader:
        assert loader.backend == "dali-cpu" and loader.backend_reason == "requested"
