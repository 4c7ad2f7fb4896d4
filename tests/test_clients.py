"""Real clients with one import changed: pytorch/examples' imagenet/main.py and torchvision's
references/classification/train.py (tests/frameworks/classification_job.py makes their data calls),
single process and under `torchrun --nproc_per_node 2` (gloo). Their transforms translate (no CPU
fallback), every rank's evaluation batches equal torch's DataLoader's (>= 50 dB, every image), and
the distributed shares cover the data as each script counts on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dali_pipes.synthetic import make_synthetic_imagefolder

JOB = Path(__file__).with_name("frameworks") / "classification_job.py"
TRAIN, VAL = 30, 13  # 13 validation images: 2 ranks leave one for main.py's leftover Subset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    make_synthetic_imagefolder(root / "train", num_images=TRAIN, num_classes=3, long_side=64, seed=1)
    make_synthetic_imagefolder(root / "val", num_images=VAL, num_classes=3, long_side=64, seed=2)
    return root


def _run(data, out, ranks: int) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    launcher = [sys.executable] if ranks == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                    "--nnodes", "1", "--nproc_per_node", str(ranks)]
    result = subprocess.run(launcher + [str(JOB), str(data), str(out)], capture_output=True, text=True, timeout=280,
                            env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(ranks)]


@pytest.mark.timeout(300)
def test_single_process(data, tmp_path):
    (report,) = _run(data, tmp_path, 1)
    ex, ref = report["examples"], report["references"]
    assert ex["train"] == [[8, TRAIN], [8, TRAIN]] and ex["train_len"] == 8  # ceil(30 / 4), every sample
    assert ex["val_psnr"] >= 50 and len(ex["val_labels"]) == VAL
    assert ref["train"] == [[8, TRAIN], [8, TRAIN]] and ref["val_psnr"] >= 50 and len(ref["val_labels"]) == VAL
    assert ref["translated"] == ["trivialaugment", "bilinear", 0.25, 0.5]  # the policy as the preset passes it


@pytest.mark.timeout(300)
def test_under_torchrun(data, tmp_path):
    reports = _run(data, tmp_path, 2)
    assert [r["world"] for r in reports] == [2, 2]
    for r in reports:
        ex, ref = r["examples"], r["references"]
        assert ex["train"] == [[4, 15], [4, 15]]  # DistributedSampler: 15 per rank
        assert ex["val_sampler_len"] == 6 and ex["val_dataset_len"] == VAL  # drop_last=True: 13 // 2
        assert ex["val_psnr"] >= 50 and ref["val_psnr"] >= 50
        assert len(ref["val_labels"]) == 7  # DistributedSampler(shuffle=False) pads to 14: 7 per rank
    # main.py's leftover: its Subset of val_loader.dataset, read by every rank, is the 13th image
    assert reports[0]["examples"]["aux_labels"] == reports[1]["examples"]["aux_labels"] and \
        len(reports[0]["examples"]["aux_labels"]) == 1
