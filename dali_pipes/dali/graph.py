"""Pure functions that add preprocessing ops to a DALI graph: (nodes, config, device) -> nodes.

One definition serves both devices. `device="gpu"` decodes with the `mixed` (nvImageCodec / nvJPEG)
decoder and runs every other op on the GPU; `device="cpu"` runs the same ops in DALI's CPU mode,
which is what the tests exercise on machines without CUDA.

Inputs are either encoded images (bytes for the decoder) or raw HWC uint8 arrays (in-memory
datasets); only the first stage differs. Per-sample sizes are always computed on the CPU side
(from the encoded header or the array's shape), because DALI op arguments must live on the CPU.

Geometry follows torchvision exactly where DALI's defaults differ: the eval resize computes the
long side as torchvision does (truncating), and the center-crop offset is rounded half-to-even.
Train crop windows come from the source (dali_pipes.params), not from DALI's random crop.

Resampling: `resampler="dali"` is `fn.resize` (the only choice on the GPU); `resampler="torch"` runs
torchvision's own kernel inside a CPU graph (dali_pipes.dali.torch_resample: faster there, and
equal to the torchvision backend pixel for pixel). Everything else is the same graph.
"""

from __future__ import annotations

from typing import NamedTuple

from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..config import EvalTransform, GpuDecoder, Normalize, Preprocess, TrainTransform
from ..constants import RANDOM_FILTERS
from ..kernels.nodes import on_device
from ..kernels.tv import border_fill
from ..ops import active_ops
from ..resamplers import resolve_resampler
from . import torch_resample


class DaliResampler(NamedTuple):
    """DALI's `fn.resize` (the GPU's; resampler="dali" on the CPU): every op runs as its DALI function."""

    threads: int = 1
    kind = "dali"

    def runs_in_torch(self, op, cfg: TrainTransform) -> bool:
        return False

    def resize_window(self, crops, p: dict, cfg: TrainTransform, device: str, layout: str, torch_ops=()):
        filters = p.get("resize_filter")
        if cfg.exact_edges:
            return _renormalized_resize(crops, p["shape"], cfg.size, device, cfg.interpolation, filters)
        return _resize(crops, [cfg.size, cfg.size], device, cfg.interpolation, filters)

    def eval_geometry(self, images, inputs, cfg: Preprocess, device: str, encoded: bool, layout: str):
        return _dali_eval_geometry(images, inputs, cfg, device, encoded)


class TorchResampler(NamedTuple):
    """torchvision's kernel on `threads` threads inside a CPU graph (dali-cpu's default), in whose node
    the ops that have a torch part (`SampleOp.in_torch_node`) run too; it renormalizes at the crop's
    border itself, so exact_edges is implied."""

    threads: int = 1
    kind = "torch"

    def runs_in_torch(self, op, cfg: TrainTransform) -> bool:
        return op.in_torch_node(cfg)

    def resize_window(self, crops, p: dict, cfg: TrainTransform, device: str, layout: str, torch_ops=()):
        return torch_resample.resize(crops, cfg.size, threads=self.threads, layout=layout,
                                     interpolation=cfg.interpolation, ops=torch_ops, nodes=p, train_cfg=cfg)

    def eval_geometry(self, images, inputs, cfg: Preprocess, device: str, encoded: bool, layout: str):
        return torch_resample.eval_resize_crop(images, cfg, threads=self.threads, layout=layout)


def Resampler(kind: str = "dali", threads: int = 1):  # noqa: N802 - names the strategy, as a class would
    """The graph's resampling strategy, chosen once: "dali" or "torch" (dali_pipes.resamplers)."""
    return {"dali": DaliResampler, "torch": TorchResampler}[kind](threads)


GraphResampler = DaliResampler | TorchResampler
DALI_RESAMPLER = DaliResampler()

# a window given as absolute (top, left) and (height, width); zeros where it reaches outside the image
_WINDOW = dict(axis_names="HW", normalized_anchor=False, normalized_shape=False)
_ZERO_PADDED = dict(_WINDOW, out_of_bounds_policy="pad", fill_values=0)

_DALI_DTYPES = {"float32": types.FLOAT, "float16": types.FLOAT16, "bfloat16": types.FLOAT}


