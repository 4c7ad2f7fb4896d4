"""The DataLoader contract, on both CPU backends: shapes, labels, epochs, order, len, closing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from dali_pipes import EvalTransform, Normalize, Preprocess, TrainTransform, make_loader

from .conftest import CPU_BACKENDS, collect, read_identities

IMAGENET_LOW = (0 - 0.485) / 0.229
IMAGENET_HIGH = (1 - 0.406) / 0.225


@pytest.mark.parametrize("train", [True, False])
def test_batches_have_the_contract_shapes_types_and_ranges(identity_folder, backend, train):
    root, _ = identity_folder
    with make_loader(root, train=train, batch_size=8, backend=backend, seed=0, num_threads=2) as loader:
        assert loader.backend == backend
        images, labels = next(iter(loader))
    assert images.shape == (8, 3, 224, 224)
    assert images.dtype == torch.float32 and images.is_contiguous()
    assert labels.shape == (8,) and labels.dtype == torch.int64
    assert images.device.type == "cpu" and labels.device.type == "cpu"
    assert IMAGENET_LOW - 1e-4 <= images.min() and images.max() <= IMAGENET_HIGH + 1e-4


@pytest.mark.parametrize("train", [True, False])
def test_every_sample_once_per_epoch_with_its_true_label(identity_folder, backend, train):
    root, identity_to_class = identity_folder
    loader = make_loader(root, train=train, batch_size=5, backend=backend, seed=1, num_threads=2)
    for _ in range(2):  # two epochs, no manual reset
        identities, labels, sizes = collect(loader)
        assert sorted(identities) == sorted(identity_to_class)
        assert labels == [identity_to_class[i] for i in identities]
        assert sizes == [5, 5, 5, 5, 3]  # a short last batch, no padding
    loader.close()


def test_len_and_drop_last(identity_folder, backend):
    root, identity_to_class = identity_folder
    n = len(identity_to_class)
    for drop_last in (False, True):
        loader = make_loader(root, train=True, batch_size=5, backend=backend, drop_last=drop_last,
                             seed=2, num_threads=2)
        expected = n // 5 if drop_last else math.ceil(n / 5)
        assert len(loader) == expected
        identities, _, sizes = collect(loader)
        assert len(sizes) == expected
        assert len(identities) == len(set(identities)) == (20 if drop_last else n)
        assert all(s == 5 for s in sizes[: n // 5])
        loader.close()


def test_dataset_surface_matches_imagefolder(identity_folder, backend):
    from torchvision.datasets import ImageFolder

    root, identity_to_class = identity_folder
    reference = ImageFolder(str(root))
    loader = make_loader(root, train=False, batch_size=4, backend=backend, num_threads=2)
    assert len(loader.dataset) == len(reference) == len(identity_to_class)
    assert loader.dataset.classes == reference.classes == ["ant", "cat", "dog"]
    assert loader.dataset.class_to_idx == reference.class_to_idx
    assert loader.batch_size == 4
    loader.close()


def test_eval_visits_samples_in_imagefolder_order(identity_folder, backend):
    from torchvision.datasets import ImageFolder

    root, _ = identity_folder
    expected = [int(path.rsplit("/", 1)[1][:4]) for path, _ in ImageFolder(str(root)).samples]
    with make_loader(root, train=False, batch_size=6, backend=backend, num_threads=2) as loader:
        first, _, _ = collect(loader)
        second, _, _ = collect(loader)
    assert first == expected and second == expected


def test_shuffle_is_a_function_of_seed_and_epoch(identity_folder, backend):
    root, _ = identity_folder

    def epoch_order(seed, epoch):
        with make_loader(root, train=True, batch_size=6, backend=backend, seed=seed, num_threads=2) as loader:
            loader.set_epoch(epoch)
            return collect(loader)[0]

    assert epoch_order(7, 3) == epoch_order(7, 3)
    assert epoch_order(7, 3) != epoch_order(7, 4)
    assert epoch_order(7, 3) != epoch_order(8, 3)


def test_epochs_advance_without_set_epoch_like_a_dataloader(identity_folder, backend):
    root, _ = identity_folder
    with make_loader(root, train=True, batch_size=6, backend=backend, seed=5, num_threads=2) as loader:
        first = collect(loader)[0]
        second = collect(loader)[0]
        assert loader.epoch == 2
    with make_loader(root, train=True, batch_size=6, backend=backend, seed=5, num_threads=2) as fresh:
        fresh.set_epoch(1)
        assert collect(fresh)[0] == second
    assert first != second


def test_both_backends_visit_the_same_order(identity_folder):
    root, _ = identity_folder
    orders = []
    for name in CPU_BACKENDS:
        with make_loader(root, train=True, batch_size=4, backend=name, seed=11, num_threads=2) as loader:
            loader.set_epoch(2)
            orders.append(collect(loader)[0])
    assert orders[0] == orders[1]


def test_abandoned_epoch_then_a_full_one(identity_folder, backend):
    root, identity_to_class = identity_folder
    with make_loader(root, train=True, batch_size=4, backend=backend, seed=3, num_threads=2) as loader:
        stale = iter(loader)
        next(stale)  # stop after one batch, as `break` would
        identities, _, _ = collect(loader)  # the next epoch is complete and clean
        assert sorted(identities) == sorted(identity_to_class)
        with pytest.raises(RuntimeError, match="newer iter"):
            next(stale)


def test_a_superseded_iterator_dropped_mid_epoch_leaves_the_newer_epoch_whole(identity_folder, backend):
    """An old iterator let go (garbage-collected) while a newer epoch runs: closing it must not stop
    the newer epoch's reading (dali-cpu used to end that epoch early, silently, a few batches in)."""
    import gc

    root, identity_to_class = identity_folder
    with make_loader(root, train=True, batch_size=4, backend=backend, seed=3, num_threads=1) as loader:
        stale = iter(loader)
        next(stale)
        newer = iter(loader)
        images, _ = next(newer)
        identities = read_identities(images)
        del stale
        gc.collect()
        for images, _ in newer:
            identities += read_identities(images)
        assert sorted(identities) == sorted(identity_to_class)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_output_dtype_and_channels_last(identity_folder, backend, dtype):
    root, identity_to_class = identity_folder
    cfg = Preprocess(normalize=Normalize(dtype=dtype, channels_last=True))
    with make_loader(root, train=False, batch_size=23, backend=backend, preset=cfg, num_threads=2) as loader:
        images, labels = next(iter(loader))
    assert images.dtype == getattr(torch, dtype)
    assert images.shape == (23, 3, 224, 224)
    assert images.is_contiguous(memory_format=torch.channels_last)
    assert read_identities(images.float()) == sorted(identity_to_class)


