#!/usr/bin/env bash
# The main job: install, build, then JIT-compile an example recurrence for the CPU, run it on
# random inputs and print its outputs and their error against the float64 reference; then run
# every conformance case linrec expresses on the CPU. Grows with the compiler.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
bin="${LINREC_BUILD_DIR:-$root/build}/bin"

echo "== examples/gated_deltanet.mlir on random inputs, CPU kernel vs float64 reference =="
"$bin/linrec-run" "$root/examples/gated_deltanet.mlir" --random --seed 0 --target=cpu

cases="${LINREC_CONFORMANCE_DIR:-$root/../shared/conformance}"
if [ -d "$cases" ]; then
  echo "== conformance cases ($cases) on the CPU against their float64 expected outputs =="
  "$bin/linrec-run" --all-cases "$cases" --target=cpu
fi
