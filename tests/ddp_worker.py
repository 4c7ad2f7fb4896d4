"""Run by tests/test_distributed.py under `torchrun --nproc_per_node 2`: for each case (a source on a
backend, one after the other), each rank records which samples (read back from the pixels) it saw
in each epoch and how many batches it ran.

usage: ddp_worker.py OUT CASES_JSON   ({"name": [source, backend], ...}; writes OUT/rankR.json)"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch.distributed as dist  # noqa: E402

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader  # noqa: E402
from tests.conftest import read_identities  # noqa: E402

SMALL = Preprocess(train=TrainTransform(size=32), eval=EvalTransform(32, 32))


def run_case(source: str, backend: str) -> dict:
    result = {}
    for train in (True, False):
        with make_loader(source, train=train, batch_size=3, backend=backend, seed=7, num_threads=1,
                         preset=SMALL) as loader:
            epochs = []
            for epoch in range(2):
                loader.set_epoch(epoch)
                seen, batches = [], 0
                for images, _ in loader:
                    seen += read_identities(images)
                    batches += 1
                epochs.append({"ids": seen, "batches": batches})
            result["train" if train else "eval"] = {
                "epochs": epochs, "num_padded": loader.num_padded, "len": len(loader),
                "shard": [loader.shard_id, loader.num_shards]}
    return result


def main(out: str, cases: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = {"rank": rank, "world": dist.get_world_size()}
    for name, (source, backend) in json.loads(cases).items():
        result[name] = run_case(source, backend)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:3])
