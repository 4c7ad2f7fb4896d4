"""Numbers both engines must agree on, named once."""

from __future__ import annotations

LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights (not the 0.299 of DALI's own ops)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
RANDOM_FILTERS = ("bilinear", "bicubic")  # TrainTransform(interpolation="random"): timm's, one per sample
TRAIN_INTERPOLATIONS = INTERPOLATIONS + ("random",)
DTYPES = ("float32", "float16", "bfloat16")
READ_AHEAD_BYTES = 256 * 2**20  # make_loader's default budget of prepared-but-untaken batches
