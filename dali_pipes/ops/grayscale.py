"""`TrainTransform.grayscale`: torchvision's RandomGrayscale(p) - the luma on all 3 channels.

On DALI one `fn.coord_transform` per batch with a per-sample 3 x 3 matrix: the luma weights in every
row for a grey sample, the identity for the others (no branch). torchvision truncates the luma;
coord_transform rounds, so it is shifted by -0.49995: luma values are multiples of 1e-4 (4-decimal
weights times integers), which that shift rounds down exactly. The same pixels as
`F.rgb_to_grayscale(image, 3)`.
"""

from __future__ import annotations

import numpy as np
from torchvision.transforms.v2 import functional as F

from .base import Feed, SampleOp

LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights (not the 0.299 of DALI's own ops)
_GREY = np.tile(np.array(LUMA, dtype=np.float32), (3, 1))
_SAME = np.eye(3, dtype=np.float32)
_TRUNCATE = -0.5 + 5e-5


class Grayscale(SampleOp):
    """`grayscale`: (n,) bool, the samples that turn grey."""

    field = "grayscale"
    stream, draws = 1, 1
    feeds = (Feed("grayscale_matrix", "float32", (3, 3)),)

    def draw(self, cfg, hw, u):
        return {"grayscale": u[:, 0] < cfg.grayscale.p}

    def feed(self, values):
        return {"grayscale_matrix": np.ascontiguousarray(
            np.where(values["grayscale"][:, None, None], _GREY, _SAME), dtype=np.float32)}

    def dali(self, images, nodes, cfg, device):
        from nvidia.dali import fn, types

        return fn.coord_transform(images, device=device, M=nodes["grayscale_matrix"], T=_TRUNCATE,
                                  dtype=types.UINT8)

    def torch(self, image, values, cfg):
        return F.rgb_to_grayscale(image, num_output_channels=3) if values["grayscale"] else image