def test_custom_sizes_and_statistics(identity_folder, backend):
    root, identity_to_class = identity_folder
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    cfg = Preprocess(train=TrainTransform(size=48), eval=EvalTransform(size=40, resize_size=50),
                     normalize=Normalize(mean=mean, std=std))
    for train, size in ((True, 48), (False, 40)):
        with make_loader(root, train=train, batch_size=23, backend=backend, preset=cfg, num_threads=2) as loader:
            images, _ = next(iter(loader))
        assert images.shape == (23, 3, size, size)
        assert sorted(read_identities(images, mean=mean, std=std)) == sorted(identity_to_class)


def test_train_flips_and_crops_vary_but_eval_is_deterministic(tmp_path, backend):
    """A left/right two-colour image: flips show up in train (p=0.5) and never in eval."""
    import numpy as np
    from PIL import Image

    (tmp_path / "a").mkdir()
    half = np.zeros((60, 80, 3), np.uint8)
    half[:, :40] = 250
    for k in range(16):
        Image.fromarray(half).save(tmp_path / "a" / f"{k}.png")
    cfg = Preprocess(train=TrainTransform(scale=(1.0, 1.0), ratio=(80 / 60, 80 / 60)))
    with make_loader(tmp_path, train=True, batch_size=16, backend=backend, preset=cfg, seed=4, num_threads=2) as loader:
        images, _ = next(iter(loader))
    left_bright = (images[:, 0, :, :50].mean(dim=(1, 2)) > images[:, 0, :, -50:].mean(dim=(1, 2)))
    flipped = int((~left_bright).sum())
    assert 1 <= flipped <= 15  # P(all 16 the same) = 2 * 0.5**16
    with make_loader(tmp_path, train=False, batch_size=16, backend=backend, num_threads=2) as loader:
        a, _ = next(iter(loader))
        b, _ = next(iter(loader))
    assert torch.equal(a, b)
    assert bool((a[:, 0, :, :50].mean(dim=(1, 2)) > a[:, 0, :, -50:].mean(dim=(1, 2))).all())


