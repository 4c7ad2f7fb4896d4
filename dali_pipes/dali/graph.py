"""Pure functions that add preprocessing ops to a DALI graph: (nodes, config, device) -> nodes.

One definition serves both devices. `device="gpu"` decodes with the `mixed` (nvImageCodec / nvJPEG)
decoder and runs every other op on the GPU; `device="cpu"` runs the same ops in DALI's CPU mode,
which is what the tests exercise on machines without CUDA.

Geometry follows torchvision exactly where DALI's defaults differ: the eval resize computes the
long side as torchvision does (truncating), and the center-crop offset is rounded half-to-even.
"""

from __future__ import annotations

from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..config import EvalTransform, Normalize, Preprocess, TrainTransform

_DALI_DTYPES = {"float32": types.FLOAT, "float16": types.FLOAT16, "bfloat16": types.FLOAT}


def decoder_device(device: str) -> str:
    return "mixed" if device == "gpu" else "cpu"


def decode(encoded, device: str):
    """Encoded bytes -> HWC uint8 RGB."""
    return fn.decoders.image(encoded, device=decoder_device(device), output_type=types.RGB)


def random_resized_crop(encoded, cfg: TrainTransform, device: str):
    """Decode only the random crop window (fused), then resize it to `cfg.size` square."""
    images = fn.decoders.image_random_crop(
        encoded,
        device=decoder_device(device),
        output_type=types.RGB,
        random_area=list(cfg.scale),
        random_aspect_ratio=list(cfg.ratio),
        num_attempts=10,
    )
    return fn.resize(images, device=device, size=[cfg.size, cfg.size], antialias=True,
                     interp_type=types.INTERP_LINEAR)


def _torchvision_resize_shape(encoded, shorter: int):
    """(H, W) after resizing the shorter side to `shorter`, as torchvision computes it."""
    shape = fn.peek_image_shape(encoded, dtype=types.INT64)
    h, w = shape[0], shape[1]
    long_side = (shorter * dmath.max(h, w)) // dmath.min(h, w)  # int(): truncation
    portrait = fn.cast(w <= h, dtype=types.INT64)
    new_h = portrait * long_side + (1 - portrait) * shorter
    new_w = portrait * shorter + (1 - portrait) * long_side
    return new_h, new_w


def _center_crop_position(extent, crop: int):
    """Normalized crop anchor whose pixel offset is Python's round((extent - crop) / 2)."""
    slack = extent - crop
    half = slack // 2
    offset = half + (slack % 2) * (half % 2)  # round half to even
    return fn.cast(offset, dtype=types.FLOAT) / fn.cast(dmath.max(slack, 1), dtype=types.FLOAT)


def resize_center_crop_position(encoded, cfg: EvalTransform, device: str):
    """Decode and resize the shorter side; returns the image and the crop anchors for `normalize`."""
    new_h, new_w = _torchvision_resize_shape(encoded, cfg.resize_size)
    size = fn.cast(fn.stack(new_h, new_w), dtype=types.FLOAT)
    images = fn.resize(decode(encoded, device), device=device, size=size, antialias=True,
                       interp_type=types.INTERP_LINEAR)
    return images, _center_crop_position(new_h, cfg.size), _center_crop_position(new_w, cfg.size)


def normalize(images, cfg: Normalize, device: str, **crop_and_mirror):
    """The one fused op at the end: optional crop and mirror, mean/std, dtype and layout."""
    return fn.crop_mirror_normalize(
        images,
        device=device,
        dtype=_DALI_DTYPES[cfg.dtype],
        output_layout="HWC" if cfg.channels_last else "CHW",
        mean=[m * 255.0 for m in cfg.mean],
        std=[s * 255.0 for s in cfg.std],
        **crop_and_mirror,
    )


def preprocess(encoded, cfg: Preprocess, train: bool, device: str):
    """The whole train or eval graph for one batch of encoded images."""
    if train:
        images = random_resized_crop(encoded, cfg.train, device)
        mirror = fn.random.coin_flip(probability=cfg.train.hflip) if cfg.train.hflip > 0 else 0
        return normalize(images, cfg.normalize, device, mirror=mirror)
    images, pos_y, pos_x = resize_center_crop_position(encoded, cfg.eval, device)
    return normalize(images, cfg.normalize, device, crop=[cfg.eval.size, cfg.eval.size],
                     crop_pos_x=pos_x, crop_pos_y=pos_y)
