"""Bad sources and bad files give clear errors that name the path, on both backends; never a hang."""

from __future__ import annotations

import pytest

from dali_pipes import ImageDecodeError, SourceError, make_loader

from .badfiles import BAD_FILES, _truncated_png
from .conftest import identity_colour, write_image


def folder_with_one_bad_file(root, name: str):
    (root / "good").mkdir(parents=True)
    (root / "zbad").mkdir()
    for k in range(6):
        write_image(root / "good" / f"{k}.png", identity_colour(k), (20, 30))
    data = _truncated_png() if name == "truncated.png" else BAD_FILES[name]
    bad = root / "zbad" / name
    bad.write_bytes(data)
    return bad


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize("train", [True, False])
def test_a_bad_image_raises_an_error_naming_the_file(tmp_path, backend, name, train):
    bad = folder_with_one_bad_file(tmp_path, name)
    loader = make_loader(tmp_path, train=train, batch_size=3, backend=backend, seed=0, num_threads=2)
    with pytest.raises(ImageDecodeError, match=str(bad)):
        for _ in loader:
            pass
    # The loader is still usable afterwards: the same epoch fails the same way, nothing hangs.
    with pytest.raises(ImageDecodeError, match=str(bad)):
        for _ in loader:
            pass
    loader.close()


def test_a_path_that_does_not_exist(tmp_path, backend):
    with pytest.raises(SourceError, match="does-not-exist"):
        make_loader(tmp_path / "does-not-exist", train=True, batch_size=2, backend=backend)


def test_a_file_instead_of_a_folder(tmp_path, backend):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(SourceError, match="not a directory"):
        make_loader(path, train=True, batch_size=2, backend=backend)


def test_a_folder_without_class_subfolders(tmp_path, backend):
    write_image(tmp_path / "loose.png", (1, 2, 3), (5, 5))
    with pytest.raises(SourceError, match=f"{tmp_path}.*no class subfolders"):
        make_loader(tmp_path, train=True, batch_size=2, backend=backend)


def test_a_class_folder_without_images(tmp_path, backend):
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "full").mkdir()
    write_image(tmp_path / "full" / "a.png", (1, 2, 3), (5, 5))
    (tmp_path / "empty_class" / "notes.txt").write_text("no images here")
    with pytest.raises(SourceError, match="empty_class"):
        make_loader(tmp_path, train=True, batch_size=2, backend=backend)


def test_unknown_backend_and_preset_list_the_valid_names(tmp_path):
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "x.png", (1, 2, 3), (5, 5))
    with pytest.raises(ValueError, match="valid backends: auto, dali, dali-gpu, dali-cpu, torchvision"):
        make_loader(tmp_path, train=True, batch_size=2, backend="tensorflow")
    with pytest.raises(ValueError, match="valid presets: cifar10, cifar100, imagenet"):
        make_loader(tmp_path, train=True, batch_size=2, preset="imagenet21k")


@pytest.mark.parametrize("kwargs, field", [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"num_threads": 0}, "num_threads"),
    ({"seed": -1}, "seed"),
    ({"train": "yes"}, "train"),
])
def test_bad_loader_arguments_name_the_argument(tmp_path, kwargs, field):
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "x.png", (1, 2, 3), (5, 5))
    args = {"train": True, "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=field):
        make_loader(tmp_path, **args)


def test_an_unreadable_source_object_is_refused():
    with pytest.raises(SourceError, match="unsupported source int"):
        make_loader(42, train=True, batch_size=2)
