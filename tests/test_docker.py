"""The Docker image's recipe: structure of the Dockerfile and compose file; every copied file exists;
the compose services as docker/ci-image.sh starts them. The image itself is built and run by
docker/ci-image.sh (podman, called by .ci/run); docker/install.sh also runs in a fresh
environment there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage() -> str:
    return DOCKERFILE.split("\nFROM build\n", 1)[1]


def test_multi_stage_from_a_small_cuda_base_with_torchs_driver_guard():
    """The wheels bring their CUDA libraries: the base is the `base` flavour (no cuDNN / cuBLAS), and
    the driver guard is torch's CUDA major (CUDA 13 wheels need a driver >= 580), not the base's."""
    froms = [rest for k, rest in instructions(DOCKERFILE) if k == "FROM"]
    assert len(froms) == 2, "a build stage and a final stage"
    default = re.search(r"ARG BASE_IMAGE=(\S+)", DOCKERFILE).group(1)
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-base-ubuntu\d+\.\d+", default)
    # the final stage is built on the build stage: the 7 GB environment is never copied between them
    assert froms[0] == "${BASE_IMAGE} AS build" and froms[1] == "build"
    env = " ".join(rest for k, rest in instructions(_final_stage()) if k == "ENV")
    import torch

    cuda_major = torch.version.cuda.split(".")[0] if torch.version.cuda else "13"
    assert f'NVIDIA_REQUIRE_CUDA="cuda>={cuda_major}.0"' in env
    assert "NVIDIA_VISIBLE_DEVICES=all" in env and "compute" in env


def test_the_install_script_builds_the_environment_and_the_final_stage_drops_the_build_tools():
    runs = [rest for k, rest in instructions(DOCKERFILE) if k == "RUN"]
    assert any("docker/install.sh /opt/venv" in r for r in runs)
    build = DOCKERFILE.split("\nFROM build\n", 1)[0]
    assert "ca-certificates" in build  # https sources verify on a minimal base too; kept in the image
    final_runs = [rest for k, rest in instructions(_final_stage()) if k == "RUN"]
    assert len(final_runs) == 1 and "apt-get install" not in final_runs[0]
    purge = final_runs[0].split("&&")[0]
    assert "apt-get purge" in purge and "python3-pip" in purge and "python3-venv" in purge
    assert "ca-certificates" not in purge and "rm -rf /src" in final_runs[0]
    assert "build-essential" not in DOCKERFILE and "gcc" not in DOCKERFILE


def test_every_copied_file_exists():
    for keyword, rest in instructions(DOCKERFILE):
        if keyword == "COPY" and not rest.startswith("--from"):
            sources = rest.split()[:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"
                assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def _ignored(path: str) -> bool:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_non_root_user_entrypoint_healthcheck_and_labels_from_what_is_installed():
    final = instructions(_final_stage())
    users = [rest for k, rest in final if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("ENTRYPOINT", '["dali-pipes"]') in final
    assert ("CMD", '["info"]') in final
    health = [rest for k, rest in final if k == "HEALTHCHECK"]
    assert health and json.loads(health[0].split("CMD", 1)[1].strip()) == ["dali-pipes", "info"]
    labels = " ".join(rest for k, rest in final if k == "LABEL")
    assert "version" not in labels.replace("org.opencontainers.image.description", "")  # none written by hand
    build = (ROOT / "docker" / "build.sh").read_text()
    for dist in ("nvidia-dali-cuda120", "torch", "torchvision", "dali-pipes", "python_version"):
        assert dist in build  # build.sh asks the built environment for them
    assert "--format docker" in build  # podman keeps the HEALTHCHECK only in docker format


def test_dockerignore_keeps_data_caches_and_git_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "data", "results", "**/__pycache__", ".dali-parts", "bench-out"):
        assert entry in ignored


def test_compose_services_reserve_an_nvidia_gpu_with_shared_memory():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    assert set(compose["services"]) == {"bench", "train"}
    for name, service in compose["services"].items():
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"], name
        assert service["shm_size"].endswith("gb")
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert compose["services"]["bench"]["command"][0] == "bench"
    train = compose["services"]["train"]
    assert "/opt/dali-pipes/examples/train_ddp.py" in train["entrypoint"]
    assert any(v.endswith(":/data:ro") for v in train["volumes"])
    assert (ROOT / "examples" / "train_ddp.py").exists()


def test_install_script_pins_what_ci_tests():
    script = (ROOT / "docker" / "install.sh").read_text()
    assert "constraints.txt" in script
    pins = dict(line.split("==") for line in (ROOT / "docker" / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for package in ("nvidia-dali-cuda120", "torch", "torchvision", "datasets"):
        assert package in pins
    # CI builds the image (whose build runs install.sh, test_dockerfile_*) and, where it cannot,
    # runs install.sh in a scratch environment and the installed command
    assert "docker/ci-image.sh" in (ROOT / ".ci" / "run").read_text()
    image = (ROOT / "docker" / "ci-image.sh").read_text()
    fallback = image[image.index("cannot() {"):image.index("\n}\n", image.index("cannot() {"))]
    assert "bash docker/install.sh" in fallback and '/venv/bin/dali-pipes" info' in fallback


def test_compose_services_run_as_the_results_owner_with_a_writable_home(monkeypatch, tmp_path):
    """docker/compose_run.py starts a service as Compose would: the user from DALI_PIPES_UID / _GID
    (default the image's 1001), HOME and the cache where any uid can write, the shared memory, the
    results folder mounted, the command's ${VAR:-default}s filled in."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("compose_run", ROOT / "docker" / "compose_run.py")
    compose_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compose_run)
    args = compose_run.run_arguments("bench", "img")
    assert args[args.index("--user") + 1] == "1001:1001" and "HOME=/tmp" in args
    assert args[args.index("--ipc") + 1] == "host" and "--shm-size" not in args  # podman: not both
    assert args[args.index("img") + 1:] == ["bench", "--batch-size", "256", "--images", "2048", "--out", "/results"]
    monkeypatch.setenv("DALI_PIPES_UID", "1000")
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("EPOCHS", "2")
    train = compose_run.run_arguments("train", "img")
    assert train[train.index("--user") + 1] == "1000:1001" and f"{tmp_path}:/results" in train
    assert train[train.index("--entrypoint") + 1] == "torchrun" and train[train.index("--epochs") + 1] == "2"
