"""Every extension torchvision's ImageFolder accepts decodes to RGB on both backends, identically."""

from __future__ import annotations

import pytest
import torch

from dali_pipes import make_loader

from .conftest import CPU_BACKENDS, unnormalize, write_image

FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".ppm": "PPM", ".bmp": "BMP",
           ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_each_format_decodes_to_its_colour(tmp_path, backend):
    (tmp_path / "c").mkdir()
    colours = {}
    for k, (ext, fmt) in enumerate(sorted(FORMATS.items())):
        colours[k] = (20 + 25 * k, 200 - 20 * k, 90)
        write_image(tmp_path / "c" / f"{k}{ext}", colours[k], (13, 21), fmt=fmt)
    (tmp_path / "g").mkdir()
    from PIL import Image

    Image.new("L", (21, 13), 77).save(tmp_path / "g" / "grey.pgm")  # single channel -> R = G = B
    with make_loader(tmp_path, train=False, batch_size=16, backend=backend, num_threads=2) as loader:
        images, labels = next(iter(loader))
    pixels = unnormalize(images).mean(dim=(2, 3))
    expected = torch.tensor([colours[k] for k in range(len(FORMATS))] + [(77, 77, 77)], dtype=torch.float64)
    tolerance = torch.tensor([3.0 if ext in (".jpg", ".jpeg", ".webp") else 0.6
                              for ext, _ in sorted(FORMATS.items())] + [0.6], dtype=torch.float64)
    assert ((pixels - expected).abs().max(dim=1).values <= tolerance).all(), pixels
    assert labels.tolist() == [0] * len(FORMATS) + [1]
