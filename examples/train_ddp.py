"""Distributed data-parallel training with dali-pipes as the data loader.

One node, two processes on CPUs (gloo) - runs anywhere:
    torchrun --standalone --nproc_per_node 2 examples/train_ddp.py --epochs 2

One node, 8 GPUs (NCCL), a real dataset:
    torchrun --standalone --nproc_per_node 8 examples/train_ddp.py --data /data/imagenet/train \
        --val-data /data/imagenet/val --arch resnet18 --image-size 224 --batch-size 256 --epochs 90

Several nodes (run on every node, NODE_RANK = 0..N-1, MASTER = the first node's address):
    torchrun --nnodes N --node-rank NODE_RANK --nproc_per_node 8 \
        --rdzv-backend c10d --rdzv-endpoint MASTER:29500 examples/train_ddp.py --data ...

The loader shards itself: each rank reads its share of one global permutation per epoch, every
rank runs the same number of batches, and validation counts every image exactly once
(`loader.num_padded`). `--checkpoint` saves model, optimizer and every rank's loader state;
`--resume` continues exactly where it stopped.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader
from dali_pipes.checks import writable_folder
from dali_pipes.synthetic import make_synthetic_imagefolder


def small_cnn(num_classes: int) -> torch.nn.Module:
    def block(cin, cout):
        return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False), torch.nn.BatchNorm2d(cout),
                                   torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2))

    return torch.nn.Sequential(block(3, 16), block(16, 32), block(32, 64), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(64, num_classes))


def build_model(arch: str, num_classes: int) -> torch.nn.Module:
    if arch == "small":
        return small_cnn(num_classes)
    import torchvision

    return getattr(torchvision.models, arch)(num_classes=num_classes)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="training data (default: a synthetic JPEG set)")
    p.add_argument("--val-data", default=None, help="validation data (default: --data, in eval mode)")
    p.add_argument("--images", type=int, default=256, help="synthetic set size")
    p.add_argument("--arch", default="small", help="small | resnet18 | any torchvision model name")
    p.add_argument("--image-size", type=int, default=64, help="train crop (eval: resize size/0.875, crop)")
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--backend", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="save here after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.checkpoint:  # fail now, not after the first epoch, where the checkpoint cannot be written
        writable_folder(os.path.dirname(os.path.abspath(args.checkpoint)), "--checkpoint's folder")
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    data = args.data
    if data is None:  # one rank makes the synthetic set, the others wait for it
        if rank == 0:
            make_synthetic_imagefolder(num_images=args.images)
        dist.barrier()
        data = make_synthetic_imagefolder(num_images=args.images)
    cfg = Preprocess(train=TrainTransform(size=args.image_size),
                     eval=EvalTransform.from_crop_ratio(args.image_size, 0.875))
    train_loader = make_loader(data, train=True, batch_size=args.batch_size, backend=args.backend,
                               preset=cfg, seed=args.seed, drop_last=True)
    val_loader = make_loader(args.val_data or data, train=False, batch_size=args.batch_size,
                             backend=args.backend, preset=cfg)
    num_classes = len(train_loader.dataset.classes)

    torch.manual_seed(args.seed)
    model = build_model(args.arch, num_classes).to(device)
    model = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    start_epoch = 0
    if args.resume and args.checkpoint and os.path.exists(args.checkpoint):
        state = torch.load(args.checkpoint, map_location=device)
        model.module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        train_loader.load_state_dict(state["loaders"][rank])  # each rank resumes its own share
        start_epoch = state["epoch"]

    if rank == 0:
        print(f"{world} ranks, backend {train_loader.backend}, {len(train_loader.dataset)} images, "
              f"{len(train_loader)} batches of {args.batch_size} per rank per epoch", flush=True)
    for epoch in range(start_epoch, args.epochs):
        train_loader.set_epoch(epoch)
        model.train()
        start, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=device)
        for images, target in train_loader:
            images, target = images.to(device, non_blocking=True), target.to(device, non_blocking=True)
            loss = F.cross_entropy(model(images), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(target)
            seen += len(target)
        rate = seen / (time.perf_counter() - start)

        model.eval()
        correct = torch.zeros(2, device=device)  # correct, counted
        with torch.no_grad():
            for i, (images, target) in enumerate(val_loader):
                if i == len(val_loader) - 1 and val_loader.num_padded:  # padding repeats: count once
                    images, target = images[: -val_loader.num_padded], target[: -val_loader.num_padded]
                predictions = model(images.to(device)).argmax(dim=1)
                right = (predictions == target.to(device)).sum()
                correct += torch.stack([right, torch.tensor(len(target), device=device)])
        totals = torch.stack([loss_sum, torch.tensor(float(seen), device=device), *correct])
        dist.all_reduce(totals)
        if rank == 0:
            print(f"epoch {epoch}: train loss {totals[0] / totals[1]:.4f}, {rate * world:.0f} images/s (all ranks), "
                  f"val accuracy {totals[2] / totals[3]:.3f} on {int(totals[3])} images", flush=True)
        if args.checkpoint:
            loader_states = [None] * world
            dist.all_gather_object(loader_states, train_loader.state_dict())
            if rank == 0:
                torch.save({"model": model.module.state_dict(), "optimizer": optimizer.state_dict(),
                            "loaders": loader_states, "epoch": epoch + 1}, args.checkpoint)
            dist.barrier()
    train_loader.close()
    val_loader.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
