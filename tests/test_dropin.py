"""`dali_pipes.DataLoader`: torch's DataLoader signature over the user's own torchvision dataset,
transform and sampler. Eval batches equal torch's DataLoader's; samplers keep their samples and
their epochs; what cannot be honoured is refused by the argument's name."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
import torch
import torchvision
from torch.utils.data import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
    default_collate,
)
from torchvision import transforms as T
from torchvision.transforms import v2

import dali_pipes
from dali_pipes import ConfigError, SourceError, UnsupportedArgument, UntranslatableTransform, from_torchvision
from dali_pipes.synthetic import make_synthetic_imagefolder

from .parity.checkers import psnr

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
EVAL_V1 = T.Compose([T.Resize(64), T.CenterCrop(56), T.ToTensor(), T.Normalize(MEAN, STD)])
EVAL_V2 = v2.Compose([v2.ToImage(), v2.Resize(64), v2.CenterCrop(56), v2.ToDtype(torch.float32, scale=True),
                      v2.Normalize(MEAN, STD)])
TRAIN = T.Compose([T.RandomResizedCrop(48), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_synthetic_imagefolder(tmp_path_factory.mktemp("photos"), num_images=24, num_classes=3, long_side=96)


def test_the_signature_is_torchs():
    """Every torch DataLoader parameter, in its order, with its default; ours after them, keyword-only."""
    theirs = inspect.signature(torch.utils.data.DataLoader.__init__).parameters
    ours = inspect.signature(dali_pipes.DataLoader).parameters
    names = [n for n in theirs if n != "self"]
    assert list(ours)[:len(names)] == names
    for name in names:
        assert ours[name].default == theirs[name].default, name
        assert ours[name].kind == theirs[name].kind, name
    assert all(p.kind == p.KEYWORD_ONLY for p in list(ours.values())[len(names):])


@pytest.mark.parametrize("backend", ["torchvision", "dali-cpu"])
@pytest.mark.parametrize("transform", [EVAL_V1, EVAL_V2], ids=["v1", "v2"])
def test_eval_batches_equal_torchs_dataloader(folder, backend, transform):
    dataset = torchvision.datasets.ImageFolder(folder, transform)
    theirs = list(torch.utils.data.DataLoader(dataset, batch_size=8))
    with dali_pipes.DataLoader(dataset, batch_size=8, num_workers=2, backend=backend) as loader:
        assert len(loader) == 3 and not loader.train
        ours = list(loader)
    assert len(ours) == len(theirs)
    for (images, labels), (ref_images, ref_labels) in zip(ours, theirs):
        assert torch.equal(labels, ref_labels)
        for a, b in zip(images, ref_images):  # every image, in 0..1 levels x 255
            assert psnr(a * torch.tensor(STD).view(3, 1, 1) * 255, b * torch.tensor(STD).view(3, 1, 1) * 255) >= 50


def test_train_transform_runs_the_engines_train_path(folder):
    dataset = torchvision.datasets.ImageFolder(folder, TRAIN)
    with dali_pipes.DataLoader(dataset, batch_size=6, shuffle=True, drop_last=True, generator=torch.Generator()
                               .manual_seed(7), backend="dali-cpu") as loader:
        assert loader.train and loader.seed == 7 and len(loader) == 4
        images, labels = next(iter(loader))
    assert images.shape == (6, 3, 48, 48) and labels.dtype == torch.int64
    assert loader.preprocess.train.hflip == 0.5 and loader.preprocess.train.size == 48


def _write_cifar(root, n=20):
    """CIFAR-10's python format (pickled batches of 3072-byte rows), as torchvision reads it."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        with open(base / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "labels": rng.integers(0, 10, n).tolist()}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)]}, f)


