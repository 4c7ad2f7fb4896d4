#!/usr/bin/env bash
# CI for the training image (.ci/run calls it): builds docker/Dockerfile for real with podman and
# runs the image, on a machine without a registry or a GPU:
#
#   bash docker/ci-image.sh
#
# - podman (with runc) from Debian's packages; rlimits no higher than the host allows (a container
#   may not raise them: containers.conf's default_ulimits);
# - the base made without a registry: debootstrap of Debian 12, `podman import`, passed as BASE_IMAGE;
# - the packages come from a wheelhouse filled on this machine (`pip download` with docker/constraints.txt,
#   served mostly from this machine's own package stores; when its Python and glibc fit the base's)
#   and mounted for the install step (docker/install.sh, --no-index): the build downloads no wheel;
# - the build trusts this machine's locally installed CA certificates (mounted for the RUN steps);
# - smoke tests with --network none: `info` (versions, backend), `demo` on both CPU backends, the
#   non-root user, no build tools, the healthcheck, the labels against what is installed (and py.typed
#   in the installed package), docker/cuda_libs.py
#   --check (every CUDA library torch and DALI load comes with the wheels), and the `bench` and
#   `train` services of docker/compose.yaml writing to a mounted results folder (and refusing, at
#   once, one they cannot write).
# When this machine cannot (not root, no apt, less than NEED_GB of free disk) it says so on a line
# starting with "IMAGE NOT TESTED", tests the image's install recipe (docker/install.sh) in a scratch
# environment instead, and exits 0: the rest of CI still counts. Images, containers, the base's
# files and the wheelhouse are removed afterwards. Each step's seconds are printed as it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
NEED_GB=${NEED_GB:-40}
TAG=localhost/dali-pipes:ci
BASE=localhost/dali-pipes-ci-base:bookworm
IMAGE_PYTHON=3.11 IMAGE_GLIBC=2.36  # the base's (Debian 12): a wheelhouse made here must fit them
say() { echo "ci-image: $*"; }
cannot() {
  echo "IMAGE NOT TESTED: $*"
  echo "ci-image: testing the image's install recipe (docker/install.sh) in a scratch environment instead"
  local scratch; scratch=$(mktemp -d)
  bash docker/install.sh "$scratch/venv"
  "$scratch/venv/bin/dali-pipes" info
  rm -rf "$scratch"
  exit 0
}

[ "$(id -u)" = 0 ] || cannot "needs root (podman's rootful storage, debootstrap)"
free_gb=$(df -P --block-size=1G /var/lib 2>/dev/null | awk 'NR==2 {print $4}')
[ "${free_gb:-0}" -ge "$NEED_GB" ] || cannot "the build needs ~${NEED_GB} GB free at its peak; /var/lib has ${free_gb:-?} GB"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing podman, runc, debootstrap"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap; } \
    || cannot "could not install podman, runc and debootstrap from Debian's packages"
fi

