"""Resume edge cases: the position a state records is the plan's, whatever the caller did with
iterators or however many batches `on_error="skip"` left out."""

from __future__ import annotations

import warnings

import pytest
import torch

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader

from .conftest import CPU_BACKENDS, identity_colour, read_identities, write_image

SMALL = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))


def build(root, backend, **kw):
    options = dict(train=True, batch_size=3, backend=backend, seed=11, num_threads=1, preset=SMALL)
    return make_loader(root, **{**options, **kw})


def identities(batches):
    return [read_identities(images) for images, _ in batches]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_an_iterator_dropped_before_its_first_batch_changes_nothing(identity_folder, backend):
    root, _ = identity_folder
    with build(root, backend) as reference:
        epoch = list(reference)
        state = None
        reference.set_epoch(0)
        it = iter(reference)
        for _ in range(2):
            next(it)
        state = reference.state_dict()
    with build(root, backend) as loader:
        loader.load_state_dict(state)
        dropped = iter(loader)  # never advanced
        del dropped
        assert loader.state_dict()["batches_done"] == 2
        assert loader.state_dict()["epoch"] == 0
        rest = list(loader)
    assert identities(rest) == identities(epoch[2:])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_set_epoch_after_iter_but_before_the_first_batch_is_honoured(identity_folder, backend):
    root, _ = identity_folder
    with build(root, backend) as a, build(root, backend) as b:
        b.set_epoch(3)
        expected = identities(list(b))
        it = iter(a)
        a.set_epoch(3)  # Lightning takes the iterator, then sets the epoch
        assert identities(list(it)) == expected


def folder_with_an_unreadable_batch(root, n=9):
    """`n` samples, batches of 3 in plan order (shuffle off): the second batch is all unreadable."""
    (root / "c").mkdir(parents=True)
    for k in range(n):
        path = root / "c" / f"{k:02d}.png"
        if 3 <= k < 6:
            path.write_bytes(b"not an image at all")
        else:
            write_image(path, identity_colour(k), (20, 30))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_resume_after_a_wholly_unreadable_batch_uses_the_plan_position(tmp_path, backend):
    folder_with_an_unreadable_batch(tmp_path)
    kw = dict(shuffle=False, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with build(tmp_path, backend, **kw) as full:
            whole = identities(list(full))
        assert whole == [[0, 1, 2], [6, 7, 8]]
        with build(tmp_path, backend, **kw) as first:
            it = iter(first)
            assert read_identities(next(it)[0]) == [0, 1, 2]
            assert read_identities(next(it)[0]) == [6, 7, 8]  # plan batch 2; plan batch 1 was unreadable
            state = first.state_dict()
        assert (state["epoch"], state["batches_done"]) == (1, 0)
        with build(tmp_path, backend, **kw) as second:
            it = iter(second)
            next(it)
            state = second.state_dict()
        assert (state["epoch"], state["batches_done"]) == (0, 1)
        with build(tmp_path, backend, **kw) as resumed:
            resumed.load_state_dict(state)
            assert identities(list(resumed)) == [[6, 7, 8]]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_resume_after_the_left_out_batch(tmp_path, backend):
    """The state is taken after the left-out batch: the engine delivered 2 batches, the plan is at 3."""
    folder_with_an_unreadable_batch(tmp_path, n=15)
    kw = dict(shuffle=False, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with build(tmp_path, backend, **kw) as first:
            it = iter(first)
            next(it), next(it)
            state = first.state_dict()
        assert (state["epoch"], state["batches_done"]) == (0, 3)
        with build(tmp_path, backend, **kw) as resumed:
            resumed.load_state_dict(state)
            assert identities(list(resumed)) == [[9, 10, 11], [12, 13, 14]]
            assert identities(list(resumed)) == [[0, 1, 2], [6, 7, 8], [9, 10, 11], [12, 13, 14]]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_batch_augmentation_follows_the_plan_index_when_a_batch_is_left_out(tmp_path, backend):
    """Erasing/MixUp draw per (epoch, plan batch): the batch after a left-out one gets the same
    numbers in a fresh run and in a resumed one."""
    from dali_pipes import MixUpCutMix

    folder_with_an_unreadable_batch(tmp_path)
    kw = dict(shuffle=False, on_error="skip", mix=MixUpCutMix(1, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with build(tmp_path, backend, **kw) as full:
            whole = [(x.clone(), y.clone()) for x, y in full]
        with build(tmp_path, backend, **kw) as first:
            it = iter(first)
            next(it)
            state = first.state_dict()
        with build(tmp_path, backend, **kw) as resumed:
            resumed.load_state_dict(state)
            rest = [(x.clone(), y.clone()) for x, y in resumed]
    assert len(rest) == 1
    assert torch.equal(rest[0][0], whole[1][0]) and torch.equal(rest[0][1], whole[1][1])
