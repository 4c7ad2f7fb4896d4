"""The single-process example trains an epoch unchanged from a DataLoader loop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_resnet.py"


@pytest.mark.timeout(300)
def test_train_resnet_example_runs_an_epoch_and_checkpoints(tmp_path):
    env = {**os.environ, "DALI_PIPES_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, str(EXAMPLE), "--images", "24", "--image-size", "32",
                             "--batch-size", "8", "--checkpoint", str(tmp_path / "ckpt.pt")],
                            capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 0 [3/3]" in result.stdout and "val accuracy" in result.stdout and "(24 images)" in result.stdout
    import torch

    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert state["epoch"] == 1 and state["loader"]["epoch"] == 1
