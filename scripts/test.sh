#!/usr/bin/env bash
# Installs, builds and runs every test: lit (IR, tools, examples, conformance) and GoogleTest.
# Prints both runners' summaries; exits non-zero if anything fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${LINREC_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" || exit 1
# PyTorch for the training test (a virtual environment outside the repository, reused).
export LINREC_TORCH_VENV="${LINREC_TORCH_VENV:-$HOME/.cache/linrec/torch-venv}"
"$root/scripts/install-torch.sh" || exit 1
export LINREC_TORCH_PYTHON="$LINREC_TORCH_VENV/bin/python"

status=0
echo "== lit =="
/usr/lib/llvm-22/bin/lit -sv "$build/test" || status=1
echo "== GoogleTest (ctest) =="
(cd "$build" && ctest --output-on-failure -j2) || status=1
exit $status