def test_cifar_and_its_random_split(tmp_path, monkeypatch):
    _write_cifar(tmp_path)
    # the files are CIFAR's format, not CIFAR's bytes: torchvision's md5 checks are the one thing skipped
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: True)
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))])
    cifar = torchvision.datasets.CIFAR10(tmp_path, train=True, transform=transform)
    part, _ = torch.utils.data.random_split(cifar, [40, 60], generator=torch.Generator().manual_seed(0))
    with dali_pipes.DataLoader(part, batch_size=10, backend="torchvision") as loader:
        labels = torch.cat([y for _, y in loader])
        assert loader.preprocess.train.geometry == "pad_crop"
    assert labels.tolist() == [cifar.targets[i] for i in part.indices]  # in order: shuffle=False
    # CIFAR's evaluation transform has no crop: the 32 x 32 images as they are, equal to torch's batches
    eval_cifar = torchvision.datasets.CIFAR10(tmp_path, train=False, transform=T.Compose([
        T.ToTensor(), T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))]))
    for backend in ("torchvision", "dali-cpu"):
        with dali_pipes.DataLoader(eval_cifar, batch_size=10, backend=backend) as loader:
            assert not loader.train
            for (images, labels), (ref, ref_labels) in zip(loader, torch.utils.data.DataLoader(eval_cifar, 10)):
                assert torch.equal(labels, ref_labels) and torch.allclose(images, ref, atol=1e-5)
    with pytest.raises(ConfigError, match="RandomResizedCrop or RandomCrop"):  # no square size to keep
        from_torchvision(T.Compose([T.RandomHorizontalFlip(), T.ToTensor()]))
    flips = from_torchvision(T.Compose([T.RandomHorizontalFlip(), T.ToTensor()]), image_size=32)
    assert flips.train and (flips.preprocess.train.geometry, flips.preprocess.train.padding) == ("pad_crop", 0)


def test_distributed_sampler_shares_and_follows_set_epoch(folder):
    dataset = torchvision.datasets.ImageFolder(folder, EVAL_V1)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=3)
        with dali_pipes.DataLoader(dataset, batch_size=4, sampler=sampler, backend="torchvision") as loader:
            assert (loader.shard_id, loader.num_shards) == (rank, 2) and len(loader) == 3
            epochs = []
            for epoch in (0, 0, 1):
                sampler.set_epoch(epoch)
                batches = iter(loader)  # iter() reads the sampler's epoch
                order = list(loader.sampler)
                labels = torch.cat([y for _, y in batches]).tolist()
                assert labels == [dataset.targets[i] for i in order]
                epochs.append(order)
            assert epochs[0] == epochs[1] != epochs[2]  # an epoch repeats until the user's set_epoch moves it
            seen += epochs[0]
    assert sorted(seen) == list(range(len(dataset)))  # disjoint shares covering the dataset


def test_subset_and_random_samplers(folder):
    dataset = torchvision.datasets.ImageFolder(folder, EVAL_V1)
    with dali_pipes.DataLoader(dataset, batch_size=4, sampler=SubsetRandomSampler([1, 5, 9, 13])) as loader:
        labels = sorted(torch.cat([y for _, y in loader]).tolist())
    assert labels == sorted(dataset.targets[i] for i in (1, 5, 9, 13))
    g = torch.Generator().manual_seed(11)
    with dali_pipes.DataLoader(dataset, batch_size=4, sampler=RandomSampler(dataset, generator=g)) as loader:
        assert loader.seed == 11 and loader.sampler.shuffle


@pytest.mark.parametrize("arguments, name", [
    ({"timeout": 5}, "timeout"), ({"worker_init_fn": print}, "worker_init_fn"),
    ({"collate_fn": lambda batch: batch}, "collate_fn"), ({"batch_size": None}, "batch_size"),
    ({"collate_fn": lambda batch: v2.MixUp(num_classes=3)(*default_collate(batch))}, "collate_fn"),
    ({"batch_sampler": [[0, 1], [2, 3]]}, "batch_sampler"),
    ({"multiprocessing_context": "spawn"}, "multiprocessing_context"),
    ({"sampler": WeightedRandomSampler([1.0] * 24, 24)}, "sampler"),
    ({"sampler": list(range(24))}, "sampler"),
])
def test_what_cannot_be_honoured_is_refused_by_name(folder, arguments, name):
    dataset = torchvision.datasets.ImageFolder(folder, EVAL_V1)
    with pytest.raises(UnsupportedArgument, match=rf"DataLoader\({name}=") as err:
        dali_pipes.DataLoader(dataset, **arguments)
    assert err.value.argument == name


def test_torchs_own_argument_errors(folder):
    dataset = torchvision.datasets.ImageFolder(folder, EVAL_V1)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        dali_pipes.DataLoader(dataset, shuffle=True, sampler=RandomSampler(dataset))
    with pytest.raises(ValueError, match="prefetch_factor"):
        dali_pipes.DataLoader(dataset, prefetch_factor=4)


