"""Pure functions that add preprocessing ops to a DALI graph: (nodes, config, device) -> nodes.

One definition serves both devices. `device="gpu"` decodes with the `mixed` (nvImageCodec / nvJPEG)
decoder and runs every other op on the GPU; `device="cpu"` runs the same ops in DALI's CPU mode,
which is what the tests exercise on machines without CUDA.

Inputs are either encoded images (bytes for the decoder) or raw HWC uint8 arrays (in-memory
datasets); only the first stage differs. Per-sample sizes are always computed on the CPU side
(from the encoded header or the array's shape), because DALI op arguments must live on the CPU.

Geometry follows torchvision exactly where DALI's defaults differ: the eval resize computes the
long side as torchvision does (truncating), and the center-crop offset is rounded half-to-even.
"""

from __future__ import annotations

from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..config import EvalTransform, Normalize, Preprocess, TrainTransform
from . import augment

_DALI_DTYPES = {"float32": types.FLOAT, "float16": types.FLOAT16, "bfloat16": types.FLOAT}


def decoder_device(device: str) -> str:
    return "mixed" if device == "gpu" else "cpu"


def input_hw(inputs, encoded: bool):
    """(H, W) of each input as CPU int64 nodes: from the encoded header, or the array's shape."""
    shape = fn.peek_image_shape(inputs, dtype=types.INT64) if encoded else inputs.shape(dtype=types.INT64)
    return shape[0], shape[1]


def to_images(inputs, encoded: bool, device: str):
    """HWC uint8 RGB images on `device`: decoded, or the raw arrays moved there."""
    if encoded:
        return fn.decoders.image(inputs, device=decoder_device(device), output_type=types.RGB)
    return inputs.gpu() if device == "gpu" else inputs


def _resize(images, size, device: str):
    """Bilinear with antialiasing: the filter torchvision's `antialias=True` uses."""
    return fn.resize(images, device=device, size=size, antialias=True, interp_type=types.INTERP_LINEAR)


def random_resized_crop(inputs, cfg: TrainTransform, device: str, encoded: bool):
    """RandomResizedCrop; for encoded inputs only the crop window is decoded (fused)."""
    window = dict(random_area=list(cfg.scale), random_aspect_ratio=list(cfg.ratio), num_attempts=10)
    if encoded:
        crops = fn.decoders.image_random_crop(inputs, device=decoder_device(device), output_type=types.RGB,
                                              **window)
        return _resize(crops, [cfg.size, cfg.size], device)
    return fn.random_resized_crop(to_images(inputs, False, device), device=device, size=[cfg.size, cfg.size],
                                  antialias=True, interp_type=types.INTERP_LINEAR, **window)


def pad_crop(inputs, cfg: TrainTransform, device: str, encoded: bool):
    """Zero-pad by `padding`, random crop of the image's own size, resize to `size` (identity if equal)."""
    h, w = input_hw(inputs, encoded)
    offsets = [float(v) for v in range(-cfg.padding, cfg.padding + 1)]
    anchor = fn.random.uniform(values=offsets, shape=[2])  # (dy, dx), each uniform on the offsets
    shape = fn.cast(fn.stack(h, w), dtype=types.FLOAT)
    crops = fn.slice(to_images(inputs, encoded, device), anchor, shape, axis_names="HW", device=device,
                     normalized_anchor=False, normalized_shape=False,
                     out_of_bounds_policy="pad", fill_values=0)
    return _resize(crops, [cfg.size, cfg.size], device)


TRAIN_GEOMETRY = {"random_resized_crop": random_resized_crop, "pad_crop": pad_crop}


def _torchvision_resize_shape(h, w, shorter: int):
    """(H, W) after resizing the shorter side to `shorter`, as torchvision computes it."""
    long_side = (shorter * dmath.max(h, w)) // dmath.min(h, w)  # int(): truncation
    portrait = fn.cast(w <= h, dtype=types.INT64)
    return portrait * long_side + (1 - portrait) * shorter, portrait * shorter + (1 - portrait) * long_side


def _center_crop_position(extent, crop: int):
    """Normalized crop anchor whose pixel offset is Python's round((extent - crop) / 2)."""
    slack = extent - crop
    half = slack // 2
    offset = half + (slack % 2) * (half % 2)  # round half to even
    return fn.cast(offset, dtype=types.FLOAT) / fn.cast(dmath.max(slack, 1), dtype=types.FLOAT)


def resize_center_crop_position(inputs, cfg: EvalTransform, device: str, encoded: bool):
    """Resize the shorter side; returns the images and the crop anchors for `normalize`."""
    new_h, new_w = _torchvision_resize_shape(*input_hw(inputs, encoded), cfg.resize_size)
    size = fn.cast(fn.stack(new_h, new_w), dtype=types.FLOAT)
    images = _resize(to_images(inputs, encoded, device), size, device)
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


def preprocess(inputs, cfg: Preprocess, train: bool, device: str, encoded: bool = True):
    """The whole train or eval graph for one batch of encoded images or raw arrays."""
    if train:
        images = TRAIN_GEOMETRY[cfg.train.geometry](inputs, cfg.train, device, encoded)
        if cfg.train.color_jitter is not None:
            images = augment.color_jitter(images, cfg.train.color_jitter, device)
        if cfg.train.auto_augment is not None:
            images = augment.auto_augment(images, cfg.train.auto_augment, cfg.train.size)
        # the flip is fused into the final op; it commutes with jitter, and the auto-augment
        # operations are symmetric in sign, so the output distribution is torchvision's
        mirror = fn.random.coin_flip(probability=cfg.train.hflip) if cfg.train.hflip > 0 else 0
        return normalize(images, cfg.normalize, device, mirror=mirror)
    images, pos_y, pos_x = resize_center_crop_position(inputs, cfg.eval, device, encoded)
    return normalize(images, cfg.normalize, device, crop=[cfg.eval.size, cfg.eval.size],
                     crop_pos_x=pos_x, crop_pos_y=pos_y)
