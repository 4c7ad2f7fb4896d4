"""The torch resampler's batch kernel on its own: torchvision's pixels, the sample order across
its thread pool's tasks, both layouts, and never DALI's input memory handed back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from dali_pipes import EvalTransform, Preprocess
from dali_pipes.dali.torch_resample import _EvalGeometry, _Resize
from dali_pipes.kernels.tv import EvalGeometry


def _batch(n=37, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(int(rng.integers(5, 90)), int(rng.integers(5, 90)), 3), dtype=np.uint8)
            for _ in range(n)]


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_each_sample_is_torchvisions_resize_in_order(threads, layout):
    arrays = _batch()
    outputs = _Resize(24, threads, layout)(arrays)
    assert len(outputs) == len(arrays)
    for array, out in zip(arrays, outputs):
        expected = F.resize(torch.from_numpy(array.copy()).permute(2, 0, 1), [24, 24], antialias=True)
        expected = expected if layout == "CHW" else expected.permute(1, 2, 0)
        assert out.flags.c_contiguous and out.dtype == np.uint8
        assert np.array_equal(out, expected.numpy())


def test_resize_center_crop_is_torchvisions():
    arrays = _batch(9, seed=1)
    kernel = _EvalGeometry(EvalGeometry(Preprocess(eval=EvalTransform(16, 20))), 2, "CHW")
    for array, out in zip(arrays, kernel(arrays)):
        image = torch.from_numpy(array.copy()).permute(2, 0, 1)
        assert np.array_equal(out, F.center_crop(F.resize(image, 20, antialias=True), 16).numpy())


@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_an_image_already_the_size_comes_back_as_a_copy(layout):
    arrays = [np.full((1, 1, 3), 7, np.uint8), np.full((8, 8, 3), 9, np.uint8)]
    kernel = _Resize(1, 1, layout)
    out = kernel(arrays[:1])[0]
    assert not np.may_share_memory(out, arrays[0]) and out.reshape(-1).tolist() == [7, 7, 7]
    out = _Resize(8, 1, layout)(arrays[1:])[0]
    assert not np.may_share_memory(out, arrays[1]) and (out == 9).all()


def test_an_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout must be one of"):
        _Resize(8, 1, "NCHW")


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_resampler_failure_is_not_blamed_on_the_images(identity_folder, monkeypatch, on_error):
    """A bug or an out-of-memory in the resampler surfaces as itself, never as an ImageDecodeError
    naming good files (nor, with on_error='skip', as a batch quietly left out)."""
    from dali_pipes import ImageDecodeError, make_loader
    from dali_pipes.dali import torch_resample

    def broken(self, image, values):
        raise MemoryError("no memory for the resize")

    monkeypatch.setattr(torch_resample._Resize, "one", broken)
    root, _ = identity_folder
    with make_loader(root, train=True, batch_size=5, backend="dali-cpu", seed=0, on_error=on_error) as loader:
        with pytest.raises(RuntimeError, match="dali-pipes torch resampler failed: MemoryError: no memory") as info:
            next(iter(loader))
    assert not isinstance(info.value, ImageDecodeError)
