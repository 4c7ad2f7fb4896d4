"""The ImageFolder source agrees with torchvision.datasets.ImageFolder on classes, order, files."""

from __future__ import annotations

from torchvision.datasets import ImageFolder

from dali_pipes import ImageFolderSource
from dali_pipes.sources import check_encoded, sniff_format

from .conftest import write_image


def test_classes_order_and_extensions_match_imagefolder(tmp_path):
    names = ["b", "a", "C", "a_b", "10", "9"]
    exts = [".jpg", ".JPEG", ".png", ".bmp", ".webp", ".jpeg"]
    for k, name in enumerate(names):
        (tmp_path / name / "nested").mkdir(parents=True)
        for j, ext in enumerate(exts):
            write_image(tmp_path / name / f"img{(j * 7) % 5}{j}{ext}", (k, j, 0), (9, 13))
        write_image(tmp_path / name / "nested" / "deep.png", (k, 9, 9), (9, 13))
        (tmp_path / name / "README.txt").write_text("not an image")
    reference = ImageFolder(str(tmp_path))
    source = ImageFolderSource(tmp_path)
    assert source.classes == reference.classes
    assert source.class_to_idx == reference.class_to_idx
    assert source.samples == reference.samples
    assert list(source.targets) == reference.targets
    assert len(source) == len(reference) == len(names) * (len(exts) + 1)


def test_read_returns_the_file_bytes_and_describe_the_path(tmp_path):
    (tmp_path / "x").mkdir()
    write_image(tmp_path / "x" / "a.png", (1, 2, 3), (4, 4))
    source = ImageFolderSource(tmp_path)
    assert source.read(0) == (tmp_path / "x" / "a.png").read_bytes()
    assert source.describe(0) == str(tmp_path / "x" / "a.png")


def test_format_sniffing(tmp_path):
    for ext, fmt in ((".jpg", "jpeg"), (".png", "png"), (".bmp", "bmp"), (".webp", "webp")):
        write_image(tmp_path / f"a{ext}", (1, 2, 3), (4, 4))
        assert sniff_format((tmp_path / f"a{ext}").read_bytes()) == fmt
        assert check_encoded((tmp_path / f"a{ext}").read_bytes(), "a") == fmt
    assert sniff_format(b"<html>") is None