def test_a_dataloader_training_loop_runs_unchanged(identity_folder, backend):
    root, _ = identity_folder
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = make_loader(root, train=True, batch_size=8, backend=backend, seed=0, num_threads=2)
    steps = 0
    for epoch in range(2):
        loader.set_epoch(epoch)
        for i, (images, target) in enumerate(loader):
            images = images.to("cpu", non_blocking=True)
            loss = torch.nn.functional.cross_entropy(model(images), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            assert i < len(loader)
    assert steps == 2 * len(loader) == 6
    loader.close()
    with pytest.raises(RuntimeError, match="closed"):
        iter(loader)


def test_sampler_set_epoch_idiom_sets_the_epoch(identity_folder, backend):
    root, identity_to_class = identity_folder
    with make_loader(root, train=True, batch_size=6, backend=backend, seed=9, num_threads=2) as a, \
            make_loader(root, train=True, batch_size=6, backend=backend, seed=9, num_threads=2) as b:
        a.sampler.set_epoch(4)
        b.set_epoch(4)
        assert collect(a)[0] == collect(b)[0]
        assert len(a.sampler) == len(identity_to_class)


@pytest.mark.parametrize("resampler", ["torch", "dali"])
@pytest.mark.parametrize("train", [True, False])
def test_channels_last_holds_the_same_values_as_the_planar_layout(identity_folder, resampler, train):
    """dali-cpu hands the torch resampler's output to the last op as CHW or HWC depending on the
    requested layout: the values must not depend on it."""
    root, _ = identity_folder
    outputs = []
    for channels_last in (False, True):
        cfg = Preprocess(normalize=Normalize(channels_last=channels_last))
        with make_loader(root, train=train, batch_size=23, backend="dali-cpu", preset=cfg, seed=1,
                         resampler=resampler) as loader:
            outputs.append(next(iter(loader))[0])
    assert outputs[1].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(outputs[0], outputs[1])


def test_the_resampler_is_validated(identity_folder):
    root, _ = identity_folder
    with pytest.raises(ValueError, match=r"resampler must be one of \('auto', 'dali', 'torch'\), got 'pil'"):
        make_loader(root, train=True, batch_size=5, backend="dali-cpu", resampler="pil")
    with make_loader(root, train=True, batch_size=5, backend="dali-cpu") as loader:
        assert loader.resampler == "torch"
    with make_loader(root, train=True, batch_size=5, backend="dali-cpu", resampler="dali") as loader:
        assert loader.resampler == "dali"


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_sampler_and_batch_sampler_tell_the_truth(identity_folder, backend):
    """What frameworks read from a DataLoader: the next epoch's order and batches, as the loader
    will really deliver them, on this rank; set_epoch through the sampler moves the loader."""
    from torch.utils.data import Sampler

    root, _ = identity_folder
    preset = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))
    with make_loader(root, train=True, batch_size=4, backend=backend, seed=9, num_threads=1, preset=preset,
                     shard_id=1, num_shards=2) as loader:
        sampler, batches = loader.sampler, loader.batch_sampler
        assert isinstance(sampler, Sampler) and isinstance(batches, Sampler) and batches.sampler is sampler
        assert (sampler.shuffle, sampler.num_replicas, sampler.rank, sampler.seed) == (True, 2, 1, 9)
        assert (batches.batch_size, batches.drop_last, len(batches)) == (4, False, len(loader))
        assert len(sampler) == 12 and loader.num_workers == (0 if backend == "dali-cpu" else 1)
        sampler.set_epoch(3)
        assert loader.epoch == sampler.epoch == 3
        planned = list(batches)
        assert sum(planned, []) == list(sampler)
        paths = [loader.dataset.samples[i][0] for i in sum(planned, [])]
        identities = [int(Path(p).stem) for p in paths]
        delivered = sum((read_identities(images) for images, _ in loader), [])
        assert delivered == identities


def test_batch_ops_run_on_one_thread_and_leave_the_callers_count(identity_folder, backend, monkeypatch):
    """The output stage's random erasing runs with one intra-op thread on the CPU (the engine keeps
    the cores busy) and the training thread's torch thread count is what it was, between batches
    and after an error inside the stage."""
    from dali_pipes import RandomErasing
    from dali_pipes.ops import erasing

    root, _ = identity_folder
    seen: list[int] = []
    apply = erasing.Erasing.apply

    def recorded(self, images, settings, rng, *, in_place=False):
        seen.append(torch.get_num_threads())
        if len(seen) == 3:
            raise RuntimeError("planted")
        return apply(self, images, settings, rng, in_place=in_place)

    monkeypatch.setattr(erasing.Erasing, "apply", recorded)
    torch.set_num_threads(2)  # the autouse _quiet_threads fixture restores the count after the test
    cfg = Preprocess(train=TrainTransform(size=32, random_erasing=RandomErasing(0.5)))
    with make_loader(root, train=True, batch_size=4, backend=backend, preset=cfg, seed=0, num_threads=2) as loader:
        batches = iter(loader)
        for _ in range(2):
            next(batches)
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="planted"):
            next(batches)
    assert seen == [1, 1, 1] and torch.get_num_threads() == 2
