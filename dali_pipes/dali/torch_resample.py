"""The `torch` resampler: torchvision's own resize kernel run inside a CPU DALI graph.

Why: on the CPU, DALI's antialiased `fn.resize` is about 2.6x slower per thread than torch's uint8
kernel, and resizing dominates the dali-cpu pipelines (benchmarks/RESULTS.md). torch's kernel is also
the one torchvision's `resize` / `resized_crop` run, so with it the dali-cpu output equals the
torchvision backend's pixel for pixel, the crop's border included (docs/parity.md).

Each op is one `fn.python_function` node over the whole batch; its samples are resized on a small
thread pool (torch releases the GIL inside the kernel). The same nodes also run the torch parts of
pixel ops where DALI's CPU operators are slower (`SampleOp.torch_node`: colour jitter, the
auto-augment policies, grayscale and blur; consecutive ones share one node, the first fused with the
resize, see `graph.pixel_steps`). Decoding, the other augmentations and normalization stay DALI ops. GPU graphs
always resample with `fn.resize` and run every op's DALI part (the `dali` resampler), which the CPU
tests also run, with `resampler="dali"`.
"""

from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from nvidia.dali import fn

from ..config import Preprocess
from ..constants import RANDOM_FILTERS
from ..kernels import tv as kernels

LAYOUTS = ("HWC", "CHW")
TASKS_PER_THREAD = 4
# DALI reports an exception raised here inside its own RuntimeError; the loader looks for this to
# tell a resampler failure from an undecodable image
FAILURE = "dali-pipes torch resampler failed"


class _BatchKernel:
    """A batch callable for `fn.python_function`: applies `one` to each HWC uint8 sample on
    `threads` threads, then the torch parts of `ops` (SampleOp.torch_node) with the sample's fed
    values (the node's inputs after the images, named `feed_names`), and returns arrays in `layout`
    (CHW spares the final normalization its transpose)."""

    def __init__(self, threads: int, layout: str, ops=(), train_cfg=None):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.threads = threads
        self.layout = layout
        self.ops, self.train_cfg = list(ops), train_cfg
        names = self.own_feeds() + [f.name for op in self.ops for f in op.feeds]
        self.feed_names = names + sorted({r for op in self.ops for r in op.reads} - set(names))
        self._pool: ThreadPoolExecutor | None = None

    def own_feeds(self) -> list[str]:
        """Fed per-sample values the kernel itself reads (before its ops' feeds)."""
        return []

    def one(self, image: torch.Tensor, values: dict) -> torch.Tensor:  # (3, H, W) view of HWC memory
        raise NotImplementedError

    def resamples(self, array: np.ndarray) -> bool:
        """False when `one` would give the image back unchanged: then torch is not called at all."""
        return True

    def _sample(self, item) -> np.ndarray:
        array, fed = item if self.feed_names else (item, ())
        values = dict(zip(self.feed_names, fed))
        # torch's kernel keeps the HWC (channels-last) memory of its input; the layout change is a
        # numpy copy, which (unlike torch's) never starts an OpenMP team inside this pool's threads
        image = self.one(torch.from_numpy(array).permute(2, 0, 1), values) if self.resamples(array) else None
        if self.ops:
            image = torch.from_numpy(array).permute(2, 0, 1) if image is None else image
            for op in self.ops:
                image = op.torch_node(image, values, self.train_cfg)
        out = image.permute(1, 2, 0).numpy() if image is not None else array
        out = np.ascontiguousarray(out.transpose(2, 0, 1) if self.layout == "CHW" else out)
        if np.may_share_memory(out, array):  # unchanged: never hand DALI its own input memory
            out = out.copy()
        return out

    def __call__(self, arrays, *feeds):
        try:
            return self._run(arrays, feeds)
        except Exception as err:
            raise RuntimeError(f"{FAILURE}: {type(err).__name__}: {err}") from err

    def _run(self, arrays, feeds=()):
        if self.feed_names:  # with the per-sample values of the ops run here: (array, values) pairs
            arrays = list(zip(arrays, zip(*feeds) if feeds else [()] * len(arrays)))
        if self.threads <= 1 or len(arrays) <= 1:
            return [self._sample(a) for a in arrays]
        if self._pool is None:
            # one torch thread each: the pool is the parallelism; torch's OpenMP teams on top of it
            # (per thread, for any op over ~32k elements) would spin against DALI's own threads
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dali-pipes-resample",
                                            initializer=torch.set_num_threads, initargs=(1,))
            weakref.finalize(self, self._pool.shutdown, wait=False)
        # a few samples per task: fewer thread hand-offs than one per sample, and still balanced
        # when crop windows differ in size (TASKS_PER_THREAD tasks per thread and batch)
        step = max(1, -(-len(arrays) // (self.threads * TASKS_PER_THREAD)))
        chunks = self._pool.map(lambda i: [self._sample(a) for a in arrays[i:i + step]], range(0, len(arrays), step))
        return [out for chunk in chunks for out in chunk]


class _Resize(_BatchKernel):
    def __init__(self, size: int, threads: int, layout: str, interpolation: str = "bilinear", ops=(),
                 train_cfg=None):
        self.interpolation = interpolation
        super().__init__(threads, layout, ops, train_cfg)
        self.size = [size, size]

    def own_feeds(self):
        return ["resize_filter"] if self.interpolation == "random" else []

    def one(self, image, values):
        interpolation = self.interpolation
        if interpolation == "random":  # the sample's drawn filter
            interpolation = RANDOM_FILTERS[int(values["resize_filter"])]
        return kernels.resize(image, self.size, interpolation)

    def resamples(self, array):  # CIFAR's pad-crop windows are already the size: skip torch's dispatch
        return array.shape[:2] != tuple(self.size)


class _PixelOps(_BatchKernel):
    """Only the torch parts of pixel ops: no resampling."""

    def resamples(self, array):
        return False


class _EvalGeometry(_BatchKernel):
    def __init__(self, geometry: kernels.EvalGeometry, threads: int, layout: str):
        super().__init__(threads, layout)
        self.geometry = geometry

    def one(self, image, values):
        return self.geometry(image)


def resize(images, size: int, *, threads: int, layout: str = "HWC", interpolation: str = "bilinear",
           ops=(), nodes=None, train_cfg=None):
    """Each HWC uint8 image resized to `size` x `size`, as torchvision's `resized_crop` resizes; then
    the torch parts of `ops` (SampleOp.torch_node), fed their per-sample values from `nodes`."""
    return _node(images, _Resize(size, threads, layout, interpolation, ops, train_cfg), nodes)


def pixel_ops(images, ops, nodes, train_cfg, *, threads: int, layout: str = "HWC"):
    """HWC uint8 images through the torch parts of `ops` (SampleOp.torch_node), in one node."""
    return _node(images, _PixelOps(threads, layout, ops, train_cfg), nodes)


def _node(images, kernel: _BatchKernel, nodes):
    """The kernel as one batch node, its ops' fed values (from `nodes`) as inputs after the images."""
    return fn.python_function(images, *(nodes[n] for n in kernel.feed_names), function=kernel,
                              batch_processing=True, output_layouts=kernel.layout)


def eval_resize_crop(images, cfg: Preprocess, *, threads: int, layout: str = "HWC"):
    """The eval geometry of `cfg` (resize and crop, as the torchvision backend) on HWC uint8 images."""
    return _node(images, _EvalGeometry(kernels.EvalGeometry(cfg), threads, layout), {})
