"""A small Accelerate job over a dali-pipes loader, run by tests/test_accelerate.py, alone or under
`torchrun --nproc_per_node 2`.

usage: accelerate_job.py ROOT BACKEND OUT TAG [--save-at N] [--resume DIR]

`prepare(model, optimizer, loader)` must hand the loader back as it is (no second sharding). The
loader is registered for checkpointing, so `save_state` / `load_state` carry its position. Each
process writes OUT/TAG.rankR.json: per step the identities of its batch and a pixel fingerprint.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader  # noqa: E402
from tests.conftest import read_identities  # noqa: E402

PLAIN = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("root", "backend", "out", "tag"):
        parser.add_argument(name)
    parser.add_argument("--save-at", type=int, default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    accelerator = Accelerator(cpu=True)
    # seed=None: the ranks agree on rank 0's drawn seed; a resumed loader adopts the saved one
    loader = make_loader(args.root, train=True, batch_size=4, backend=args.backend, num_threads=1, preset=PLAIN)
    model = torch.nn.Linear(3 * 16 * 16, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model, optimizer, prepared = accelerator.prepare(model, optimizer, loader)
    accelerator.register_for_checkpointing(loader)
    if args.resume:
        accelerator.load_state(args.resume)
    steps = []
    for epoch in range(loader.epoch, 2):
        loader.set_epoch(epoch)
        for images, labels in loader:
            loss = torch.nn.functional.cross_entropy(model(images.flatten(1)), labels)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            steps.append({"epoch": epoch, "ids": read_identities(images), "sum": float(images.double().sum())})
            if args.save_at is not None and len(steps) == args.save_at:
                accelerator.save_state(str(Path(args.out) / f"{args.tag}-state"))
    result = {"same_object": prepared is loader, "world": accelerator.num_processes,
              "rank": accelerator.process_index, "shard": [loader.shard_id, loader.num_shards], "steps": steps}
    Path(args.out, f"{args.tag}.rank{accelerator.process_index}.json").write_text(json.dumps(result))
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main()
