#!/usr/bin/env bash
# The main job: install, build, then compile and run an example recurrence on random inputs
# and run every conformance case linrec expresses, printing the error against the float64
# reference. Grows with the compiler (today's only target is the reference interpreter).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
bin="${LINREC_BUILD_DIR:-$root/build}/bin"

echo "== examples/gated_deltanet.mlir on random inputs =="
"$bin/linrec-run" "$root/examples/gated_deltanet.mlir" --random --seed 0

cases="${LINREC_CONFORMANCE_DIR:-$root/../shared/conformance}"
if [ -d "$cases" ]; then
  echo "== conformance cases ($cases) against their float64 expected outputs =="
  "$bin/linrec-run" --all-cases "$cases" --target=reference
fi
