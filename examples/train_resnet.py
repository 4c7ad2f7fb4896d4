"""A complete, minimal training script: the PyTorch ImageNet example's loop with `make_loader`
in place of `DataLoader`. Runs on the CPU on a synthetic set, on a GPU with real data.

    python examples/train_resnet.py                                  # synthetic JPEGs, CPU or GPU
    python examples/train_resnet.py --data /data/imagenet/train --val-data /data/imagenet/val \
        --arch resnet50 --image-size 224 --batch-size 256 --epochs 90
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
import torchvision

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader
from dali_pipes.checks import writable_folder
from dali_pipes.synthetic import make_synthetic_imagefolder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="ImageFolder / saved HF dataset / shards (default: synthetic)")
    p.add_argument("--val-data", default=None, help="default: --data in eval mode")
    p.add_argument("--images", type=int, default=256, help="synthetic set size")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--image-size", type=int, default=96, help="train crop size; 224 for ImageNet")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--backend", default="auto")
    p.add_argument("--checkpoint", default=None, help="save model, optimizer and loader state here each epoch")
    args = p.parse_args()
    if args.checkpoint:  # fail now, not after the first epoch, where the checkpoint cannot be written
        writable_folder(os.path.dirname(os.path.abspath(args.checkpoint)), "--checkpoint's folder")

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = args.data or make_synthetic_imagefolder(num_images=args.images)
    cfg = Preprocess(train=TrainTransform(size=args.image_size),
                     eval=EvalTransform.from_crop_ratio(args.image_size, 0.875))
    # was: DataLoader(ImageFolder(data, train_transform), batch_size, shuffle=True, num_workers=...)
    train_loader = make_loader(data, train=True, batch_size=args.batch_size, backend=args.backend, preset=cfg, seed=0)
    val_loader = make_loader(args.val_data or data, train=False, batch_size=args.batch_size, backend=args.backend,
                             preset=cfg)
    print(f"backend {train_loader.backend}: {len(train_loader.dataset)} images, "
          f"{len(train_loader.dataset.classes)} classes, {len(train_loader)} batches per epoch", flush=True)

    model = getattr(torchvision.models, args.arch)(num_classes=len(train_loader.dataset.classes)).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(train_loader))

    for epoch in range(args.epochs):
        train_loader.set_epoch(epoch)
        model.train()
        start = time.perf_counter()
        for i, (images, target) in enumerate(train_loader):
            images = images.to(device, non_blocking=True)  # already there on the dali-gpu backend
            target = target.to(device, non_blocking=True)
            loss = F.cross_entropy(model(images), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if i % 10 == 0 or i == len(train_loader) - 1:
                print(f"epoch {epoch} [{i + 1}/{len(train_loader)}] loss {loss.item():.4f}", flush=True)
        rate = len(train_loader.dataset) / (time.perf_counter() - start)

        model.eval()
        correct = seen = 0
        with torch.no_grad():
            for images, target in val_loader:
                correct += (model(images.to(device)).argmax(1) == target.to(device)).sum().item()
                seen += len(target)
        print(f"epoch {epoch}: {rate:.0f} images/s training, val accuracy {correct / seen:.3f} ({seen} images)",
              flush=True)
        if args.checkpoint:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "loader": train_loader.state_dict(), "epoch": epoch + 1}, args.checkpoint)
    train_loader.close()
    val_loader.close()


if __name__ == "__main__":
    main()
