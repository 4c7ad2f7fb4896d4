"""The GPU path (DALI `mixed` decoding and GPU ops). Skipped on machines without CUDA."""

from __future__ import annotations

import pytest
import torch

from dali_pipes import ColorJitter, GaussianBlur, Normalize, Preprocess, RandomGrayscale, TrainTransform, make_loader

from .conftest import read_identities, unnormalize

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("train", [True, False])
def test_gpu_batches_are_on_the_gpu_with_true_labels(identity_folder, train):
    root, identity_to_class = identity_folder
    with make_loader(root, train=train, batch_size=5, backend="dali", seed=0) as loader:
        assert loader.backend == "dali-gpu"
        seen, sizes = [], []
        for images, labels in loader:
            assert images.is_cuda and labels.is_cuda
            assert images.dtype == torch.float32 and labels.dtype == torch.int64
            assert images.shape[1:] == (3, 224, 224)
            ids = read_identities(images)
            assert labels.tolist() == [identity_to_class[i] for i in ids]
            seen += ids
            sizes.append(len(labels))
    assert sorted(seen) == sorted(identity_to_class)
    assert sizes == [5, 5, 5, 5, 3]


def test_gpu_and_cpu_dali_agree_in_eval(identity_folder):
    """The same graph (fn.resize) on both devices."""
    root, _ = identity_folder
    outputs = {}
    for backend in ("dali-gpu", "dali-cpu"):
        with make_loader(root, train=False, batch_size=23, backend=backend, resampler="dali") as loader:
            outputs[backend] = unnormalize(next(iter(loader))[0])
    difference = (outputs["dali-gpu"] - outputs["dali-cpu"]).abs()
    assert difference.max() <= 4.0  # nvJPEG vs libjpeg-turbo on uniform JPEGs; PNG are exact


def test_gpu_and_cpu_dali_agree_in_train_with_every_per_sample_op(identity_folder):
    """Crop, flip, jitter, grayscale and blur on the GPU: the same draws, the same graph as the CPU.
    Uniform images stay uniform under all of them, so the bound is the decoders' and the jitter's."""
    root, _ = identity_folder
    cfg = Preprocess(train=TrainTransform(size=64, color_jitter=ColorJitter(0.4, 0.4, 0.4, 0.0),
                                          grayscale=RandomGrayscale(0.5), blur=GaussianBlur(9, p=0.5)))
    outputs = {}
    for backend in ("dali-gpu", "dali-cpu"):
        with make_loader(root, train=True, batch_size=23, backend=backend, preset=cfg, seed=3, shuffle=False,
                         resampler="dali") as loader:
            outputs[backend] = unnormalize(next(iter(loader))[0])
    # decoders within 4 levels (the eval test), scaled by a factor up to 1.4, then truncated: 4 * 1.4 + 1
    assert (outputs["dali-gpu"] - outputs["dali-cpu"]).abs().max() <= 6.6


def test_the_torch_resampler_is_refused_on_the_gpu(identity_folder):
    root, _ = identity_folder
    with pytest.raises(ValueError, match="resampler='torch' runs in DALI's CPU graph only"):
        make_loader(root, train=True, batch_size=5, backend="dali-gpu", resampler="torch")


def test_gpu_channels_last_bfloat16(identity_folder):
    root, identity_to_class = identity_folder
    cfg = Preprocess(normalize=Normalize(dtype="bfloat16", channels_last=True))
    with make_loader(root, train=False, batch_size=23, backend="dali", preset=cfg) as loader:
        images, _ = next(iter(loader))
    assert images.is_cuda and images.dtype == torch.bfloat16
    assert images.is_contiguous(memory_format=torch.channels_last)
    assert read_identities(images.float()) == sorted(identity_to_class)


def test_gpu_decode_error_names_the_file(tmp_path):
    from dali_pipes import ImageDecodeError

    from .conftest import make_identity_folder
    from .test_bad_input import noisy_jpeg

    make_identity_folder(tmp_path, {"a": 4})
    bad = tmp_path / "a" / "zz.jpg"
    bad.write_bytes(noisy_jpeg()[:20000])
    with make_loader(tmp_path, train=True, batch_size=5, backend="dali") as loader:
        with pytest.raises(ImageDecodeError, match=str(bad)):
            for _ in loader:
                pass
