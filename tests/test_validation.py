"""Validation at the edge: labels from data are checked where they are read (naming the member,
row or sample), MixUpCutMix refuses bad labels and batches before touching memory, and make_loader
checks every argument before any expensive pass."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch

from dali_pipes import ArraySource, MixUpCutMix, Normalize, Preprocess, SourceError, make_loader
from dali_pipes.sources import resolve_source

from . import factories


def tar_with_labels(path, labels: list[str]) -> None:
    with tarfile.open(path, "w") as tar:
        for k, label in enumerate(labels):
            for name, data in ((f"s{k:03d}.png", factories.encode(k, "PNG")), (f"s{k:03d}.cls", label.encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("label, message", [
    ("-3", r"s001\.cls.* -3: a class index must be >= 0"),
    ("99999999999999999999999", r"s001\.cls.* does not fit in a 64-bit integer"),
    ("-1", r"s001.* -1 \(unlabeled; 1 of 3 labels are -1\).*unlabeled=True"),
])
def test_webdataset_labels_are_checked_naming_the_member(tmp_path, label, message):
    tar_with_labels(tmp_path / "a.tar", ["0", label, "1"])
    with pytest.raises(SourceError, match=message):
        resolve_source(tmp_path)


def test_webdataset_unlabeled_admits_minus_one(tmp_path):
    tar_with_labels(tmp_path / "a.tar", ["-1", "-1"])
    assert resolve_source(tmp_path, unlabeled=True).targets.tolist() == [-1, -1]


def test_webdataset_label_outside_classes_txt(tmp_path):
    tar_with_labels(tmp_path / "a.tar", ["0", "1", "2"])
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    with pytest.raises(SourceError, match=r"s002.* label 2 .*classes\.txt.* 2 names"):
        resolve_source(tmp_path)


def hf_with_labels(labels):
    from datasets import Dataset, Features, Value
    from datasets import Image as HFImage

    features = Features({"img": HFImage(), "label": Value("int64")})
    return Dataset.from_dict({"img": [{"bytes": factories.encode(i, "PNG"), "path": None} for i in range(len(labels))],
                              "label": labels}, features=features)


def test_hf_negative_labels_name_the_row():
    with pytest.raises(SourceError, match=r"label column 'label' row 1 holds -3"):
        resolve_source(hf_with_labels([0, -3, 1]))
    with pytest.raises(SourceError, match=r"row 2 holds -3"):
        resolve_source(hf_with_labels([-1, -1, -3]), unlabeled=True)  # -1 only marks "unlabeled"
    assert resolve_source(hf_with_labels([-1, 2]), unlabeled=True).targets.tolist() == [-1, 2]


def test_array_labels_are_checked_naming_the_sample():
    images = np.zeros((3, 8, 8, 3), np.uint8)
    with pytest.raises(SourceError, match=r"labels: sample 2 holds -5"):
        resolve_source((images, [0, 1, -5]))
    with pytest.raises(SourceError, match=r"sample 1 holds -1 \(unlabeled"):
        resolve_source((images, [0, -1, 1]))
    assert resolve_source((images, [0, -1, 1]), unlabeled=True).targets.tolist() == [0, -1, 1]
    with pytest.raises(SourceError, match=r"labels: sample 0 holds 99999999999999999999999"):
        resolve_source((images, [99999999999999999999999, 0, 1]))
    with pytest.raises(SourceError, match=r"labels: sample 2 holds label 3 but classes has 2 names"):
        ArraySource(images, [0, 1, 3], classes=["a", "b"])


# -- MixUpCutMix ---------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, message", [
    (torch.tensor([0, 1, 5, 2]), r"labels hold 5.*num_classes=5 .*\[0, 5\)"),
    (torch.tensor([0, -1, 2, 3]), r"labels hold -1"),
    (torch.tensor([0, 1, 2]), r"4 images but 3 labels"),
    (torch.tensor([[0, 1], [1, 0], [0, 1], [1, 0]]), r"class indices .* shape \(4,\).*\(4, 2\)"),
    (torch.zeros(4, 3), r"soft or multi-hot labels must have shape \(4, 5\), got \(4, 3\)"),
    (torch.tensor([0.0, 1.0, 2.0, 3.0]), r"labels of dtype torch\.float32 .* shape \(4,\)"),
])
def test_mix_refuses_bad_labels_before_touching_memory(labels, message):
    mix = MixUpCutMix(5, seed=0)
    with pytest.raises(ValueError, match=message):
        mix(torch.zeros(4, 3, 8, 8), labels)


def test_mix_refuses_images_that_are_not_a_batch():
    with pytest.raises(ValueError, match=r"images must be a \(B, C, H, W\) batch"):
        MixUpCutMix(5, seed=0)(torch.zeros(3, 8, 8), torch.tensor([0, 1, 2]))


def test_mix_accepts_good_labels():
    mix = MixUpCutMix(5, seed=0)
    _, soft = mix(torch.zeros(4, 3, 8, 8), torch.tensor([0, 1, 4, 2]))
    assert soft.shape == (4, 5)
    _, soft = mix(torch.zeros(4, 3, 8, 8), torch.eye(5)[:4])
    assert soft.shape == (4, 5)


def test_make_loader_checks_mix_against_the_source_labels(identity_folder):
    root, _ = identity_folder  # 3 classes
    with pytest.raises(ValueError, match=r"mix: MixUpCutMix\(num_classes=2\).*3 classes"):
        make_loader(root, train=True, batch_size=4, mix=MixUpCutMix(2))


# -- make_loader: every argument before any expensive pass -------------------------------------
@pytest.mark.parametrize("kwargs, field", [
    ({"on_error": "ignore"}, "on_error"),
    ({"resampler": "lanczos"}, "resampler"),
    ({"mix": "mixup"}, "mix"),
    ({"shard_padding": "repeat", "shard_id": 0, "num_shards": 2}, "shard padding"),
    ({"shuffle": "yes"}, "shuffle"),
    ({"drop_last": 1}, "drop_last"),
    ({"unlabeled": "no"}, "unlabeled"),
    ({"image_column": 3}, "image_column"),
    ({"shard_id": 3, "num_shards": 2}, "shard_id"),
    ({"gpu_decoder": {"hw_decoder_load": 0.9}}, "gpu_decoder"),
])
def test_bad_arguments_fail_before_statistics_are_computed(identity_folder, monkeypatch, kwargs, field):
    import dali_pipes.stats

    def refuse(*args, **kw):
        raise AssertionError("per-dataset statistics were computed before the arguments were checked")

    monkeypatch.setattr(dali_pipes.stats, "cached_stats", refuse)
    root, _ = identity_folder
    preset = Preprocess(normalize=Normalize.per_dataset())
    with pytest.raises(ValueError, match=field):
        make_loader(root, train=True, batch_size=4, preset=preset, **kwargs)
