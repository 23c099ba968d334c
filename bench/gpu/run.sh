#!/usr/bin/env bash
# The GPU check, run on a lent GPU in one call after bench/gpu/prepare.sh ran here:
#   run(command="bash bench/gpu/run.sh", carry=[".gpu"], timeout_s=540)
# Installs the carried flash-linear-attention and linrec wheels (if any), then checks every
# kernel against the conformance cases and a float64 token loop, times the forward at fla's
# shapes, and tunes two layers' GPU schedules (gpu_check.py).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export OUT="${OUT:-$root/.gpu/out}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
# flash-linear-attention's wheels, then linrec's (built for this Python or not: the tuning
# section says so when it cannot import it).
for pattern in "f*.whl" "linrec-*.whl"; do
  if ls "$root"/.gpu/whl/$pattern >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$root"/.gpu/whl/$pattern && export PYTHONPATH=/tmp/site
  fi
done
cp "$root/.gpu/ptxas.md" "$OUT/" 2>/dev/null
python3 "$root/bench/gpu/gpu_check.py" --root "$root/.gpu" "$@" 2>&1 | tee "$OUT/gpu-log.txt"