def decoder_device(device: str) -> str:
    return "mixed" if device == "gpu" else "cpu"


def input_hw(inputs, encoded: bool):
    """(H, W) of each input as CPU int64 nodes: from the encoded header, or the array's shape."""
    if encoded:
        shape = fn.peek_image_shape(inputs, dtype=types.INT64, adjust_orientation=False)
    else:
        shape = inputs.shape(dtype=types.INT64)
    return shape[0], shape[1]


def to_images(inputs, encoded: bool, device: str, decoder: GpuDecoder | None = None):
    """HWC uint8 RGB images on `device`: decoded (EXIF orientation not applied; on the GPU with
    `decoder`'s memory and hardware-decoder options), or moved there."""
    if encoded:
        options = (decoder or GpuDecoder()).options() if device == "gpu" else {}
        return fn.decoders.image(inputs, device=decoder_device(device), output_type=types.RGB,
                                 adjust_orientation=False, **options)
    return on_device(inputs, device)


_INTERP_TYPES = {"bilinear": types.INTERP_LINEAR, "bicubic": types.INTERP_CUBIC, "nearest": types.INTERP_NN}


def _resize(images, size, device: str, interpolation: str = "bilinear", filters=None, **region):
    """The one resize of the graph, antialiased when it downscales as torchvision's `antialias=True`
    (nearest never is, as torchvision's). `region` takes fn.resize's roi_* and dtype arguments.
    `interpolation="random"`: each sample's filter from `filters` (the fed RANDOM_FILTERS indices)."""
    if interpolation == "random":
        codes = [int(_INTERP_TYPES[name]) for name in RANDOM_FILTERS]  # bilinear, bicubic: a line through two codes
        interp = fn.cast(filters * (codes[1] - codes[0]) + codes[0], dtype=types.DALIDataType.INTERP_TYPE)
        return fn.resize(images, device=device, size=size, antialias=True, interp_type=interp, **region)
    return fn.resize(images, device=device, size=size, antialias=interpolation != "nearest",
                     interp_type=_INTERP_TYPES[interpolation], **region)


def fuses_window_decode(device: str) -> bool:
    """Whether a random-resized-crop window is decoded alone (`decoders.image_slice`) or the image is
    decoded whole and sliced. Fused on the CPU (libjpeg-turbo skips the rows and columns outside).
    Not on the GPU: the hardware JPEG decoder decodes whole images, and nvImageCodec 0.9's GPU
    region decoding (the version DALI 2.4 requires) is reported to fail on A100 and crash the
    process on H100 (NVIDIA/nvImageCodec#55). Both give the same pixels (tested on the CPU)."""
    return device == "cpu"


def crop_window(inputs, p: dict, cfg: TrainTransform, device: str, encoded: bool,
                resampler: GraphResampler = DALI_RESAMPLER, layout: str = "HWC", decoder: GpuDecoder | None = None,
                torch_ops=()):
    """The sample's crop window resized to `size` x `size`. A random-resized-crop window lies inside
    the image, so on the CPU encoded inputs decode only that region (fused); a pad-crop window may
    reach outside by `padding`, which is filled with zeros. `layout` is honoured by the torch resampler only,
    which also runs the torch parts of `torch_ops` (SampleOp.torch_node) after resizing."""
    if encoded and cfg.geometry == "random_resized_crop" and fuses_window_decode(device):
        crops = fn.decoders.image_slice(inputs, p["anchor"], p["shape"], device=decoder_device(device),
                                        output_type=types.RGB, adjust_orientation=False, **_WINDOW)
    else:
        crops = fn.slice(to_images(inputs, encoded, device, decoder), p["anchor"], p["shape"], device=device,
                         **_ZERO_PADDED)
    return resampler.resize_window(crops, p, cfg, device, layout, torch_ops)


