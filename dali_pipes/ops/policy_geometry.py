"""The policies' geometric ops as inverse affine maps for DALI's `warp_affine` (the GPU graph): one
`layer_maps` for both families, given each op's map in its style: torchvision's from the matrices its
own `affine` / `rotate` build for the same arguments (`torchvision_edge`), PIL's from the `data` of
its affine transform (`pil_edge`, timm's ops).

torchvision samples the output pixel centred at (x + 0.5, y + 0.5) (image-edge coordinates) from
theta applied around the image centre C = (W / 2, H / 2): src = A (dst - C) + t + C, with theta =
[A | t] from `_get_inverse_affine_matrix`. DALI's warp_affine with `inverse_map=True` takes that map in
the same edge coordinates.
"""

from __future__ import annotations

import math

import numpy as np
from torchvision.transforms.functional import _get_inverse_affine_matrix

from ..kernels.policy import GEOMETRIC, affine_data


def torchvision_theta(op: str, magnitude: float, size: int) -> np.ndarray:
    """(2, 3) theta of the policy op as torchvision's kernel computes it on size x size images."""
    if op == "Rotate":  # rotate_image: the centre, -angle
        flat = _get_inverse_affine_matrix([0.0, 0.0], -magnitude, [0.0, 0.0], 1.0, [0.0, 0.0])
    elif op in ("ShearX", "ShearY"):  # affine_image with center=[0, 0]: the top-left corner
        shear = math.degrees(math.atan(magnitude))
        shears = [shear, 0.0] if op == "ShearX" else [0.0, shear]
        flat = _get_inverse_affine_matrix([-size * 0.5, -size * 0.5], 0.0, [0.0, 0.0], 1.0, shears)
    else:
        shift = [float(int(magnitude)), 0.0] if op == "TranslateX" else [0.0, float(int(magnitude))]
        flat = _get_inverse_affine_matrix([0.0, 0.0], 0.0, shift, 1.0, [0.0, 0.0])
    return np.array(flat, dtype=np.float64).reshape(2, 3)


def edge_map(theta: np.ndarray, size: int) -> np.ndarray:
    """theta (about the centre) -> the (2, 3) map in image-edge coordinates."""
    centre = np.array([size * 0.5, size * 0.5])
    a, t = theta[:, :2], theta[:, 2]
    return np.concatenate([a, (t + centre - a @ centre)[:, None]], axis=1)


def mirrored(edge: np.ndarray, size: int) -> np.ndarray:
    """The map of flip . op . flip (x -> size - x on both sides) from the op's map."""
    flip = np.array([[-1.0, 0.0, size], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return (flip @ np.vstack([edge, [0.0, 0.0, 1.0]]) @ flip)[:2]


def layer_maps(ops: np.ndarray, args: np.ndarray, flips: np.ndarray, size: int, names: tuple[str, ...],
               edge_of) -> np.ndarray:
    """(n, layers, 2, 3) float32: each layer's inverse map for DALI's warp_affine, `edge_of(op name,
    arg, size)` (the op's map in image-edge coordinates) for the geometric ops, mirrored for the
    samples `flips` marks (a graph that flips last applies flip . op . flip, which is the op after
    the flip), the identity elsewhere. `ops` (n, layers) indexes the family's op `names`."""
    maps = np.zeros(ops.shape + (2, 3), dtype=np.float32)
    maps[..., 0, 0] = maps[..., 1, 1] = 1.0
    ids = [k for k, name in enumerate(names) if name in GEOMETRIC]
    for index in zip(*np.nonzero(np.isin(ops, ids))):
        edge = edge_of(names[ops[index]], float(args[index]), size)
        maps[index] = mirrored(edge, size) if flips[index[0]] else edge
    return maps


def torchvision_edge(op: str, magnitude: float, size: int) -> np.ndarray:
    """A torchvision policy's geometric op as its (2, 3) map in image-edge coordinates."""
    return edge_map(torchvision_theta(op, magnitude, size), size)


def pil_edge(op: str, arg: float, size: int) -> np.ndarray:
    """PIL's (timm's) geometric op as its (2, 3) map in image-edge coordinates."""
    return np.array(affine_data(op, arg, size, size), dtype=np.float64).reshape(2, 3)
