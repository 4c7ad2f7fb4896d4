"""`dali_pipes.timm.create_loader` driven as timm's train.py drives `timm.data.create_loader`: its
keyword sets (train and eval), timm's dataset from `create_dataset`, a timm model trained a few
steps with timm's losses (SoftTargetCrossEntropy under MixUp/CutMix), MixUp switched off mid-run
the way train.py switches it (`loader.mixup_enabled = False`, or `mixup_fn.mixup_enabled` without
the prefetcher), a checkpoint and a resume, and torchrun x2 with `distributed=True`; on both CPU
backends. What timm offers and dali-pipes does not raises an error naming the argument."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dali_pipes.errors import ConfigError

timm = pytest.importorskip("timm", reason="the test extra installs timm")
from timm.data import FastCollateMixup, Mixup, create_dataset  # noqa: E402
from timm.loss import SoftTargetCrossEntropy  # noqa: E402

from dali_pipes.timm import create_loader  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE = 64
CPU = torch.device("cpu")
WORKER = Path(__file__).with_name("timm_ddp_worker.py")


@pytest.fixture(scope="module")
def photo_root(tmp_path_factory):
    from dali_pipes.synthetic import make_synthetic_imagefolder

    return make_synthetic_imagefolder(tmp_path_factory.mktemp("timm") / "photos", num_images=24, num_classes=4)


def _train_kwargs(collate_fn, prefetcher: bool) -> dict:
    """train.py's `create_loader` call for the train split (its argument names, its defaults where
    the command line leaves them: --aa rand-m9-mstd0.5-inc1 --reprob 0.25 --mixup 0.8 --cutmix 1.0)."""
    return dict(input_size=(3, SIZE, SIZE), batch_size=8, is_training=True, use_prefetcher=prefetcher, no_aug=False,
                re_prob=0.25, re_mode="pixel", re_count=1, re_split=False, scale=[0.08, 1.0], ratio=[3. / 4., 4. / 3.],
                hflip=0.5, vflip=0.0, color_jitter=0.4, auto_augment="rand-m9-mstd0.5-inc1", num_aug_repeats=0,
                num_aug_splits=0, interpolation="random", mean=MEAN, std=STD, num_workers=2, distributed=False,
                collate_fn=collate_fn, pin_memory=False, device=CPU, use_multi_epochs_loader=False,
                worker_seeding="all")


def _eval_kwargs(prefetcher: bool) -> dict:
    return dict(input_size=(3, SIZE, SIZE), batch_size=8, is_training=False, use_prefetcher=prefetcher,
                interpolation="bicubic", mean=MEAN, std=STD, num_workers=2, distributed=False, crop_pct=0.875,
                pin_memory=False, device=CPU)


def _mixup_args():
    return dict(mixup_alpha=0.8, cutmix_alpha=1.0, cutmix_minmax=None, prob=1.0, switch_prob=0.5, mode="batch",
                label_smoothing=0.1, num_classes=4)


def _loaders(root, backend, prefetcher):
    """train.py's setup: the datasets, FastCollateMixup with the prefetcher or Mixup without it."""
    train_set = create_dataset("", root=str(root), split="", is_training=True)
    eval_set = create_dataset("", root=str(root), split="", is_training=False)
    collate_fn = FastCollateMixup(**_mixup_args()) if prefetcher else None
    mixup_fn = None if prefetcher else Mixup(**_mixup_args())
    train = create_loader(train_set, **_train_kwargs(collate_fn, prefetcher), backend=backend, seed=3)
    evaluate = create_loader(eval_set, **_eval_kwargs(prefetcher), backend=backend, seed=3)
    return train, evaluate, mixup_fn


def _train_epoch(model, loader, optimizer, loss_fn, mixup_fn, epoch, mixup_off_epoch, prefetcher):
    """train.py's train_one_epoch, reduced to what touches the loader."""
    if mixup_off_epoch and epoch >= mixup_off_epoch:
        if prefetcher and loader.mixup_enabled:
            loader.mixup_enabled = False
        elif mixup_fn is not None:
            mixup_fn.mixup_enabled = False
    model.train()
    firsts = []
    for images, target in loader:
        if not prefetcher:
            images, target = images.to(CPU), target.to(CPU)
            if mixup_fn is not None:
                images, target = mixup_fn(images, target)
        firsts.append((images.clone(), target.clone()))
        loss = loss_fn(model(images), target)
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return firsts


def _validate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, target in loader:
            assert images.dtype == torch.float32 and target.dtype == torch.int64 and target.ndim == 1
            correct += (model(images).argmax(1) == target).sum().item()
            total += len(target)
    return correct, total


