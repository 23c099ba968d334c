#!/usr/bin/env bash
# Installs, builds and runs every test: lit (IR, tools, examples, conformance) and GoogleTest,
# then the wheel (scripts/wheel.sh: `pip wheel .` and the checks that it moves), the same
# suites again under AddressSanitizer + UndefinedBehaviorSanitizer in ./build-sanitize
# (scripts/sanitize.sh) and each libFuzzer target for LINREC_FUZZ_SECONDS (scripts/fuzz.sh).
# `--quick` (or LINREC_QUICK_TESTS=1) stops after the first two: the development loop. Prints every runner's summary; exits non-zero if anything fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${LINREC_BUILD_DIR:-$root/build}"
quick="${LINREC_QUICK_TESTS:-0}"
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) echo "test.sh: unknown argument '$arg' (takes --quick)" >&2; exit 2 ;;
  esac
done
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
if [ "$quick" = 1 ]; then
  exit $status
fi
"$root/scripts/wheel.sh" || status=1
"$root/scripts/sanitize.sh" || status=1
"$root/scripts/fuzz.sh" || status=1
exit $status
