"""The driver check behind `dali-pipes info` and dali-gpu's error: one line that says whether the
driver serves both CUDA builds (torch's and DALI's), and what to install when it does not."""

from __future__ import annotations

import pytest

from dali_pipes.cuda_env import _cuda_tuple, verdict

NEEDS = {"torch 2.14.1+cu130": (13, 0), "DALI 2.4.0": (12, 9)}


def test_cuda_versions_parse_from_strings_and_driver_integers():
    assert _cuda_tuple("13.0") == (13, 0) and _cuda_tuple(12986) == (12, 98) and _cuda_tuple(13000) == (13, 0)
    assert _cuda_tuple(12080) == (12, 8) and _cuda_tuple(None) is None


def test_a_driver_that_serves_both_builds():
    result = verdict("580.65.06", (13, 0), NEEDS)
    assert result.ok and result.line.startswith("driver 580.65.06 serves CUDA 13.0: enough for torch")


def test_an_old_driver_says_what_to_install():
    result = verdict("550.54.15", (12, 4), NEEDS)
    assert not result.ok
    assert "driver 550.54.15 serves CUDA 12.4 but torch 2.14.1+cu130 needs CUDA 13.0, DALI 2.4.0 needs CUDA 12.9" \
        in result.line
    assert "install an NVIDIA driver >= 580" in result.line and "\n" not in result.line


def test_no_driver():
    result = verdict(None, None, NEEDS)
    assert not result.ok and result.line.startswith("no NVIDIA driver found")


def test_dali_gpu_without_a_gpu_is_one_line_not_a_cuda_trace(identity_folder):
    import torch

    from dali_pipes import make_loader

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    root, _ = identity_folder
    with pytest.raises(RuntimeError) as caught:
        make_loader(root, train=True, batch_size=2, backend="dali-gpu")
    message = str(caught.value)
    assert message.startswith("backend 'dali-gpu' cannot run: ") and "\n" not in message