def _model():
    torch.manual_seed(0)
    return timm.create_model("resnet10t", pretrained=False, num_classes=4)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("prefetcher", [True, False])
@pytest.mark.parametrize("backend", ["dali-cpu", "torchvision"])
def test_train_py_trains_validates_and_resumes(photo_root, tmp_path, backend, prefetcher):
    train, evaluate, mixup_fn = _loaders(photo_root, backend, prefetcher)
    assert len(train) == 3 and len(evaluate) == 3  # drop_last for train, as timm
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = SoftTargetCrossEntropy()
    batches = {}
    for epoch in range(3):
        if epoch == 2:  # the checkpoint train.py's saver writes after epoch 1 (here: with the loader's state)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                        "loader": train.state_dict()}, tmp_path / "last.pth")
        batches[epoch] = _train_epoch(model, train, optimizer, loss_fn, mixup_fn, epoch, 2, prefetcher)
        correct, total = _validate(model, evaluate)
        assert total == 24
    soft = batches[0][0][1]
    assert soft.shape == (8, 4) and torch.allclose(soft.sum(1), torch.ones(8))
    assert (soft.max(1).values < 0.925 - 1e-6).any()  # mixed: some target below the smoothed one-hot peak
    off = batches[2][0][1]  # mixup off from epoch 2: smoothed one-hot targets, as timm's Mixup with lambda 1
    assert torch.allclose(off.max(1).values, torch.full((8,), 0.925)) and torch.allclose(off.min(1).values,
                                                                                          torch.full((8,), 0.025))
    if prefetcher:
        assert train.mixup_enabled is False

    # resume: a fresh process's objects from the checkpoint repeat epoch 2's batches exactly
    train2, evaluate2, mixup_fn2 = _loaders(photo_root, backend, prefetcher)
    state = torch.load(tmp_path / "last.pth", weights_only=False)
    model2 = _model()
    model2.load_state_dict(state["model"])
    optimizer2 = torch.optim.SGD(model2.parameters(), lr=0.01)
    optimizer2.load_state_dict(state["optimizer"])
    train2.load_state_dict(state["loader"])
    again = _train_epoch(model2, train2, optimizer2, loss_fn, mixup_fn2, state["epoch"], 2, prefetcher)
    assert len(again) == len(batches[2])
    for (a, ta), (b, tb) in zip(again, batches[2]):
        assert torch.equal(a, b) and torch.equal(ta, tb)
    for loader in (train, evaluate, train2, evaluate2):
        loader.close()


def test_the_prefetcher_delivers_img_dtype_and_erases(photo_root):
    dataset = create_dataset("", root=str(photo_root), split="", is_training=True)
    kwargs = {**_train_kwargs(None, True), "img_dtype": torch.bfloat16, "auto_augment": None, "re_prob": 1.0,
              "re_mode": "const"}
    with_erasing = create_loader(dataset, **kwargs, seed=1)
    images, target = next(iter(with_erasing))
    assert images.dtype == torch.bfloat16 and target.dtype == torch.int64
    zeros = (images == 0).all(dim=1).float().mean(dim=(1, 2))  # timm's const mode: a box of zeros per image
    assert (zeros > 0.01).all()
    with_erasing.close()
    plain = create_loader(dataset, **{**kwargs, "use_prefetcher": False}, seed=1)
    assert next(iter(plain))[0].dtype == torch.float32  # without the prefetcher: timm's float32 tensors
    plain.close()


def test_no_aug_is_timms_resize_and_centre_crop_shuffled_and_still_mixed(photo_root):
    """timm's no_aug training (transforms_noaug_train): Resize(size) + CenterCrop(size), no other
    augmentation, shuffled, the last partial batch dropped, MixUp/CutMix still applied by its collate."""
    train_set = create_dataset("", root=str(photo_root), split="", is_training=True)
    loader = create_loader(train_set, **{**_train_kwargs(FastCollateMixup(**_mixup_args()), True), "no_aug": True},
                           seed=4)
    evaluate = create_loader(create_dataset("", root=str(photo_root), split="", is_training=False),
                             **{**_eval_kwargs(True), "crop_pct": 1.0, "interpolation": "bilinear"}, seed=4)
    assert len(loader) == 3
    images, target = next(iter(loader))
    assert target.shape == (8, 4) and not torch.equal(target.max(1).values, torch.full((8,), 0.925))  # mixed
    loader.mixup_enabled = False
    plain = {round(float(x.sum()), 1) for batch, _ in evaluate for x in batch}
    epochs = []
    for _ in range(2):
        epochs.append([round(float(x.sum()), 1) for batch, _ in loader for x in batch])
    assert set(epochs[0]) <= plain and set(epochs[1]) <= plain  # each image is its eval-geometry crop
    assert epochs[0] != epochs[1]  # reshuffled
    loader.close()
    evaluate.close()


