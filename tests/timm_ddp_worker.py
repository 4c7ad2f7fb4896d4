"""Run by tests/test_timm_loader.py under `torchrun --nproc_per_node 2`: train.py's distributed
loader block (timm's dataset, `create_loader(..., distributed=True)`, `loader.sampler.set_epoch`)
with dali_pipes.timm.create_loader, on each backend in turn; each rank records the samples it saw (read
from the pixels).

usage: timm_ddp_worker.py SOURCE OUT BACKEND [BACKEND ...]   (writes OUT/rankR.json)"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from timm.data import create_dataset  # noqa: E402

from dali_pipes.timm import create_loader  # noqa: E402
from tests.conftest import read_identities  # noqa: E402


def run_backend(source: str, backend: str) -> dict:
    result = {}
    for mode in ("train", "eval", "repeats"):
        train = mode != "eval"
        dataset = create_dataset("", root=source, split="", is_training=train)
        kwargs = dict(input_size=(3, 32, 32), batch_size=3, is_training=train, use_prefetcher=True,
                      interpolation="bilinear", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                      num_workers=1, distributed=True, pin_memory=False, device=torch.device("cpu"))
        if train:  # train.py's train-only keywords, with the augmentations that keep a flat colour flat
            kwargs.update(no_aug=False, re_prob=0.0, re_mode="pixel", re_count=1, re_split=False, scale=[0.08, 1.0],
                          ratio=[3 / 4, 4 / 3], hflip=0.5, vflip=0.0, color_jitter=0.0, auto_augment=None,
                          num_aug_repeats=3 if mode == "repeats" else 0, num_aug_splits=0, collate_fn=None,
                          use_multi_epochs_loader=False, worker_seeding="all")
        else:
            kwargs.update(crop_pct=0.875)
        loader = create_loader(dataset, backend=backend, seed=7, **kwargs)
        epochs = []
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)
            seen = []
            for images, _ in loader:
                seen += read_identities(images)
            epochs.append(seen)
        result[mode] = {"epochs": epochs, "len": len(loader)}
        loader.close()
    return result


def main(source: str, out: str, *backends: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = {"rank": rank, **{backend: run_backend(source, backend) for backend in backends}}
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
