"""A second photo set for `dali-pipes bench --data`: JPEGs cut from the real photographs scikit-image
ships (astronaut, cat, coffee, motorcycle, rocket, ...), with no added noise (the synthetic set adds
sensor-like noise, so compresses less), each a random crop of 30-100% of its photograph at that
photograph's aspect, resized to a long side of 400-500 px, saved at JPEG quality 75-95 as web
photos are. The class is the photograph.

    python benchmarks/photo_crops.py OUT [--images 512]
    dali-pipes bench --data OUT --recipe all --contenders dali-cpu torchvision classic-torchvision timm
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg",
          "hubble_deep_field.jpg", "brick.png", "grass.png", "gravel.png")


def photographs() -> dict[str, np.ndarray]:
    """The photographs as RGB arrays, read from scikit-image's data folder (installed with it)."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    return {name.split(".")[0]: np.asarray(Image.open(folder / name).convert("RGB")) for name in PHOTOS}


def write(root: Path, num_images: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    photos = photographs()
    names = sorted(photos)
    for k in range(num_images):
        name = names[k % len(names)]
        photo = photos[name]
        height, width = photo.shape[:2]
        frac = rng.uniform(0.3, 1.0) ** 0.5  # of the area
        ch, cw = max(int(height * frac), 8), max(int(width * frac), 8)
        top, left = rng.integers(0, height - ch + 1), rng.integers(0, width - cw + 1)
        long_side = int(rng.integers(400, 501))
        scale = long_side / max(ch, cw)
        crop = Image.fromarray(photo[top:top + ch, left:left + cw])
        crop = crop.resize((max(round(cw * scale), 1), max(round(ch * scale), 1)), Image.Resampling.LANCZOS)
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{k:05d}.jpg", quality=int(rng.integers(75, 96)))
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=512)
    args = parser.parse_args()
    write(args.out, args.images)
    sizes = [p.stat().st_size for p in args.out.rglob("*.jpg")]
    print(f"{len(sizes)} JPEGs in {args.out}, {np.mean(sizes) / 1024:.0f} KiB on average")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
