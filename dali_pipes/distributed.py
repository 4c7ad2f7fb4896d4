"""Which shard this process reads: explicit arguments, else torch.distributed, else torchrun's env."""

from __future__ import annotations

import contextlib
import os


def detect_shard(shard_id: int | None, num_shards: int | None) -> tuple[int, int, str]:
    """(shard_id, num_shards, where that came from)."""
    if (shard_id is None) != (num_shards is None):
        raise ValueError("pass both shard_id= and num_shards=, or neither (then they come from "
                         "torch.distributed or torchrun's RANK / WORLD_SIZE)")
    if shard_id is not None:
        return shard_id, num_shards, "arguments"
    with contextlib.suppress(Exception):  # a torch build without distributed support
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size(), "torch.distributed"
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        try:
            return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), "RANK/WORLD_SIZE"
        except ValueError:
            raise ValueError(f"RANK={os.environ['RANK']!r} / WORLD_SIZE={os.environ['WORLD_SIZE']!r} "
                             "are not integers") from None
    return 0, 1, "single process"


def shared_seed(num_shards: int, random: bool) -> int:
    """A fresh seed (for `seed=None`) that every rank agrees on when the loader is `random` (shuffles
    or augments), else each rank would deal out its own permutation and the shares would overlap:
    rank 0's, broadcast over torch.distributed (a collective call: every rank builds its loader, as
    DDP code does)."""
    from .sampling import fresh_seed

    seed = fresh_seed()
    if num_shards == 1 or not random:
        return seed
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        box = [seed]
        dist.broadcast_object_list(box, src=0)
        return int(box[0])
    raise ValueError(f"seed=None with {num_shards} shards and no torch.distributed process group: each rank "
                     "would draw its own order and the shares would overlap; pass the same seed= on every rank")