def pixel_steps(chained, cfg: TrainTransform, resampler: GraphResampler) -> list:
    """The pixel ops as steps, in order: a list of ops is one torch node (their `torch_node` parts,
    one copy out of DALI and back for all of them; the first, when it leads, is fused into the torch
    resampler's node), anything else a DALI graph function `(images, nodes, cfg, device)`. Torch
    nodes only in CPU graphs with resampler="torch"; elsewhere every op is its `dali`."""
    steps: list = []
    for op in chained:
        if resampler.runs_in_torch(op, cfg):
            if not steps or not isinstance(steps[-1], list):
                steps.append([])
            steps[-1].append(op)
            if op.dali_after_torch(cfg):
                steps.append(op.dali_after_torch_node)
        else:
            steps.append(op.dali)
    return steps


def _renormalized_resize(crops, shape, size: int, device: str, interpolation: str, filters=None):
    """Resize as torchvision does at the crop's edges: DALI's resampler replicates the edge pixel
    into the filter's support, torchvision renormalizes the weights over the pixels it has. Resizing
    the crop surrounded by zeros gives sum(w * x) over the crop; the same resize of a mask of ones
    gives sum(w); their ratio is torchvision's value. The margin covers the filter's support. The
    mask is separable (a column of ones times a row of ones), so two one-pixel-wide resizes and a
    broadcast product give the mask's resize exactly, at a fraction of its cost."""
    margin = (dmath.max(shape[0], shape[1]) + size - 1) // size + 2
    margins = fn.stack(margin, margin)
    zero = margin * 0

    def padded_resize(images, anchor, extent, start, end, out_size):
        return _resize(fn.slice(images, anchor, extent, device=device, **_ZERO_PADDED), out_size, device, interpolation,
                       filters, roi_start=fn.cast(start, dtype=types.FLOAT), roi_end=fn.cast(end, dtype=types.FLOAT),
                       roi_relative=False, dtype=types.FLOAT)

    weighted = padded_resize(crops, -margins, shape + 2 * margins, margins, margins + shape, [size, size])
    ones = lambda part: fn.cast(part, dtype=types.FLOAT) * 0.0 + 1.0  # noqa: E731  (h, 1, 1) or (1, w, 1)
    one = zero + 1
    column = padded_resize(ones(crops[:, 0:1, 0:1]), fn.stack(-margin, zero), fn.stack(shape[0] + 2 * margin, one),
                           fn.stack(margin, zero), fn.stack(margin + shape[0], one), [size, 1])
    row = padded_resize(ones(crops[0:1, :, 0:1]), fn.stack(zero, -margin), fn.stack(one, shape[1] + 2 * margin),
                        fn.stack(zero, margin), fn.stack(one, margin + shape[1]), [1, size])
    return fn.cast(dmath.clamp(weighted / (column * row), 0.0, 255.0), dtype=types.UINT8)  # rounds, as torchvision


def _torchvision_resize_shape(h, w, shorter: int):
    """(H, W) after resizing the shorter side to `shorter`, as torchvision computes it."""
    long_side = (shorter * dmath.max(h, w)) // dmath.min(h, w)  # int(): truncation
    portrait = fn.cast(w <= h, dtype=types.INT64)
    return portrait * long_side + (1 - portrait) * shorter, portrait * shorter + (1 - portrait) * long_side


def _center_crop_offset(extent, crop: int):
    """Python's round((extent - crop) / 2), half to even, as torchvision's CenterCrop."""
    slack = extent - crop
    half = slack // 2
    return half + (slack % 2) * (half % 2)


def _round_half_even(numerator, denominator):
    """Python's round(numerator / denominator) for non-negative integer nodes."""
    q, r = numerator // denominator, numerator % denominator
    tie = fn.cast(2 * r == denominator, dtype=types.INT64)
    return q + fn.cast(2 * r > denominator, dtype=types.INT64) + tie * (q % 2)


def _eval_shape(h, w, cfg: EvalTransform):
    """(H, W) of the resized image before the crop, as the torchvision backend computes it."""
    if cfg.crop_mode == "center":
        return _torchvision_resize_shape(h, w, cfg.resize_size)
    if cfg.crop_mode == "squash":
        return h * 0 + cfg.resize_size, w * 0 + cfg.resize_size
    longest = dmath.max(h, w)  # "border": the longer side to resize_size, rounded as timm rounds
    return _round_half_even(h * cfg.resize_size, longest), _round_half_even(w * cfg.resize_size, longest)


