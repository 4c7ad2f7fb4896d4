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

from typing import NamedTuple

from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..config import EvalTransform, Normalize, Preprocess, TrainTransform
from . import augment

_DALI_DTYPES = {"float32": types.FLOAT, "float16": types.FLOAT16, "bfloat16": types.FLOAT}


class TrainNodes(NamedTuple):
    """Per-sample train parameters fed by the source (see dali_pipes.params)."""

    anchor: object  # (2,) int32: top, left of the crop window
    shape: object  # (2,) int32: height, width of the crop window
    flip: object  # () int32
    jitter: object  # (4,) float32: brightness, contrast, saturation factors, hue shift in turns


def decoder_device(device: str) -> str:
    return "mixed" if device == "gpu" else "cpu"


def input_hw(inputs, encoded: bool):
    """(H, W) of each input as CPU int64 nodes: from the encoded header, or the array's shape."""
    if encoded:
        shape = fn.peek_image_shape(inputs, dtype=types.INT64, adjust_orientation=False)
    else:
        shape = inputs.shape(dtype=types.INT64)
    return shape[0], shape[1]


def to_images(inputs, encoded: bool, device: str):
    """HWC uint8 RGB images on `device`: decoded (EXIF orientation not applied), or moved there."""
    if encoded:
        return fn.decoders.image(inputs, device=decoder_device(device), output_type=types.RGB,
                                 adjust_orientation=False)
    return inputs.gpu() if device == "gpu" else inputs


def _resize(images, size, device: str):
    """Bilinear with antialiasing: the filter torchvision's `antialias=True` uses."""
    return fn.resize(images, device=device, size=size, antialias=True, interp_type=types.INTERP_LINEAR)


def crop_window(inputs, p: TrainNodes, cfg: TrainTransform, device: str, encoded: bool):
    """The sample's crop window resized to `size` x `size`. A random-resized-crop window lies inside
    the image, so encoded inputs decode only that region (fused); a pad-crop window may reach outside
    by `padding`, which is filled with zeros."""
    window = dict(axis_names="HW", normalized_anchor=False, normalized_shape=False)
    if encoded and cfg.geometry == "random_resized_crop":
        crops = fn.decoders.image_slice(inputs, p.anchor, p.shape, device=decoder_device(device),
                                        output_type=types.RGB, adjust_orientation=False, **window)
    else:
        crops = fn.slice(to_images(inputs, encoded, device), p.anchor, p.shape, device=device,
                         out_of_bounds_policy="pad", fill_values=0, **window)
    return _resize(crops, [cfg.size, cfg.size], device)


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


def preprocess(inputs, cfg: Preprocess, train: bool, device: str, encoded: bool = True,
               params: TrainNodes | None = None):
    """The whole train or eval graph for one batch of encoded images or raw arrays."""
    if train:
        images = crop_window(inputs, params, cfg.train, device, encoded)
        if cfg.train.color_jitter is not None:
            images = augment.color_jitter(images, params.jitter, cfg.train.color_jitter, device)
        if cfg.train.auto_augment is not None:
            images = augment.auto_augment(images, cfg.train.auto_augment, cfg.train.size)
        # the flip is fused into the final op; it commutes with jitter, and the auto-augment
        # operations are symmetric in sign, so the output distribution is torchvision's
        return normalize(images, cfg.normalize, device, mirror=params.flip)
    images, pos_y, pos_x = resize_center_crop_position(inputs, cfg.eval, device, encoded)
    return normalize(images, cfg.normalize, device, crop=[cfg.eval.size, cfg.eval.size],
                     crop_pos_x=pos_x, crop_pos_y=pos_y)
