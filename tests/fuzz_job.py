"""Run by tests/test_fuzz.py in a subprocess (a crash must not take pytest down): for each of train
and eval, each of on_error "skip" and "raise", one loader over the fuzz folder, two epochs. Prints
one JSON line, keyed "train-skip", "eval-raise", ...: per epoch the samples delivered, the images
skipped this epoch, and the error met (on_error="raise" stops an epoch at its first error)."""

import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader  # noqa: E402

SMALL = Preprocess(train=TrainTransform(size=32), eval=EvalTransform(32, 36))


def run(root: str, backend: str, train: bool, on_error: str) -> dict:
    loader = make_loader(root, train=train, batch_size=16, backend=backend, seed=3, num_threads=2,
                         preset=SMALL, on_error=on_error)
    epochs = []
    for _ in range(2):
        delivered, error = 0, None
        try:
            for images, labels in loader:
                assert images.shape[0] == labels.shape[0] and images.shape[1:] == (3, 32, 32)
                delivered += len(labels)
        except Exception as err:  # what the test inspects: the type and the file it names
            error = {"type": type(err).__name__, "message": str(err)}
        epochs.append({"delivered": delivered, "skipped": loader.skipped_last_epoch, "error": error})
    out = {"epochs": epochs, "skipped": sorted(loader.skipped), "total": len(loader.dataset),
           "samples_per_epoch": loader.sampler.__len__()}
    loader.close()
    return out


def main(root: str, backend: str) -> None:
    warnings.simplefilter("ignore")
    print(json.dumps({f"{mode}-{on_error}": run(root, backend, mode == "train", on_error)
                      for mode in ("train", "eval") for on_error in ("skip", "raise")}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