def _crop_or_pad_offset(extent, crop: int):
    """timm's CenterCropOrPad along one axis: (crop - extent) // 2 of padding before a short side,
    else the center crop's offset."""
    short = fn.cast(extent < crop, dtype=types.INT64)
    return short * (0 - (crop - extent) // 2) + (1 - short) * _center_crop_offset(extent, crop)


def eval_resize_crop(inputs, cfg: Preprocess, device: str, encoded: bool, resampler: GraphResampler = DALI_RESAMPLER,
                     layout: str = "HWC", decoder: GpuDecoder | None = None):
    """The eval geometry of `cfg.eval` (see EvalTransform).

    With the torch resampler this is the torchvision backend's own kernel, output in `layout`.
    With DALI's, a crop inside the resized image ("center", "squash") is expressed as the input
    region it comes from (`roi_start`/`roi_end`): the output pixels sit exactly where
    resize-then-crop puts them and the filter still reads the pixels around the region, but the
    part of the resized image that the crop throws away is never computed. "border" resizes the
    whole image, then slices with the padding colour where the image falls short.
    """
    images = to_images(inputs, encoded, device, decoder)
    return resampler.eval_geometry(images, inputs, cfg, device, encoded, layout)


def _dali_eval_geometry(images, inputs, cfg: Preprocess, device: str, encoded: bool):
    e = cfg.eval
    h, w = input_hw(inputs, encoded)
    new_h, new_w = _eval_shape(h, w, e)
    if e.crop_mode == "border":
        resized = _resize(images, fn.cast(fn.stack(new_h, new_w), dtype=types.FLOAT), device, e.interpolation)
        anchor = fn.cast(fn.stack(_crop_or_pad_offset(new_h, e.size), _crop_or_pad_offset(new_w, e.size)),
                         dtype=types.FLOAT)
        return fn.slice(resized, anchor, [float(e.size), float(e.size)], device=device, **_WINDOW,
                        out_of_bounds_policy="pad", fill_values=[float(v) for v in border_fill(cfg.normalize.mean)])
    scale_y = fn.cast(h, dtype=types.FLOAT) / fn.cast(new_h, dtype=types.FLOAT)
    scale_x = fn.cast(w, dtype=types.FLOAT) / fn.cast(new_w, dtype=types.FLOAT)
    top = fn.cast(_center_crop_offset(new_h, e.size), dtype=types.FLOAT) * scale_y
    left = fn.cast(_center_crop_offset(new_w, e.size), dtype=types.FLOAT) * scale_x
    return _resize(images, [e.size, e.size], device, e.interpolation, roi_start=fn.stack(top, left),
                   roi_end=fn.stack(top + e.size * scale_y, left + e.size * scale_x), roi_relative=False)


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
               params: dict | None = None, resampler: GraphResampler = DALI_RESAMPLER,
               decoder: GpuDecoder | None = None):
    """The whole train or eval graph for one batch of encoded images or raw arrays."""
    resolve_resampler(resampler.kind, f"dali-{device}")  # the same refusals as make_loader's
    if train:
        t = cfg.train
        steps = pixel_steps([op for op in active_ops(t) if op.stage == "pixels"], t, resampler)
        fused = steps.pop(0) if steps and isinstance(steps[0], list) else []  # runs in the resampler's node
        # CHW straight from the last torch node spares the final op its transpose when no DALI op follows
        planar = not cfg.normalize.channels_last and (not steps or isinstance(steps[-1], list))
        images = crop_window(inputs, params, t, device, encoded, resampler, "CHW" if planar and not steps else "HWC",
                             decoder, torch_ops=fused)
        for k, step in enumerate(steps):
            if isinstance(step, list):
                layout = "CHW" if planar and k == len(steps) - 1 else "HWC"
                images = torch_resample.pixel_ops(images, step, params, t, threads=resampler.threads, layout=layout)
            else:
                images = step(images, params, t, device)
        # the flip is fused into the final op (dali_pipes.ops.flip says why that is torchvision's distribution)
        return normalize(images, cfg.normalize, device, mirror=params["flip"])
    layout = "HWC" if cfg.normalize.channels_last else "CHW"
    return normalize(eval_resize_crop(inputs, cfg, device, encoded, resampler, layout, decoder), cfg.normalize,
                     device)
