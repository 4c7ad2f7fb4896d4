"""Which shard this process reads: explicit arguments, else torch.distributed, else torchrun's env."""

from __future__ import annotations

import os


def detect_shard(shard_id: int | None, num_shards: int | None) -> tuple[int, int, str]:
    """(shard_id, num_shards, where that came from)."""
    if (shard_id is None) != (num_shards is None):
        raise ValueError("pass both shard_id= and num_shards=, or neither (then they come from "
                         "torch.distributed or torchrun's RANK / WORLD_SIZE)")
    if shard_id is not None:
        return shard_id, num_shards, "arguments"
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size(), "torch.distributed"
    except Exception:  # a torch build without distributed support
        pass
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        try:
            return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), "RANK/WORLD_SIZE"
        except ValueError:
            raise ValueError(f"RANK={os.environ['RANK']!r} / WORLD_SIZE={os.environ['WORLD_SIZE']!r} "
                             "are not integers") from None
    return 0, 1, "single process"
