"""A small Lightning job over dali-pipes loaders, run in a subprocess by tests/test_lightning.py.

usage: lightning_job.py ROOT BACKEND OUT TAG [--ddp] [--limit N] [--every N] [--resume CKPT] [--augment]

Each process writes OUT/TAG.rankR.json: per train step the identities and a pixel fingerprint of
its batch, the identities met in validation (sanity check apart), and the test/validate metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402

from dali_pipes import AutoAugment, ColorJitter, EvalTransform, Preprocess, TrainTransform, make_loader  # noqa: E402
from tests.conftest import read_identities  # noqa: E402

PLAIN = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))
# colour changes make identities unreadable, but the fingerprints then cover DALI's own random ops
AUGMENTED = Preprocess(train=TrainTransform(size=16, color_jitter=ColorJitter(0.4, 0.4, 0.4, 0.1),
                                            auto_augment=AutoAugment("randaugment")), eval=EvalTransform(16, 16))


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3 * 16 * 16, 3)
        self.train_steps: list[dict] = []
        self.val_seen: list[list[int]] = []  # one list per validation run (sanity check excluded)
        self.sanity_batches = 0

    def training_step(self, batch, index):
        images, labels = batch
        self.train_steps.append({"epoch": self.current_epoch, "ids": read_identities(images),
                                 "sum": float(images.double().sum())})
        return torch.nn.functional.cross_entropy(self.layer(images.flatten(1)), labels)

    def on_validation_epoch_start(self):
        if not self.trainer.sanity_checking:
            self.val_seen.append([])

    def validation_step(self, batch, index):
        images, labels = batch
        if self.trainer.sanity_checking:
            self.sanity_batches += 1
        else:
            self.val_seen[-1] += read_identities(images)
        self.log("val_loss", torch.nn.functional.cross_entropy(self.layer(images.flatten(1)), labels),
                 sync_dist=True)

    def test_step(self, batch, index):
        images, labels = batch
        self.log("test_loss", torch.nn.functional.cross_entropy(self.layer(images.flatten(1)), labels),
                 sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Data(L.LightningDataModule):
    """The loaders are built in the hooks, after Lightning set up the processes: each one reads
    its rank's share."""

    def __init__(self, root: str, backend: str, preset: Preprocess):
        super().__init__()
        self.root, self.backend, self.preset = root, backend, preset

    def _loader(self, train: bool):
        return make_loader(self.root, train=train, batch_size=4, backend=self.backend, seed=5, num_threads=1,
                           preset=self.preset)

    def train_dataloader(self):
        return self._loader(True)

    def val_dataloader(self):
        return self._loader(False)

    def test_dataloader(self):
        return self._loader(False)


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("root", "backend", "out", "tag"):
        parser.add_argument(name)
    parser.add_argument("--ddp", action="store_true")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--every", type=int, default=None)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--augment", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    model, data = Classifier(), Data(args.root, args.backend, AUGMENTED if args.augment else PLAIN)
    callbacks = [ModelCheckpoint(dirpath=Path(args.out) / f"{args.tag}-ckpt", filename="{step}", save_top_k=-1,
                                 every_n_train_steps=args.every)] if args.every else []
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", devices=2 if args.ddp else 1,
                        strategy="ddp" if args.ddp else "auto", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=bool(args.every), callbacks=callbacks,
                        num_sanity_val_steps=2, limit_train_batches=args.limit)
    trainer.fit(model, datamodule=data, ckpt_path=args.resume)
    validated = trainer.validate(model, datamodule=data, verbose=False)
    tested = trainer.test(model, datamodule=data, verbose=False)
    result = {"train": model.train_steps, "val": model.val_seen, "sanity_batches": model.sanity_batches,
              "validate": validated, "test": tested, "world": trainer.world_size}
    Path(args.out, f"{args.tag}.rank{trainer.global_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
