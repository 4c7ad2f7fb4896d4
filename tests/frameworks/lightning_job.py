"""Small Lightning jobs over dali-pipes loaders, run in a subprocess by tests/test_lightning.py.

usage: lightning_job.py ROOT OUT RUN [RUN ...] [--ddp]
The runs go one after the other in one process; with --ddp each is a strategy="ddp" run on 2
processes (Lightning launches the second rank once, which runs the same runs in turn).
RUN is a JSON object: {"tag", "backend", "limit": N, "every": N, "resume": CKPT, "augment": true}
(all but tag and backend optional).

Each run writes OUT/TAG.rankR.json: per train step the identities and a pixel fingerprint of its
batch, the identities met in validation (sanity check apart), and the test/validate metrics.
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


def run(root: str, out: str, spec: dict, ddp: bool) -> None:
    model = Classifier()
    data = Data(root, spec["backend"], AUGMENTED if spec.get("augment") else PLAIN)
    every = spec.get("every")
    callbacks = [ModelCheckpoint(dirpath=Path(out) / f"{spec['tag']}-ckpt", filename="{step}", save_top_k=-1,
                                 every_n_train_steps=every)] if every else []
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", devices=2 if ddp else 1,
                        strategy="ddp" if ddp else "auto", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=bool(every), callbacks=callbacks,
                        num_sanity_val_steps=2, limit_train_batches=spec.get("limit"))
    trainer.fit(model, datamodule=data, ckpt_path=spec.get("resume"))
    validated = trainer.validate(model, datamodule=data, verbose=False)
    tested = trainer.test(model, datamodule=data, verbose=False)
    result = {"train": model.train_steps, "val": model.val_seen, "sanity_batches": model.sanity_batches,
              "validate": validated, "test": tested, "world": trainer.world_size}
    Path(out, f"{spec['tag']}.rank{trainer.global_rank}.json").write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("runs", nargs="+", type=json.loads)
    parser.add_argument("--ddp", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    for spec in args.runs:
        run(args.root, args.out, spec, args.ddp)


if __name__ == "__main__":
    main()