def test_timms_erasing_arguments_are_read(photo_root):
    """re_mode 'rand' / 'pixel' / 'const', re_count and re_split mean timm's RandomErasing."""
    dataset = create_dataset("", root=str(photo_root), split="", is_training=True)
    loader = create_loader(dataset, **{**_train_kwargs(None, True), "re_prob": 0.5, "re_mode": "rand", "re_count": 3,
                                       "re_split": True})
    erasing = loader.loader.preprocess.train.random_erasing
    assert (erasing.p, erasing.value, erasing.count, erasing.splits, erasing.scale) == (0.5, "random_color", 3, 2,
                                                                                        (0.02, 1 / 3))
    loader.close()


@pytest.mark.parametrize("argument, value, words", [
    ("num_aug_splits", 2, "AugMix"), ("tf_preprocessing", True, "TF"), ("train_crop_mode", "rkrc", "rrc"),
    ("num_aug_repeats", 3, "RepeatAugSampler"),
    ("re_mode", "bogus", "re_mode"),
    ("collate_fn", lambda batch: batch, "FastCollateMixup"), ("input_size", (3, 64, 48), "square"),
    ("worker_seeding", lambda info: 0, "counters"), ("auto_augment", "augmix-m5", "AugMix"),
])
def test_what_cannot_be_honestly_provided_is_refused_by_name(photo_root, argument, value, words):
    dataset = create_dataset("", root=str(photo_root), split="", is_training=True)
    kwargs = {**_train_kwargs(None, True), argument: value}
    with pytest.raises(ConfigError, match=words) as err:
        create_loader(dataset, **kwargs)
    assert argument in str(err.value)


def test_the_signature_is_timms():
    """Every parameter of timm's create_loader, in its order, with its default."""
    import inspect

    from timm.data import create_loader as timms

    ours, theirs = inspect.signature(create_loader).parameters, inspect.signature(timms).parameters
    assert list(ours)[:len(theirs)] == list(theirs)
    for name, parameter in theirs.items():
        assert ours[name].default == parameter.default, name


@pytest.fixture(scope="module")
def torchrun_ranks(identity_folder, tmp_path_factory) -> list[dict]:
    """One `torchrun --nproc_per_node 2` launch; each rank runs train.py's block on each backend in turn."""
    out = tmp_path_factory.mktemp("timm-torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node",
               "2", str(WORKER), str(identity_folder[0]), str(out), "dali-cpu", "torchvision"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=280, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["dali-cpu", "torchvision"])
def test_torchrun_two_ranks_with_distributed_true(identity_folder, torchrun_ranks, backend):
    ranks = [r[backend] for r in torchrun_ranks]
    n = len(identity_folder[1])
    for mode in ("train", "eval"):
        a, b = ranks[0][mode], ranks[1][mode]
        assert a["len"] == b["len"]
        for epoch in (0, 1):
            seen_a, seen_b = a["epochs"][epoch], b["epochs"][epoch]
            assert len(seen_a) == len(seen_b)  # equal steps on every rank
            if mode == "eval":  # every sample once, one padded repeat at most
                assert set(seen_a) | set(seen_b) == set(range(n))
            else:  # train drops the last partial batch, as timm: disjoint shares
                assert len(set(seen_a) & set(seen_b)) <= 1
        if mode == "train":
            assert a["epochs"][0] != a["epochs"][1]  # set_epoch reshuffles
    # --aug-repeats 3 (DeiT): 12 positions per rank, the first 8 samples of the permutation 3 times each,
    # a sample's copies dealt to different ranks in turn (RepeatAugSampler)
    a, b = ranks[0]["repeats"], ranks[1]["repeats"]
    assert a["len"] == b["len"] == 4
    for epoch in (0, 1):
        together = a["epochs"][epoch] + b["epochs"][epoch]
        counts = {i: together.count(i) for i in set(together)}
        assert len(together) == 24 and len(counts) == 8 and set(counts.values()) == {3}, counts


def test_create_loaders_arguments_travel_as_one_object():
    """create_loader's parameters after the dataset, their defaults and order, are TimmLoaderArgs'
    fields: read by name downstream, and the two cannot drift apart."""
    import dataclasses
    import inspect

    from dali_pipes.timm import TimmLoaderArgs, create_loader

    params = list(inspect.signature(create_loader).parameters.values())[1:]
    fields = dataclasses.fields(TimmLoaderArgs)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields):
        assert p.default == (inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default), p.name
