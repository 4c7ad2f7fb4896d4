"""`TrainTransform.grayscale`: torchvision's RandomGrayscale(p) - the luma on all 3 channels.

On DALI one `fn.coord_transform` per batch with a per-sample 3 x 3 matrix: the luma weights in every
row for a grey sample, the identity for the others (no branch). torchvision truncates the luma;
coord_transform rounds, so it is shifted by -0.49995: luma values are multiples of 1e-4 (4-decimal
weights times integers), which that shift rounds down exactly. The same pixels as
`F.rgb_to_grayscale(image, 3)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torchvision.transforms.v2 import functional as F

from ..checks import probability
from ..constants import LUMA
from .base import Feed, SampleOp


@dataclass(frozen=True)
class RandomGrayscale:
    """torchvision's RandomGrayscale: with probability `p`, the sample becomes its luma
    floor(0.2989 R + 0.587 G + 0.114 B) on all 3 channels (torchvision's weights and rounding)."""

    p: float = 0.1

    def __post_init__(self):
        probability(self.p, "RandomGrayscale.p")


_GREY = np.tile(np.array(LUMA, dtype=np.float32), (3, 1))
_SAME = np.eye(3, dtype=np.float32)
_TRUNCATE = -0.5 + 5e-5


class Grayscale(SampleOp):
    """`grayscale`: (n,) bool, the samples that turn grey."""

    field, config = "grayscale", RandomGrayscale
    stream, draws = 1, 1
    feeds = (Feed("grayscale_matrix", "float32", (3, 3)),)
    timm_args = ("grayscale_prob",)
    cpu_ms = (0.01, 0.03)

    def draw(self, cfg, hw, u):
        return {"grayscale": u[:, 0] < cfg.grayscale.p}

    def feed(self, values, cfg):
        return {"grayscale_matrix": np.ascontiguousarray(
            np.where(values["grayscale"][:, None, None], _GREY, _SAME), dtype=np.float32)}

    def dali(self, images, nodes, cfg, device):
        from nvidia.dali import fn, types

        return fn.coord_transform(images, device=device, M=nodes["grayscale_matrix"], T=_TRUNCATE,
                                  dtype=types.UINT8)

    def torch(self, image, values, cfg):
        return F.rgb_to_grayscale(image, num_output_channels=3) if values["grayscale"] else image

    def in_torch_node(self, cfg):
        return True  # inside a torch node (dali_pipes.dali.graph.pixel_steps), so that a blur after it can be

    def torch_node(self, image, feeds, cfg):
        grey = bool(feeds["grayscale_matrix"][0, 1] != 0)  # the fed matrix: luma rows, or the identity
        return F.rgb_to_grayscale(image, num_output_channels=3) if grey else image

    def add_arguments(self, parser):
        parser.add_argument("--grayscale", type=float, default=None, metavar="P", help="RandomGrayscale probability")

    def from_arguments(self, args):
        return RandomGrayscale(args.grayscale) if args.grayscale is not None else None

    def from_timm(self, args):
        return RandomGrayscale(args["grayscale_prob"]) if args.get("grayscale_prob") else None