@pytest.mark.parametrize("transform, words", [
    (T.Compose([T.RandomResizedCrop(32), T.Lambda(lambda x: x), T.ToTensor()]), "Lambda: no translation"),
    (T.Compose([T.RandomResizedCrop(32), T.RandAugment(), T.ColorJitter(0.4), T.ToTensor()]),
     "ColorJitter: comes after"),
    (T.Compose([T.RandomResizedCrop(32, antialias=False), T.ToTensor()]), "antialias=False"),
    (T.Compose([T.RandomResizedCrop(32), T.ColorJitter(brightness=(0.5, 1.1)), T.ToTensor()]), "symmetric range"),
    (T.Compose([T.RandomResizedCrop(32), T.RandAugment(interpolation=T.InterpolationMode.BICUBIC), T.ToTensor()]),
     "interpolation='bicubic'"),
    (T.Compose([T.RandomResizedCrop(32), T.TrivialAugmentWide(fill=[128, 128, 128]), T.ToTensor()]), "fill="),
    (T.Compose([T.Resize((32, 40)), T.CenterCrop(32), T.ToTensor()]), "size=\\(32, 40\\)"),
])
def test_untranslatable_transforms_name_the_op(transform, words):
    with pytest.raises(UntranslatableTransform, match=words):
        from_torchvision(transform)


def test_translations_of_each_op():
    t = from_torchvision(v2.Compose([
        v2.ToImage(), v2.RandomResizedCrop(64, scale=(0.3, 1.0), interpolation=v2.InterpolationMode.BICUBIC),
        v2.RandomHorizontalFlip(0.3), v2.RandomVerticalFlip(0.2),
        v2.RandomApply([v2.ColorJitter(0.4, 0.3, 0.2, 0.1)], p=0.8),
        v2.RandAugment(3, 7), v2.RandomGrayscale(0.2), v2.RandomApply([v2.GaussianBlur(9, (0.1, 2.0))], p=0.5),
        v2.ToDtype(torch.float16, scale=True), v2.Normalize(MEAN, STD), v2.RandomErasing(0.25, value=0)]))
    train = t.preprocess.train
    assert t.train and (train.size, train.scale, train.interpolation, train.hflip, train.vflip) == (
        64, (0.3, 1.0), "bicubic", 0.3, 0.2)
    jitter = train.color_jitter
    assert np.allclose([jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue, jitter.p],
                       [0.4, 0.3, 0.2, 0.1, 0.8])
    assert train.auto_augment == dali_pipes.AutoAugment("randaugment", 3, 7)  # torchvision's default: nearest
    bilinear = from_torchvision(T.Compose([T.RandomResizedCrop(32), T.AutoAugment(
        interpolation=T.InterpolationMode.BILINEAR), T.ToTensor()]))
    assert bilinear.preprocess.train.auto_augment == dali_pipes.AutoAugment("autoaugment", interpolation="bilinear")
    assert train.grayscale == dali_pipes.RandomGrayscale(0.2)
    assert train.blur == dali_pipes.GaussianBlur((9, 9), (0.1, 2.0), p=0.5)
    assert train.random_erasing == dali_pipes.RandomErasing(0.25, value=0.0)
    assert t.preprocess.normalize == dali_pipes.Normalize(tuple(MEAN), tuple(STD), dtype="float16")
    # no Normalize, values kept in 0..255: the engines' Normalize(0, 1/255)
    levels = from_torchvision(v2.Compose([v2.RandomResizedCrop(32), v2.ToImage(), v2.ToDtype(torch.float32)]))
    assert levels.preprocess.normalize.std == (1 / 255,) * 3 and levels.preprocess.normalize.mean == (0.0,) * 3


def test_make_loader_takes_a_dataset_without_a_transform(folder):
    with pytest.raises(SourceError, match="dali_pipes.DataLoader"):
        dali_pipes.make_loader(torchvision.datasets.ImageFolder(folder, EVAL_V1), train=False, batch_size=4)
    bare = torchvision.datasets.ImageFolder(folder)
    with dali_pipes.make_loader(bare, train=False, batch_size=4, backend="torchvision") as loader:
        assert torch.cat([y for _, y in loader]).tolist() == bare.targets
    with pytest.raises(UnsupportedArgument, match="no transform"):
        dali_pipes.DataLoader(bare)


