#!/usr/bin/env bash
# The prepared GPU check: on a CUDA machine, run the GPU-marked tests and the GPU benchmark
# (train and eval, batch 256, dali-gpu beside dali-cpu, the classic pipeline and the decode
# ceiling), then print a short table last. Budget: well under 8 minutes on one H100/H200.
#
# DALI is not installed on the lent GPU machine; its wheels travel as parts made here by
#   bash ../shared/scripts/dali-wheel-parts.sh            (writes .dali-parts/part-aa ...)
# and this script joins and installs them when .dali-parts/ is present:
#   cat .dali-parts/part-* | tar -x -C /tmp && pip install --no-index --no-deps --target /tmp/site ...
# The project itself runs from the working tree (PYTHONPATH), not installed. Outputs go to $OUT.
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
export DALI_PIPES_CACHE=${DALI_PIPES_CACHE:-/tmp/dali-pipes-cache}

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 - <<'PY' | tee -a "$out/gpu.txt"
import torch, torchvision
import nvidia.dali as dali
print(f"torch {torch.__version__} torchvision {torchvision.__version__} dali {dali.__version__} "
      f"cuda {torch.version.cuda} gpu {torch.cuda.get_device_name(0)}")
PY
python3 -m dali_pipes.cli info 2>/dev/null | grep -E "NVIDIA driver|CUDA \(torch build\)" | tee -a "$out/gpu.txt"
driver_line=$(grep "NVIDIA driver" "$out/gpu.txt" | tail -1)

echo "== GPU tests"
timeout 240 python3 -m pytest -q -m gpu tests -p no:cacheprovider -x 2>&1 | tee "$out/gpu-tests.txt" | tail -15
tests_line=$(grep -E "passed|failed|error" "$out/gpu-tests.txt" | tail -1)

echo "== parity on the GPU"
timeout 120 python3 benchmarks/parity_report.py --backend dali-gpu 2>&1 | tee "$out/parity-gpu.md" | tail -13

echo "== throughput (synthetic ImageNet-like JPEGs, batch 256)"
timeout 300 python3 -m dali_pipes.cli bench --images 2048 --batch-size 256 --repeats 3 --quiet \
  --contenders dali-gpu dali-cpu classic-torchvision decode-only --out "$out/bench" 2>&1 \
  | grep -v -i warn | tee "$out/bench.txt" | tail -12

echo "== exact_edges on the GPU (train): should it be the GPU default?"
timeout 120 python3 -m dali_pipes.cli bench --images 2048 --batch-size 256 --repeats 3 --quiet --modes train \
  --contenders dali-gpu dali-gpu+exact-edges --out "$out/bench-exact" 2>&1 \
  | grep -v -i warn | tee "$out/bench-exact.txt" | grep "^| train"

echo "== memory over 20 epochs (dali-gpu train, batch 256)"
timeout 120 python3 -m dali_pipes.cli bench --images 2048 --batch-size 256 --soak 20 --contenders dali-gpu \
  --out "$out/soak" 2>&1 | grep -v -i warn | tail -1 | tee "$out/soak.txt"

echo
echo "== summary"
printf '%-16s %s\n' "GPU tests" "${tests_line:-did not run}"
printf '%-16s %s\n' "driver pairing" "${driver_line:-unknown}"
grep -E "^\| (train|eval) \| (dali-gpu|dali-cpu|classic)" "$out/bench.txt" | \
  awk -F'|' '{printf "%-6s %-20s %8s img/s  %8s vs classic  GPU %s MB\n", $2, $3, $4, $5, $9}'
grep -E "^\| train \| dali-gpu\+exact-edges" "$out/bench-exact.txt" | \
  awk -F'|' '{printf "%-6s %-20s %8s img/s\n", $2, $3, $4}'
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"soak: RSS growth after epoch 2 {d['rss_growth_after_epoch_2']:+.1%}, GPU {d['gpu_growth_after_epoch_2'] or 0:+.1%}\")" \
  "$out/soak/soak.json" 2>/dev/null || echo "soak: did not run"
