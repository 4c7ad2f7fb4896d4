"""MixUp / CutMix on batches, with timm's `Mixup` semantics, vectorized on the batch's device.

`make_params` draws every random number for a batch (numpy), `apply` is a pure kernel: the mixed
batch is a function of the images, the labels and the parameters alone. Samples are paired with
the reversed batch. Modes: "batch" (one lambda and box for the batch), "pair" (one per pair
(i, B-1-i), so both images of a pair are mixed with the same lambda), "elem" (one per sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .kernels.tv import box_mask

MODES = ("batch", "pair", "elem")


@dataclass(frozen=True)
class MixParams:
    lam: np.ndarray  # (B,) weight of each sample's own image (for CutMix: its kept area, exact)
    cutmix: np.ndarray  # (B,) bool: CutMix (True) or MixUp (False)
    boxes: np.ndarray  # (B, 4) int: top, left, height, width of the pasted box (CutMix)


class MixUpCutMix:
    """`(images, labels) -> (images, soft_targets)`; see timm.data.Mixup."""

    def __init__(self, num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 prob: float = 1.0, switch_prob: float = 0.5, mode: str = "batch",
                 label_smoothing: float = 0.1, cutmix_minmax: tuple[float, float] | None = None,
                 seed: int | None = None):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"MixUpCutMix.num_classes must be a positive integer, got {num_classes!r}")
        for name, value in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
            if not isinstance(value, (int, float)) or value < 0 or not np.isfinite(value):
                raise ValueError(f"MixUpCutMix.{name} must be a finite number >= 0, got {value!r}")
        if cutmix_minmax is not None:
            lo, hi = (float(v) for v in cutmix_minmax)
            if not 0 < lo < hi <= 1:
                raise ValueError(f"MixUpCutMix.cutmix_minmax must satisfy 0 < min < max <= 1, got {cutmix_minmax!r}")
            cutmix_minmax, cutmix_alpha = (lo, hi), 1.0  # timm: a box range replaces the Beta draw
        if mixup_alpha == 0 and cutmix_alpha == 0:
            raise ValueError("MixUpCutMix: mixup_alpha and cutmix_alpha are both 0; enable at least one")
        for name, value in (("prob", prob), ("switch_prob", switch_prob)):
            if not 0 <= value <= 1:
                raise ValueError(f"MixUpCutMix.{name} is a probability in [0, 1], got {value!r}")
        if mode not in MODES:
            raise ValueError(f"MixUpCutMix.mode must be one of {MODES}, got {mode!r}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"MixUpCutMix.label_smoothing must lie in [0, 1), got {label_smoothing!r}")
        self.num_classes = num_classes
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.prob, self.switch_prob, self.mode = float(prob), float(switch_prob), mode
        self.label_smoothing, self.cutmix_minmax = float(label_smoothing), cutmix_minmax
        # timm's switch (train.py sets it False at --mixup-off-epoch): nothing is mixed, the targets
        # stay soft (smoothed one-hot), as timm's Mixup gives them with lambda 1
        self.mixup_enabled = True
        self._rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        return (f"MixUpCutMix(num_classes={self.num_classes}, mixup_alpha={self.mixup_alpha}, "
                f"cutmix_alpha={self.cutmix_alpha}, prob={self.prob}, switch_prob={self.switch_prob}, "
                f"mode={self.mode!r}, label_smoothing={self.label_smoothing}, cutmix_minmax={self.cutmix_minmax})")

    # -- parameters -----------------------------------------------------------------------------
    def _draw(self, n: int, height: int, width: int, rng: np.random.Generator):
        lam = np.ones(n)
        cutmix = np.zeros(n, dtype=bool)
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            cutmix = rng.random(n) < self.switch_prob
            lam_mix = np.where(cutmix, rng.beta(self.cutmix_alpha, self.cutmix_alpha, n),
                               rng.beta(self.mixup_alpha, self.mixup_alpha, n))
        elif self.mixup_alpha > 0:
            lam_mix = rng.beta(self.mixup_alpha, self.mixup_alpha, n)
        else:
            cutmix = np.ones(n, dtype=bool)
            lam_mix = rng.beta(self.cutmix_alpha, self.cutmix_alpha, n)
        lam = np.where(rng.random(n) < self.prob, lam_mix, lam)
        if not self.mixup_enabled:  # the same draws (later batches keep their numbers), none applied
            lam, cutmix = np.ones(n), np.zeros(n, dtype=bool)
        boxes = self._boxes(lam, height, width, rng)
        boxes[~cutmix] = 0
        area = boxes[:, 2] * boxes[:, 3] / float(height * width)
        lam = np.where(cutmix, 1.0 - area, lam)  # CutMix: lambda is the exact kept area
        return lam, cutmix, boxes

    def _boxes(self, lam: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        n = len(lam)
        if self.cutmix_minmax is not None:  # timm's rand_bbox_minmax
            lo, hi = self.cutmix_minmax
            cut_h = rng.integers(int(height * lo), int(height * hi), size=n)
            cut_w = rng.integers(int(width * lo), int(width * hi), size=n)
            top = rng.integers(0, np.maximum(height - cut_h, 1), size=n)
            left = rng.integers(0, np.maximum(width - cut_w, 1), size=n)
            return np.stack([top, left, cut_h, cut_w], axis=1).astype(np.int64)
        ratio = np.sqrt(1.0 - lam)  # timm's rand_bbox: side ratio sqrt(1 - lam), centre uniform, clipped
        cut_h, cut_w = (height * ratio).astype(np.int64), (width * ratio).astype(np.int64)
        cy, cx = rng.integers(0, height, size=n), rng.integers(0, width, size=n)
        top, bottom = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
        left, right = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
        return np.stack([top, left, bottom - top, right - left], axis=1).astype(np.int64)

    def make_params(self, batch: int, height: int, width: int, rng: np.random.Generator | None = None) -> MixParams:
        rng = self._rng if rng is None else rng
        if self.mode == "pair" and batch % 2:
            raise ValueError(f"MixUpCutMix mode 'pair' needs an even batch size, got {batch} "
                             "(use drop_last=True or an even batch_size)")
        n = {"batch": 1, "pair": batch // 2, "elem": batch}[self.mode]
        lam, cutmix, boxes = self._draw(n, height, width, rng)
        if self.mode == "batch":
            lam, cutmix, boxes = np.repeat(lam, batch), np.repeat(cutmix, batch), np.repeat(boxes, batch, axis=0)
        elif self.mode == "pair":  # sample B-1-i shares the parameters of sample i
            lam, cutmix, boxes = (np.concatenate([a, a[::-1]]) for a in (lam, cutmix, boxes))
        return MixParams(lam=lam, cutmix=cutmix, boxes=boxes)

    # -- the kernel -----------------------------------------------------------------------------
    def apply(self, images: torch.Tensor, labels: torch.Tensor, params: MixParams, *, in_place: bool = False):
        """The mixed batch and soft targets; `in_place` may write into `images` (the loader's own
        batch). A whole batch of MixUp, or of CutMix with one box (mode "batch"), touches only what
        changes: the same values as the general path, in fewer passes over the batch."""
        device, dtype = images.device, images.dtype
        lam = torch.as_tensor(params.lam, device=device, dtype=torch.float32)
        if params.cutmix.all() and (params.boxes == params.boxes[0]).all():
            top, left, height, width = (int(v) for v in params.boxes[0])
            region = (slice(None), slice(None), slice(top, top + height), slice(left, left + width))
            out = images if in_place else images.clone()
            out[region] = images[region].flip(0)  # flip copies: the paired region is read before it is written
            return out, self.targets(labels, lam)
        weight = lam.view(-1, 1, 1, 1).to(dtype)
        paired = images.flip(0)
        if not params.cutmix.any():
            out = images.mul_(weight) if in_place else images.mul(weight)
            return out.add_(paired.mul_(1 - weight)), self.targets(labels, lam)
        mixed = images * weight + paired * (1 - weight)
        if params.cutmix.any():
            inside = box_mask(params.boxes, images.shape[-2], images.shape[-1], device)
            pasted = torch.where(inside, paired, images)
            use_cut = torch.as_tensor(params.cutmix, device=device).view(-1, 1, 1, 1)
            mixed = torch.where(use_cut, pasted, mixed)
        return mixed, self.targets(labels, lam)

    def targets(self, labels: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """lam * y + (1 - lam) * y_paired, class indices smoothed to (1 - e + e/K, e/K)."""
        if labels.dtype.is_floating_point:  # already soft or multi-hot: mixed as given
            own = labels.float()
        else:
            off = self.label_smoothing / self.num_classes
            own = torch.full((len(labels), self.num_classes), off, device=labels.device)
            own.scatter_(1, labels.long().view(-1, 1), 1.0 - self.label_smoothing + off)
        lam = lam.to(own.device).view(-1, 1)
        return own * lam + own.flip(0) * (1 - lam)

    def check(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Refuse a batch this mix cannot take, before any memory is touched: an out-of-range class
        index would otherwise surface as a device-side assert in `scatter_` on the GPU."""
        if images.ndim != 4:
            raise ValueError(f"MixUpCutMix: images must be a (B, C, H, W) batch, got shape {tuple(images.shape)}")
        b, k = images.shape[0], self.num_classes
        if labels.ndim == 0 or labels.shape[0] != b:
            raise ValueError(f"MixUpCutMix: {b} images but {labels.shape[0] if labels.ndim else 0} labels")
        if labels.dtype.is_floating_point:
            if labels.ndim == 1:
                raise ValueError(f"MixUpCutMix: labels of dtype {labels.dtype} and shape {tuple(labels.shape)}: class "
                                 f"indices must be an integer tensor of shape ({b},); soft or multi-hot labels "
                                 f"must have shape ({b}, {k})")
            if tuple(labels.shape) != (b, k):
                raise ValueError(f"MixUpCutMix: soft or multi-hot labels must have shape ({b}, {k}), got "
                                 f"{tuple(labels.shape)}")
            return
        if labels.ndim != 1:
            raise ValueError(f"MixUpCutMix: class indices must have shape ({b},), got {tuple(labels.shape)}")
        low, high = (int(v) for v in torch.aminmax(labels.long()))  # one small sync on the GPU
        if low < 0 or high >= k:
            raise ValueError(f"MixUpCutMix: labels hold {low if low < 0 else high}, outside num_classes={k} "
                             f"(class indices lie in [0, {k}))")

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator | None = None, *,
                 in_place: bool = False):
        self.check(images, labels)
        params = self.make_params(images.shape[0], images.shape[-2], images.shape[-1], rng)
        return self.apply(images, labels, params, in_place=in_place)
