"""A small Accelerate job over a dali-pipes loader, run by tests/test_accelerate.py, alone or under
`torchrun --nproc_per_node 2`.

usage: accelerate_job.py ROOT OUT TAG BACKEND [BACKEND ...] [--save-at N] [--resume DIR]

The backends run one after the other; each run's tag is TAG-BACKEND, --save-at writes the state to
OUT/TAG-BACKEND-state, and --resume PREFIX reads PREFIX-BACKEND-state.

`prepare(model, optimizer, loader)` must hand the loader back as it is (no second sharding). The
loader is registered for checkpointing, so `save_state` / `load_state` carry its position. Each
process writes OUT/TAG-BACKEND.rankR.json: per step the identities of its batch and a pixel fingerprint.
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


def run(root: str, backend: str, out: str, tag: str, save_at: int | None, resume: str | None) -> None:
    accelerator = Accelerator(cpu=True)
    # seed=None: the ranks agree on rank 0's drawn seed; a resumed loader adopts the saved one
    loader = make_loader(root, train=True, batch_size=4, backend=backend, num_threads=1, preset=PLAIN)
    model = torch.nn.Linear(3 * 16 * 16, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model, optimizer, prepared = accelerator.prepare(model, optimizer, loader)
    accelerator.register_for_checkpointing(loader)
    if resume:
        accelerator.load_state(resume)
    steps = []
    for epoch in range(loader.epoch, 2):
        loader.set_epoch(epoch)
        for images, labels in loader:
            loss = torch.nn.functional.cross_entropy(model(images.flatten(1)), labels)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            steps.append({"epoch": epoch, "ids": read_identities(images), "sum": float(images.double().sum())})
            if save_at is not None and len(steps) == save_at:
                accelerator.save_state(str(Path(out) / f"{tag}-state"))
    result = {"same_object": prepared is loader, "world": accelerator.num_processes,
              "rank": accelerator.process_index, "shard": [loader.shard_id, loader.num_shards], "steps": steps}
    Path(out, f"{tag}.rank{accelerator.process_index}.json").write_text(json.dumps(result))
    accelerator.wait_for_everyone()
    loader.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("root", "out", "tag"):
        parser.add_argument(name)
    parser.add_argument("backends", nargs="+")
    parser.add_argument("--save-at", type=int, default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    for backend in args.backends:
        run(args.root, backend, args.out, f"{args.tag}-{backend}", args.save_at,
            f"{args.resume}-{backend}-state" if args.resume else None)
    Accelerator(cpu=True).end_training()


if __name__ == "__main__":
    main()