def test_untranslatable_transforms_run_as_they_are_with_one_warning(folder):
    """A Lambda: the dataset's own transform runs per sample (the torchvision backend's workers), batches
    equal to torch's DataLoader's, uint8 kept; strict=True refuses; a dali backend is refused by name."""
    grey = T.Compose([T.Resize(64), T.CenterCrop(56), T.Lambda(lambda im: im.convert("L").convert("RGB")),
                      T.PILToTensor()])
    dataset = torchvision.datasets.ImageFolder(folder, grey)
    with pytest.warns(dali_pipes.CpuFallbackWarning, match="Lambda: no translation") as caught:
        loader = dali_pipes.DataLoader(dataset, batch_size=8, num_workers=2)
    assert len(caught) == 1
    with loader:
        ours = list(loader)
    theirs = list(torch.utils.data.DataLoader(dataset, batch_size=8))
    assert ours[0][0].dtype == torch.uint8 and len(ours) == len(theirs) == 3
    assert all(torch.equal(a, b) and torch.equal(y, z) for (a, y), (b, z) in zip(ours, theirs))
    with pytest.raises(UntranslatableTransform, match="Lambda"):
        dali_pipes.DataLoader(dataset, batch_size=8, strict=True)
    with pytest.warns(dali_pipes.CpuFallbackWarning), pytest.raises(UnsupportedArgument, match=r"backend="):
        dali_pipes.DataLoader(dataset, batch_size=8, backend="dali-cpu")


def test_a_subset_of_a_fallback_dataset_keeps_its_samples(folder):
    dataset = torchvision.datasets.ImageFolder(folder, T.Compose([T.Resize(32), T.CenterCrop(32), T.PILToTensor()]))
    part = torch.utils.data.Subset(torch.utils.data.Subset(dataset, list(range(4, 24))), [3, 0, 7, 12])
    with pytest.warns(dali_pipes.CpuFallbackWarning, match="float"), \
            dali_pipes.DataLoader(part, batch_size=2, sampler=BatchSampler(SubsetRandomSampler([0, 1]), 2, False)
                                  .sampler) as loader:
        images = torch.cat([x for x, _ in loader])
    expected = torch.stack([part[k][0] for k in (0, 1)])
    assert sorted(map(bytes, images.numpy())) == sorted(map(bytes, expected.numpy()))


@pytest.mark.parametrize("mix, alphas, cutmix_share", [
    (v2.RandomChoice([v2.MixUp(alpha=0.2, num_classes=3), v2.CutMix(alpha=1.0, num_classes=3)]), (0.2, 1.0), 0.5),
    (v2.MixUp(alpha=0.4, num_classes=3), (0.4, 0.0), 0.0),
    (v2.RandomChoice([v2.MixUp(num_classes=3), v2.CutMix(num_classes=3)], p=[1, 3]), (1.0, 1.0), 0.75),
])
def test_torchvisions_mixup_cutmix_collate_becomes_the_batch_mix(folder, mix, alphas, cutmix_share):
    """torchvision's references: collate_fn = lambda batch: mixup_cutmix(*default_collate(batch))."""
    def collate_fn(batch):
        return mix(*default_collate(batch))

    dataset = torchvision.datasets.ImageFolder(folder, TRAIN)
    with dali_pipes.DataLoader(dataset, batch_size=8, shuffle=True, collate_fn=collate_fn, drop_last=True,
                               backend="torchvision") as loader:
        assert (loader.mix.mixup_alpha, loader.mix.cutmix_alpha) == alphas
        assert loader.mix.switch_prob == pytest.approx(cutmix_share) and loader.mix.label_smoothing == 0
        images, targets = next(iter(loader))
    assert targets.shape == (8, 3) and torch.allclose(targets.sum(dim=1), torch.ones(8))


def test_target_transforms(folder):
    """A lookup table is applied to the labels on the engines; any other function runs as it is."""
    table = {0: 7, 1: 5, 2: 3}
    mapped = torchvision.datasets.ImageFolder(folder, EVAL_V1, target_transform=table.__getitem__)
    with dali_pipes.DataLoader(mapped, batch_size=8, backend="dali-cpu") as loader:
        assert torch.cat([y for _, y in loader]).tolist() == [table[t] for t in mapped.targets]
    shifted = torchvision.datasets.ImageFolder(folder, EVAL_V1, target_transform=lambda y: y + 10)
    with pytest.warns(dali_pipes.CpuFallbackWarning, match="target_transform"), \
            dali_pipes.DataLoader(shifted, batch_size=8) as loader:
        assert torch.cat([y for _, y in loader]).tolist() == [t + 10 for t in shifted.targets]


