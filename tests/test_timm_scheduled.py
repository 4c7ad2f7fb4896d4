"""timm's scheduled input sizes through `dali_pipes.timm.create_loader` (`input_size_choices`,
`batch_size_choices`, `batch_choice_*`, `batch_schedule_*`, `num_batches`): the batch shapes
are timm's own, epoch by epoch, against `timm.data.create_loader` with the same arguments; every
batch holds the samples `batch_sampler` lists, preprocessed at its size; an epoch visits each
sample once (sample-budget schedules); ranks share the shapes and split the samples; resume
repeats the rest of an epoch exactly; MixUp mixes every size; what timm refuses is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dali_pipes.errors import ConfigError

from .conftest import read_identities

timm = pytest.importorskip("timm", reason="the test extra installs timm")
from timm.data import FastCollateMixup, create_dataset  # noqa: E402
from timm.data import create_loader as timm_create_loader  # noqa: E402

from dali_pipes.timm import create_loader  # noqa: E402

CPU = torch.device("cpu")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _dataset(root):
    return create_dataset("", root=str(root), split="", is_training=True)


def _identity_of(dataset) -> list[int]:
    """Sample index -> the identity its file was written with (tests/conftest.make_identity_folder)."""
    return [int(Path(name).stem) for name in dataset.filenames()]


def _kwargs(**extra):
    return dict(input_size=(3, 32, 32), batch_size=4, is_training=True, device=CPU, num_workers=1,
                mean=MEAN, std=STD) | extra


def _timm_shapes(root, epochs, **kwargs):
    """The (batch, size) shapes timm's own loader yields, epoch by epoch."""
    loader = timm_create_loader(_dataset(root), **_kwargs(**kwargs, num_workers=0), use_prefetcher=False,
                                persistent_workers=False, no_aug=True)
    shapes = []
    for epoch in range(epochs):
        loader.batch_sampler.set_epoch(epoch)
        shapes.append([(len(x), x.shape[-1]) for x, _ in loader])
    return shapes


