"""Determinism (bit-identical runs; independent of thread and worker counts) and exact resume."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

from dali_pipes import AutoAugment, ColorJitter, MixUpCutMix, Preprocess, RandomErasing, TrainTransform, make_loader

from ..conftest import CPU_BACKENDS

FULL_TRAIN = Preprocess(train=TrainTransform(
    size=64, color_jitter=ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), auto_augment=AutoAugment("randaugment"),
    random_erasing=RandomErasing(p=0.5)))


def batches(loader, epochs):
    """All batches of `epochs` epochs, the way a training loop asks for them."""
    out = []
    for epoch in range(loader.epoch, loader.epoch + epochs):
        loader.set_epoch(epoch)
        out += [(x.clone(), y.clone()) for x, y in loader]
    return out


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


def build(root, backend, *, seed=4, threads=2, train=True, preset=FULL_TRAIN, mix=True, resampler="auto"):
    return make_loader(root, train=train, batch_size=5, backend=backend, seed=seed, preset=preset,
                       num_threads=threads, mix=MixUpCutMix(3, seed=0) if mix and train else None,
                       resampler=resampler)


# dali-cpu with its default resampler (torchvision's kernel) and with DALI's (the GPU's graph)
ENGINES = [("dali-cpu", "auto"), ("dali-cpu", "dali"), ("torchvision", "auto")]


@pytest.mark.parametrize("backend, resampler", ENGINES)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_bit_identical_runs_and_thread_independence(identity_folder, backend, resampler, train):
    root, _ = identity_folder
    kw = dict(train=train, resampler=resampler)
    with build(root, backend, **kw) as a, build(root, backend, **kw) as b, build(root, backend, threads=1, **kw) as c, \
            build(root, backend, threads=3, **kw) as e:
        first = batches(a, 2)
        assert same(first, batches(b, 2))
        assert same(first, batches(c, 2)), "the output must not depend on num_threads / workers"
        assert same(first, batches(e, 2)), "the output must not depend on num_threads / workers"
    if train:
        with build(root, backend, seed=5, **kw) as d:
            assert not same(first, batches(d, 2))


RESUMES = [(b, "auto", n) for b in CPU_BACKENDS for n in (0, 2, 5, 7)] + [("dali-cpu", "dali", 7)]


@pytest.mark.parametrize("backend, resampler, stop_after", RESUMES)
def test_resume_mid_epoch_and_across_epochs(identity_folder, backend, resampler, stop_after):
    """Stop after `stop_after` batches (5 per epoch), save, restore into a fresh loader: the rest of
    that epoch and the next ones are bit-identical to the uninterrupted run."""
    root, _ = identity_folder
    with build(root, backend, resampler=resampler) as loader:
        reference = batches(loader, 3)
    with build(root, backend, resampler=resampler) as loader:
        seen = 0
        for epoch in range(3 if stop_after else 0):
            loader.set_epoch(epoch)
            for _ in loader:
                seen += 1
                if seen == stop_after:
                    break
            if seen == stop_after:
                break
        state = loader.state_dict()
    buffer = io.BytesIO()
    torch.save({"loader": state}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["loader"]
    pickle.loads(pickle.dumps(state))
    with build(root, backend, resampler=resampler) as resumed:
        resumed.load_state_dict(state)
        rest = []
        for epoch in range(state["epoch"], 3):
            resumed.set_epoch(epoch)  # the usual loop; the resumed epoch keeps its position
            rest += [(x.clone(), y.clone()) for x, y in resumed]
    assert same(rest, reference[stop_after:])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_resume_an_eval_loader(identity_folder, backend):
    root, _ = identity_folder
    with build(root, backend, train=False) as loader:
        reference = batches(loader, 1)
    with build(root, backend, train=False) as loader:
        it = iter(loader)
        next(it), next(it)
        state = loader.state_dict()
    with build(root, backend, train=False) as resumed:
        resumed.load_state_dict(state)
        assert same([(x, y) for x, y in resumed], reference[2:])


def test_a_state_from_another_configuration_or_dataset_is_refused(identity_folder, tmp_path):
    from ..conftest import make_identity_folder

    root, _ = identity_folder
    with build(root, "torchvision") as loader:
        next(iter(loader))
        state = loader.state_dict()
    with make_loader(root, train=True, batch_size=6, backend="torchvision", seed=4, preset=FULL_TRAIN,
                     mix=MixUpCutMix(3)) as other:
        with pytest.raises(ValueError, match="another configuration or dataset.*batch_size: state has 5, loader has 6"):
            other.load_state_dict(state)
    make_identity_folder(tmp_path, {"x": 4, "y": 3})
    with build(tmp_path, "torchvision") as other:
        with pytest.raises(ValueError, match="another configuration or dataset.*dataset"):
            other.load_state_dict(state)
    with build(root, "dali-cpu") as other:
        with pytest.raises(ValueError, match="backend 'torchvision'"):
            other.load_state_dict(state)
    with build(root, "torchvision", seed=9) as other:
        with pytest.raises(ValueError, match="saved with seed 4"):
            other.load_state_dict(state)
    with pytest.raises(ValueError, match="not a dali-pipes loader state"):
        build(root, "torchvision").load_state_dict({"epoch": 1})


def test_a_loader_built_without_a_seed_adopts_the_states(identity_folder):
    root, _ = identity_folder
    with build(root, "dali-cpu", seed=11, preset=Preprocess()) as loader:
        reference = batches(loader, 1)
    with build(root, "dali-cpu", seed=11, preset=Preprocess()) as loader:
        next(iter(loader))
        state = loader.state_dict()
    with make_loader(root, train=True, batch_size=5, backend="dali-cpu", seed=None, num_threads=2,
                     mix=MixUpCutMix(3, seed=0)) as resumed:
        resumed.load_state_dict(state)
        assert resumed.seed == 11
        assert same([(x.clone(), y.clone()) for x, y in resumed], reference[1:])