work=$(mktemp -d)
cleanup() {
  podman rm -f -t 0 dali-pipes-ci-health >/dev/null 2>&1 || true
  podman rmi -f "$TAG" "$TAG-build-stage" "$BASE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# crun fails on this kind of machine's cgroups: runc; rlimits: the host's (nproc capped lower: the
# container's init may not reach the host's own ceiling here)
nproc=$(( $(ulimit -Hu) < 32768 ? $(ulimit -Hu) : 32768 ))
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Sn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"

start=$(date +%s) lap=$(date +%s)
took() { local now; now=$(date +%s); say "  ($1: $(( now - lap )) s)"; lap=$now; }
python_host=${PYTHON:-python3}
wheelhouse=()
# pip picks wheels for the Python and C library that run it: they must be the base's, or older
misfit=$("$python_host" -c "
import platform, sys
glibc = tuple(map(int, (platform.libc_ver()[1] or '0').split('.')))
if '%d.%d' % sys.version_info[:2] != '$IMAGE_PYTHON':
    print('this machine has Python %d.%d, the base $IMAGE_PYTHON' % sys.version_info[:2])
elif not (0,) < glibc <= tuple(map(int, '$IMAGE_GLIBC'.split('.'))):
    print('this machine has glibc %s, the base $IMAGE_GLIBC' % platform.libc_ver()[1])")
if [ -n "$misfit" ]; then
  say "no wheelhouse ($misfit): the build downloads the packages itself"
elif "$python_host" -m pip download -q --disable-pip-version-check -d "$work/wheels" -c docker/constraints.txt \
       ".[bench,s3]" "setuptools>=68" wheel; then
  # on /mnt, which the base has: a mount point of its own would stay behind in the image
  wheelhouse=(-v "$work/wheels:/mnt:ro" --build-arg WHEELHOUSE=/mnt)
  say "wheelhouse: $(find "$work/wheels" -type f | wc -l) files, $(du -sm "$work/wheels" | cut -f1) MiB"
else
  say "no wheelhouse (pip download failed above): the build downloads the packages itself"
fi
took "wheelhouse"
say "base: debootstrap of Debian 12 (bookworm, minbase)"
debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }
tar -C "$work/rootfs" -c . | podman import - "$BASE" >/dev/null
rm -rf "$work/rootfs"
took "base"

ca=()
[ -d /usr/local/share/ca-certificates ] && ca=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
build_start=$(date +%s)
ENGINE=podman TAG=$TAG bash docker/build.sh --build-arg "BASE_IMAGE=$BASE" "${ca[@]}" "${wheelhouse[@]}"
build_s=$(( $(date +%s) - build_start ))
rm -rf "$work/wheels"
size=$(podman image inspect "$TAG" --format '{{.Size}}')
say "built in ${build_s} s; image $(( size / 1000000 )) MB"
took "build"
run() { podman run --rm --network none "$@"; }

say "info: versions and backend"
info=$(run "$TAG")
echo "$info"
for word in dali-pipes torch torchvision DALI backend; do
  grep -qi "$word" <<<"$info" || { say "info does not mention $word"; exit 1; }
done

say "labels against what is installed; the installed package ships py.typed"
installed=$(run --entrypoint python "$TAG" -c '
import platform
from importlib.metadata import version
from importlib.resources import files
assert files("dali_pipes").joinpath("py.typed").is_file(), "the installed package has no py.typed"
print(platform.python_version(), version("nvidia-dali-cuda120"), version("torch"), version("torchvision"))')
labelled=$(podman image inspect "$TAG" --format \
  '{{index .Labels "io.dali-pipes.python.version"}} {{index .Labels "io.dali-pipes.dali.version"}} {{index .Labels "io.dali-pipes.torch.version"}} {{index .Labels "io.dali-pipes.torchvision.version"}}')
[ "$installed" = "$labelled" ] || { say "labels '$labelled' but installed '$installed'"; exit 1; }

say "the wheels need nothing of CUDA from the base (docker/cuda_libs.py --check)"
# a base without any CUDA (this debootstrap) proves it: every library torch and DALI load resolves in
# the environment; only the driver's libcuda.so.1 (mounted by the NVIDIA container toolkit) is outside
run -v "$PWD/docker/cuda_libs.py:/tmp/cuda_libs.py:ro" --entrypoint python "$TAG" /tmp/cuda_libs.py --check \
  > "$work/cuda-libs.json" || { cat "$work/cuda-libs.json"; say "the wheels need CUDA libraries from the base"; exit 1; }
python3 - "$work/cuda-libs.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{len(r['cuda_libraries_in_env'])} CUDA libraries, {r['cuda_mib_in_env']} MiB, in the environment; "
      f"resolved outside it: {sorted(r['resolved_outside_env'])}; driver libraries left to the toolkit: "
      f"{sorted(n for n in r['plugins_needs_not_found'] if n.startswith('libcuda'))}")
PY
say "base image $(( $(podman image inspect "$BASE" --format '{{.Size}}') / 1000000 )) MB; environment $(run --entrypoint du "$TAG" -sm /opt/venv | cut -f1) MiB"

say "no build tools in the image (the final stage purged them), no sources, nothing on /mnt"
leftovers=$(run --entrypoint sh "$TAG" -c \
  "dpkg -l | awk '/^ii/ && \$2 ~ /^python3(\\.[0-9]+)?-(pip|venv|setuptools|wheel)/ {print \$2}'; [ ! -e /src ] || echo /src; ls -A /mnt")
[ -z "$leftovers" ] || { say "the image still has: $leftovers"; exit 1; }

say "the non-root user"
[ "$(run --entrypoint id "$TAG" -u)" = 1001 ] || { say "the image does not run as uid 1001"; exit 1; }

say "demo on both CPU backends"
for backend in dali-cpu torchvision; do
  run --shm-size 1g "$TAG" demo --backend "$backend" --images 64 --epochs 1 --batch-size 32 | tail -2
done

say "https trusts the image's own CA store"
run --entrypoint python "$TAG" -c 'import ssl; assert ssl.create_default_context().cert_store_stats()["x509_ca"] > 0'

say "healthcheck"
podman run -d --name dali-pipes-ci-health --network none --entrypoint sleep "$TAG" 600 >/dev/null
podman healthcheck run dali-pipes-ci-health || { say "the healthcheck failed"; exit 1; }
podman rm -f -t 0 dali-pipes-ci-health >/dev/null  # sleep as PID 1 ignores SIGTERM: no 10 s wait

say "compose services writing to a mounted results folder"
mkdir -p "$work/results" "$work/data"
chown 1000:1000 "$work/results"  # a user's own folder (uid 1000), the services run as that user
"$python_host" - "$work/data" <<'EOF'
import sys
from pathlib import Path

from dali_pipes.synthetic import make_synthetic_imagefolder

for split, n in (("train", 48), ("val", 16)):
    make_synthetic_imagefolder(Path(sys.argv[1]) / split, num_images=n, num_classes=4)
EOF
chmod -R a+rX "$work/data"
export RESULTS_DIR=$work/results DATA_DIR=$work/data DALI_PIPES_UID=1000 DALI_PIPES_GID=1000
export BENCH_IMAGES=64 BATCH_SIZE=16 EPOCHS=1 IMAGE_SIZE=64
mapfile -t bench_args < <("$python_host" docker/compose_run.py bench "$TAG")
podman run "${bench_args[@]}" --contenders dali-cpu torchvision --repeats 1 --quiet | tail -3
[ -s "$work/results/throughput.json" ] || { say "bench wrote no throughput.json"; exit 1; }
mapfile -t train_args < <("$python_host" docker/compose_run.py train "$TAG")
podman run "${train_args[@]}" --backend dali-cpu | tail -3
[ -s "$work/results/checkpoint.pt" ] || { say "train wrote no checkpoint"; exit 1; }

say "a results folder the services cannot write is refused at once"
mkdir "$work/readonly"  # root's
RESULTS_DIR=$work/readonly DALI_PIPES_UID=1001 DALI_PIPES_GID=1001 \
  "$python_host" docker/compose_run.py bench "$TAG" >"$work/args"
mapfile -t refused_args <"$work/args"
if podman run "${refused_args[@]}" >"$work/refused.log" 2>&1; then
  say "bench ran with an unwritable results folder"; exit 1
fi
grep -q "cannot write there" "$work/refused.log" || { cat "$work/refused.log"; exit 1; }

took "smoke tests"
say "sizes"
run --entrypoint sh "$TAG" -c 'du -sm /opt/venv; du -sm /opt/venv/lib/python3*/site-packages/* | sort -rn | head -8'
say "passed: build ${build_s} s, image $(( size / 1000000 )) MB, all steps $(( $(date +%s) - start )) s"
