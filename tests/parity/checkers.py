"""Reusable checkers for the parity suite: compare images in 0..255 pixel levels."""

from __future__ import annotations

import math

import torch


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def assert_images_close(actual: torch.Tensor, expected: torch.Tensor, *, min_psnr: float = 50.0,
                        max_abs: float = 2.5, what: str = "") -> tuple[float, float]:
    """Same shape, PSNR >= min_psnr and no pixel more than max_abs levels apart; returns both."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    quality = psnr(actual, expected)
    worst = float((actual.double() - expected.double()).abs().max())
    assert quality >= min_psnr and worst <= max_abs, f"{what}: PSNR {quality:.1f} dB, max difference {worst:.2f} levels"
    return quality, worst


def assert_crop_resize_close(actual: torch.Tensor, expected: torch.Tensor, *, frame: int = 2,
                             frame_max_abs: float = 16.0, what: str = "") -> None:
    """Crop-then-resize parity: the whole image to 50 dB, the interior to 2.5 levels, and the outer
    `frame` pixels to `frame_max_abs`. DALI's resampler replicates the window's edge pixel where
    torchvision renormalizes the filter weights over the pixels inside the window; only output
    pixels whose filter support crosses the window edge differ (see docs/parity.md)."""
    assert_images_close(actual, expected, min_psnr=50.0, max_abs=frame_max_abs, what=what)
    inner = (slice(None), slice(frame, -frame), slice(frame, -frame))
    assert_images_close(actual[inner], expected[inner], min_psnr=50.0, max_abs=2.5, what=f"{what} (interior)")


def run_dali_layer(images, feeds, layer, device: str = "cpu"):
    """One batch of HWC uint8 `images` through `layer(images_node, *feed_nodes)` in a DALI graph on
    `device` (conditionals on), each of `feeds` a per-sample array fed beside the images."""
    import numpy as np
    from nvidia.dali import fn, pipeline_def

    def source(values):
        return fn.external_source(lambda: list(values), batch=True)

    @pipeline_def(batch_size=len(images), num_threads=1, device_id=0 if device == "gpu" else None,
                  enable_conditionals=True)
    def pipe():
        x = fn.external_source(lambda: images, batch=True, layout="HWC")
        out = layer(x.gpu() if device == "gpu" else x, *map(source, feeds))
        return out.cpu() if device == "gpu" else out

    p = pipe()
    p.build()
    return [np.array(t) for t in p.run()[0]]
