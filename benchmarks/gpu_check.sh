#!/usr/bin/env bash
# The prepared GPU check: on a CUDA machine, run the GPU-marked tests and the GPU throughput run,
# then print a short table last. Budget: well under 8 minutes.
#
# DALI is not installed on the lent GPU machine; its wheels travel as parts made here by
#   bash ../shared/scripts/dali-wheel-parts.sh            (writes .dali-parts/part-aa ...)
# and this script joins and installs them when .dali-parts/ is present:
#   cat .dali-parts/part-* | tar -x -C /tmp && pip install --no-index --no-deps --target /tmp/site ...
# The project itself runs from the working tree (PYTHONPATH), not installed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"

if ! python3 -c "import nvidia.dali" 2>/dev/null; then
  if [ -d .dali-parts ]; then
    echo "== installing DALI from .dali-parts ($(ls .dali-parts | wc -l) parts)"
    cat .dali-parts/part-* | tar -x -C /tmp && \
      python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/dali-wheels/*.whl
  fi
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 - <<'PY'
import torch, torchvision
import nvidia.dali as dali
print(f"torch {torch.__version__} torchvision {torchvision.__version__} dali {dali.__version__} "
      f"cuda {torch.version.cuda} gpu {torch.cuda.get_device_name(0)}")
PY

echo "== GPU tests"
timeout 300 python3 -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider 2>&1 | tee "$out/gpu-tests.txt" | tail -15
tests_line=$(grep -E "passed|failed|error" "$out/gpu-tests.txt" | tail -1)

echo "== GPU throughput (synthetic ImageNet-like JPEGs, batch 256)"
run() {  # backend, extra args -> images/s
  timeout 240 python3 -m dali_pipes.cli demo --quiet --images 4096 --batch-size 256 --epochs 3 \
    --backend "$@" 2>&1 | tee -a "$out/throughput.txt" | sed -n 's/^backend [^:]*: \([0-9]*\) images\/s.*/\1/p'
}
gpu_train=$(run dali-gpu)
gpu_eval=$(run dali-gpu --eval)
cpu_train=$(run dali-cpu)
tv_train=$(run torchvision)
peak=$(python3 - <<'PY'
import torch
from dali_pipes import make_loader
from dali_pipes.synthetic import make_synthetic_imagefolder
root = make_synthetic_imagefolder(num_images=4096)
torch.cuda.reset_peak_memory_stats()
with make_loader(root, train=True, batch_size=256, backend="dali-gpu") as loader:
    for _ in loader:
        pass
print(f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB (torch allocator; DALI's own pools not included)")
PY
)

echo
echo "== summary"
printf '%-34s %s\n' "GPU tests" "${tests_line:-did not run}"
printf '%-34s %s\n' "dali-gpu train, images/s" "${gpu_train:-failed}"
printf '%-34s %s\n' "dali-gpu eval, images/s" "${gpu_eval:-failed}"
printf '%-34s %s\n' "dali-cpu train, images/s" "${cpu_train:-failed}"
printf '%-34s %s\n' "torchvision train, images/s" "${tv_train:-failed}"
printf '%-34s %s\n' "torch peak GPU memory (train)" "${peak:-failed}"