def test_timms_create_transform_translates():
    """timm's own classes (RandomResizedCropAndInterpolation, its RandAugment / AutoAugment objects,
    MaybeToTensor, its RandomErasing) become the config Preprocess.from_timm would make."""
    timm_data = pytest.importorskip("timm.data", reason="the 'test' extra installs timm")
    train = from_torchvision(timm_data.create_transform(
        64, is_training=True, auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.25, re_mode="pixel",
        interpolation="random")).preprocess.train
    assert (train.size, train.interpolation, train.color_jitter) == (64, "random", None)
    assert train.timm_augment == dali_pipes.TimmAugment("rand-m9-n2-mstd0.5-p0.5-inc1", translate_const=28)
    erasing = train.random_erasing
    assert (erasing.p, erasing.scale, erasing.value, erasing.count) == (0.25, (0.02, 1 / 3), "random", 1)
    assert erasing.ratio == pytest.approx((0.3, 1 / 0.3), rel=1e-12)  # timm keeps it as a log range
    from dali_pipes.ops.timm_augment import plan  # the same ops as the string timm was given
    assert plan(train.timm_augment.spec, 28) == plan("rand-m9-mstd0.5-inc1", 28)
    aa = from_torchvision(timm_data.create_transform(64, is_training=True, auto_augment="original",
                                                     interpolation="bilinear")).preprocess.train
    assert aa.timm_augment == dali_pipes.TimmAugment("original", interpolation="bilinear", translate_const=28)
    jitter = from_torchvision(timm_data.create_transform(64, is_training=True, color_jitter=0.4)).preprocess.train
    assert jitter.color_jitter == dali_pipes.ColorJitter(0.4, 0.4, 0.4, 0.0)
    evaluation = from_torchvision(timm_data.create_transform(64, crop_pct=0.875, interpolation="bicubic"))
    assert not evaluation.train and evaluation.preprocess.eval == dali_pipes.EvalTransform(64, 73, "bicubic")


def test_a_timm_dataset_with_its_transform(folder):
    timm_data = pytest.importorskip("timm.data", reason="the 'test' extra installs timm")
    dataset = timm_data.create_dataset("", root=str(folder), split="", transform=timm_data.create_transform(
        48, is_training=True, auto_augment="rand-m9-mstd0.5-inc1"))
    with dali_pipes.DataLoader(dataset, batch_size=6, shuffle=True, backend="dali-cpu") as loader:
        assert loader.preprocess.train.timm_augment is not None and loader.dataset is dataset
        images, labels = next(iter(loader))
    assert images.shape == (6, 3, 48, 48)
    dataset.transform = timm_data.create_transform(48, is_training=True, auto_augment="augmix-m5")
    with pytest.warns(dali_pipes.CpuFallbackWarning, match="AugMix"), \
            dali_pipes.DataLoader(dataset, batch_size=6) as loader:
        images, labels = next(iter(loader))
    assert images.shape == (6, 3, 48, 48) and labels.tolist() == [dataset.reader[i][1] for i in range(6)]


def test_a_hugging_face_dataset_needs_train(tmp_path):
    from . import factories

    ds = factories.cifar10(12)
    with pytest.raises(UnsupportedArgument, match=r"DataLoader\(train="):
        dali_pipes.DataLoader(ds, batch_size=4)
    with dali_pipes.DataLoader(ds, batch_size=4, train=False, preset="cifar10", backend="torchvision") as loader:
        assert [len(y) for _, y in loader] == [4, 4, 4]


def test_a_weights_preset_translates_as_preprocess_from_torchvision():
    """torchvision's references evaluate with `weights.transforms()` when --weights is given."""
    from torchvision.models import ResNet50_Weights

    weights = ResNet50_Weights.IMAGENET1K_V2
    translation = from_torchvision(weights.transforms())
    expected = dali_pipes.Preprocess.from_torchvision(weights)
    assert not translation.train and translation.preprocess.eval == expected.eval
    assert translation.preprocess.normalize == expected.normalize


def test_pin_memory_without_cuda_warns_as_torch_does(folder):
    dataset = torchvision.datasets.ImageFolder(folder, EVAL_V1)
    with pytest.warns(UserWarning, match="no accelerator is found"), \
            dali_pipes.DataLoader(dataset, batch_size=8, pin_memory=True, backend="torchvision") as loader:
        assert len(list(loader)) == 3


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["torchvision", "dali-cpu"])
def test_pin_memory_pins_cpu_batches(folder, backend):
    dataset = torchvision.datasets.ImageFolder(folder, EVAL_V1)
    with dali_pipes.DataLoader(dataset, batch_size=8, pin_memory=True, backend=backend) as loader:
        images, labels = next(iter(loader))
    assert images.device.type == "cpu" and images.is_pinned() and labels.is_pinned()