SCHEDULES = {
    "sample-budget": dict(input_size_choices=(16, 24, 32), batch_size_choices=(6, 4, 3), batch_choice_seed=7),
    "weighted": dict(input_size_choices=(16, 32), batch_choice_weights=(0.8, 0.2), batch_choice_seed=3),
    "num-batches": dict(input_size_choices=(16, 24), batch_size_choices=(5, 3), num_batches=9),
    "progressive": dict(input_size_choices=(16, 24, 32), batch_choice_schedule="progressive",
                        batch_schedule_epochs=3, batch_schedule_spread=0.5, batch_schedule_random_mix=0.2),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_batch_shapes_are_timms_epoch_by_epoch(identity_folder, backend, name):
    root, _ = identity_folder
    schedule = SCHEDULES[name]
    expected = _timm_shapes(root, 3, **schedule)
    loader = create_loader(_dataset(root), **_kwargs(**schedule), backend=backend, seed=5)
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        assert len(loader) == len(expected[epoch])
        got = [(len(x), x.shape[-1]) for x, _ in loader]
        assert got == expected[epoch], f"epoch {epoch}"
        assert all(x.shape[-2] == x.shape[-1] for x, _ in loader)
    if name == "progressive":  # timm's curriculum: small sizes first, large last
        assert np.mean([s for _, s in expected[0]]) < np.mean([s for _, s in expected[2]])


def test_each_batch_holds_the_listed_samples_at_its_size(identity_folder, backend):
    """no_aug (timm's eval geometry): every image is its sample's flat colour, so the pixels say
    which sample it is; batch_sampler lists (sample index, choice) exactly as they come."""
    root, _ = identity_folder
    dataset = _dataset(root)
    identity = _identity_of(dataset)
    loader = create_loader(dataset, **_kwargs(**SCHEDULES["sample-budget"]), no_aug=True, backend=backend, seed=2)
    sizes = (16, 24, 32)
    for epoch in range(2):
        loader.set_epoch(epoch)
        listed = list(loader.batch_sampler)
        seen = []
        for (images, labels), batch in zip(loader, listed, strict=True):
            choices = {choice for _, choice in batch}
            assert len(choices) == 1 and images.shape[-1] == sizes[choices.pop()]
            assert read_identities(images, mean=MEAN, std=STD) == [identity[i] for i, _ in batch]
            assert labels.tolist() == [dataset.reader.samples[i][1] for i, _ in batch]
            seen += [i for i, _ in batch]
        budget = sum(len(b) for b in listed)
        assert len(seen) == len(set(seen)) == budget  # a sample-budget epoch: each sample at most once
        assert len(dataset) - budget < 3  # ... and all but what no batch fits (smallest batch 3)


def test_one_choice_is_the_plain_loader(identity_folder, backend):
    """A single size and batch size: the same samples, in the same order, augmented alike (RandAugment,
    random crop and flip: the per-sample draws are the plain loader's)."""
    root, _ = identity_folder
    aug = dict(auto_augment="rand-m9-mstd0.5-inc1", color_jitter=0.4, use_prefetcher=False)
    plain = create_loader(_dataset(root), **_kwargs(**aug), backend=backend, seed=11)
    scheduled = create_loader(_dataset(root), **_kwargs(**aug), input_size_choices=(32,), backend=backend,
                              seed=11)
    assert len(plain) == len(scheduled)
    for (a, la), (b, lb) in zip(plain, scheduled, strict=True):
        assert torch.equal(la, lb)
        assert torch.equal(a, b)


def test_ranks_share_the_shapes_and_split_the_samples(identity_folder, backend, monkeypatch):
    root, _ = identity_folder
    dataset = _dataset(root)
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        loader = create_loader(dataset, **_kwargs(**SCHEDULES["sample-budget"]), distributed=True, no_aug=True,
                               backend=backend, seed=4)
        per_rank.append([(x.shape[-1], read_identities(x, mean=MEAN, std=STD)) for x, _ in loader])
    assert [s for s, _ in per_rank[0]] == [s for s, _ in per_rank[1]]  # the same shapes: DDP steps together
    ids = [{i for _, batch in rank for i in batch} for rank in per_rank]
    assert ids[0].isdisjoint(ids[1])


def test_fixed_number_of_batches_cycles_with_fresh_augmentation(identity_folder):
    """num_batches past one pass over the data: timm cycles the samples; the second pass is a new
    order with new per-sample seeds (no repeated augmentation by accident)."""
    root, _ = identity_folder
    dataset = _dataset(root)
    loader = create_loader(dataset, **_kwargs(input_size_choices=(16,), batch_size_choices=(5,), num_batches=8),
                           backend="dali-cpu", seed=6)
    plan = loader.loader.plan
    batches = plan.epoch_batches(0)
    indices = np.concatenate([i for _, i, _ in batches])
    seeds = np.concatenate([s for _, _, s in batches])
    n = len(dataset)
    assert len(indices) == 40 and sorted(indices[:n]) == list(range(n))
    first_pass = dict(zip(indices[:n].tolist(), seeds[:n].tolist()))
    assert all(first_pass[i] != s for i, s in zip(indices[n:].tolist(), seeds[n:].tolist()))
    assert indices[n:].tolist() != indices[: 40 - n].tolist()  # a fresh permutation, not a replay


def test_resume_repeats_the_rest_of_the_epoch(identity_folder, backend):
    root, _ = identity_folder
    options = dict(**_kwargs(**SCHEDULES["sample-budget"]), auto_augment="rand-m9-n2", re_prob=0.5,
                   use_prefetcher=False, backend=backend, seed=8)
    reference = create_loader(_dataset(root), **options)
    reference.set_epoch(1)
    expected = [(x.clone(), y.clone()) for x, y in reference]
    first = create_loader(_dataset(root), **options)
    first.set_epoch(1)
    iterator = iter(first)
    for _ in range(3):
        next(iterator)
    state = first.state_dict()
    first.close()
    resumed = create_loader(_dataset(root), **options)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == len(expected) - 3
    for (a, la), (b, lb) in zip(rest, expected[3:], strict=True):
        assert a.shape == b.shape and torch.equal(la, lb) and torch.equal(a, b)
    with pytest.raises(ValueError, match="scheduled choices"):
        other = create_loader(_dataset(root), **{**options, "input_size_choices": (16, 32),
                                                 "batch_size_choices": (6, 3)})
        other.load_state_dict(state)


def test_mixup_mixes_every_size_and_switches_off(identity_folder, backend):
    root, _ = identity_folder
    mix = FastCollateMixup(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=3)
    loader = create_loader(_dataset(root), **_kwargs(input_size_choices=(16, 32), batch_size_choices=(6, 4)),
                           collate_fn=mix, backend=backend, seed=9)
    sizes = set()
    for images, targets in loader:
        sizes.add(images.shape[-1])
        assert targets.shape == (len(images), 3) and torch.allclose(targets.sum(1), torch.ones(len(images)))
        assert (targets.max(1).values < 0.999).all()  # smoothed and mixed soft targets
    assert sizes == {16, 32}
    loader.mixup_enabled = False
    images, targets = next(iter(loader))
    assert torch.allclose(targets.max(1).values, torch.full((len(images),), 1 - 0.1 + 0.1 / 3))



def test_an_epoch_broken_off_leaves_the_next_one_whole(identity_folder, backend):
    """A loop that breaks mid-epoch (each size's pipeline then holds batches read ahead) and the
    next epoch: every batch of it, in timm's shapes, with the listed samples."""
    root, _ = identity_folder
    dataset = _dataset(root)
    identity = _identity_of(dataset)
    loader = create_loader(dataset, **_kwargs(**SCHEDULES["sample-budget"]), no_aug=True, backend=backend, seed=3)
    for step, _ in enumerate(loader):
        if step == 1:
            break
    loader.set_epoch(1)
    listed = list(loader.batch_sampler)
    got = [read_identities(x, mean=MEAN, std=STD) for x, _ in loader]
    assert got == [[identity[i] for i, _ in batch] for batch in listed]
    assert len(got) == len(loader) == len(_timm_shapes(root, 2, **SCHEDULES["sample-budget"])[1])

@pytest.mark.parametrize("extra, argument", [
    (dict(is_training=False, input_size_choices=(16, 32)), "input_size_choices"),
    (dict(input_size_choices=(16, 32), batch_size_choices=(4,)), "batch_size_choices"),
    (dict(input_size_choices=(16, 32), batch_choice_weights=(1.0,)), "batch_choice_weights"),
    (dict(batch_size_choices=(4, 8)), "batch_size_choices"),
    (dict(num_batches=5), "num_batches"),
    (dict(input_size_choices=(16, 32), use_multi_epochs_loader=True), "use_multi_epochs_loader"),
    (dict(input_size_choices=(16, (24, 32))), "input_size"),
    (dict(input_size_choices=(16, 32), batch_choice_schedule="progressive"), "schedule_epochs"),
    (dict(input_size_choices=(16, 32), batch_size_choices=(64, 64)), "No full scheduled batch"),
])
def test_what_timm_refuses_is_refused_by_name(identity_folder, extra, argument):
    root, _ = identity_folder
    with pytest.raises(ConfigError, match=argument):
        create_loader(_dataset(root), **_kwargs(**extra), backend="dali-cpu", seed=1)


@pytest.mark.gpu
def test_gpu_scheduled_sizes_are_timms(identity_folder):
    """dali-gpu: the batches of every size on the GPU, in timm's shapes, the listed samples in them."""
    root, _ = identity_folder
    dataset = _dataset(root)
    identity = _identity_of(dataset)
    expected = _timm_shapes(root, 1, **SCHEDULES["sample-budget"])[0]
    loader = create_loader(dataset, **_kwargs(**SCHEDULES["sample-budget"], device=torch.device("cuda")),
                           no_aug=True, backend="dali-gpu", seed=2)
    listed = list(loader.batch_sampler)
    got = []
    for (images, _), batch in zip(loader, listed, strict=True):
        assert images.is_cuda
        assert read_identities(images, mean=MEAN, std=STD) == [identity[i] for i, _ in batch]
        got.append((len(images), images.shape[-1]))
    assert got == expected
