"""A picture of what the model will see: the same images under the train augmentation, one row per
backend, un-normalized back to pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .config import Preprocess


def augmented_rows(source, cfg: Preprocess, backends: list[str], count: int, seed: int) -> dict[str, np.ndarray]:
    """backend -> (count, S, S, 3) uint8: the first `count` samples, unshuffled, augmented."""
    from .loader import make_loader

    rows = {}
    for backend in backends:
        with make_loader(source, train=True, batch_size=count, backend=backend, preset=cfg, seed=seed,
                         shuffle=False) as loader:
            images, _ = next(iter(loader))
            norm = loader.preprocess.normalize
        images = images.detach().float().cpu()
        mean = torch.tensor(norm.mean).view(1, 3, 1, 1)
        std = torch.tensor(norm.std).view(1, 3, 1, 1)
        pixels = ((images * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)
        rows[backend] = pixels.permute(0, 2, 3, 1).numpy()
    return rows


def render_grid(rows: dict[str, np.ndarray], out: str | Path, label_width: int = 110, gap: int = 4) -> Path:
    """Write a PNG: one labelled row of tiles per backend."""
    count, size = next(iter(rows.values())).shape[:2]
    width = label_width + count * (size + gap)
    height = len(rows) * (size + gap) + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (backend, tiles) in enumerate(rows.items()):
        y = gap + r * (size + gap)
        draw.text((6, y + size // 2 - 6), backend, fill=(0, 0, 0))
        for c, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile), (label_width + c * (size + gap), y))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out
