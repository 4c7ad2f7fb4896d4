"""Decompression bombs against `max_pixels`: each backend, train and eval, a folder of 6 small photos
plus one bomb (a JPEG header claiming 60000 x 60000, a PNG header claiming 30000 x 30000), read in a
fresh process with `on_error="raise"` and with `on_error="skip"`. Reports what happened (the error's
text, or the images delivered), the wall time, and the peak RSS of the loader's process and of its
largest worker (`getrusage`'s high-water marks).

    python benchmarks/bombs.py [--backends dali-cpu torchvision]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from dali_pipes.synthetic import jpeg_bomb, make_synthetic_imagefolder, png_bomb

RUN = textwrap.dedent("""
    import json, resource, sys, time, warnings
    from dali_pipes import EvalTransform, ImageDecodeError, Preprocess, TrainTransform, make_loader
    folder, backend, train, on_error = sys.argv[1], sys.argv[2], sys.argv[3] == "train", sys.argv[4]
    warnings.simplefilter("ignore")
    cfg = Preprocess(train=TrainTransform(size=64), eval=EvalTransform(size=64, resize_size=72))
    start, outcome = time.perf_counter(), None
    try:
        with make_loader(folder, train=train, batch_size=4, backend=backend, preset=cfg, seed=0, num_threads=2,
                         on_error=on_error) as loader:
            outcome = f"{sum(len(labels) for _, labels in loader)} images delivered"
    except ImageDecodeError as err:
        outcome = f"ImageDecodeError: {err}"
    seconds = time.perf_counter() - start
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"outcome": outcome, "seconds": seconds, "self": self_kib / 1024, "worker": workers_kib / 1024}))
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["dali-cpu", "torchvision"])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dali-pipes-bombs-"))
    photos = make_synthetic_imagefolder(root / "photos", num_images=6, num_classes=2, long_side=200)
    print("| bomb | backend | split | on_error | outcome | seconds | peak RSS MiB (loader / largest worker) |")
    print("| --- | --- | --- | --- | --- | ---: | ---: |")
    for name, data in (("JPEG 60000 x 60000", jpeg_bomb()), ("PNG 30000 x 30000", png_bomb())):
        folder = root / name.split()[0].lower()
        for cls in sorted(p.name for p in photos.iterdir() if p.is_dir()):
            (folder / cls).mkdir(parents=True)
            for photo in (photos / cls).iterdir():
                (folder / cls / photo.name).write_bytes(photo.read_bytes())
        (folder / cls / f"bomb.{name.split()[0].lower()}").write_bytes(data)
        for backend in args.backends:
            for split in ("train", "eval"):
                for on_error in ("raise", "skip"):
                    done = subprocess.run([sys.executable, "-c", RUN, str(folder), backend, split, on_error],
                                          capture_output=True, text=True, timeout=600)
                    if done.returncode != 0:
                        print(f"| {name} | {backend} | {split} | {on_error} | FAILED rc={done.returncode}: "
                              f"{done.stderr.strip().splitlines()[-1][:200]} | | |", flush=True)
                        continue
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    outcome = row["outcome"].replace(str(folder) + "/", "").split(" (a decompression")[0]
                    print(f"| {name} | {backend} | {split} | {on_error} | {outcome} | {row['seconds']:.1f} | "
                          f"{row['self']:,.0f} / {row['worker']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
