"""The Docker image's recipe: structure of the Dockerfile and compose file; every copied file exists.

No Docker engine runs here; CI runs docker/install.sh itself in a fresh environment (.ci/run)."""

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


def test_multi_stage_from_a_cuda_12_cudnn_runtime_image():
    froms = [rest for k, rest in instructions(DOCKERFILE) if k == "FROM"]
    assert len(froms) == 2, "a build stage and a final stage"
    default = re.search(r"ARG CUDA_IMAGE=(\S+)", DOCKERFILE).group(1)
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+", default)
    assert froms[0] == "${CUDA_IMAGE} AS build" and froms[1] == "${CUDA_IMAGE}"


def test_the_install_script_builds_the_environment_and_the_final_stage_copies_it():
    runs = [rest for k, rest in instructions(DOCKERFILE) if k == "RUN"]
    assert any("docker/install.sh /opt/venv" in r for r in runs)
    final = DOCKERFILE.split("\nFROM ${CUDA_IMAGE}\n", 1)[1]
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert "python3-pip" not in final and "build-essential" not in final and "gcc" not in final


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


def test_non_root_user_entrypoint_healthcheck_and_labels():
    final = instructions(DOCKERFILE.split("\nFROM ${CUDA_IMAGE}\n", 1)[1])
    users = [rest for k, rest in final if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("ENTRYPOINT", '["dali-pipes"]') in final
    assert ("CMD", '["info"]') in final
    health = [rest for k, rest in final if k == "HEALTHCHECK"]
    assert health and json.loads(health[0].split("CMD", 1)[1].strip()) == ["dali-pipes", "info"]
    labels = " ".join(rest for k, rest in final if k == "LABEL")
    for key in ("org.opencontainers.image.version", "io.dali-pipes.dali.version", "io.dali-pipes.torch.version"):
        assert key in labels


def test_dockerignore_keeps_data_caches_and_git_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "data", "**/__pycache__", ".dali-parts", "bench-out"):
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
    ci = (ROOT / ".ci" / "run").read_text()
    assert "docker/install.sh" in ci and "dali-pipes info" in ci
