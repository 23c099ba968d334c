#!/usr/bin/env bash
# Builds linrec with AddressSanitizer and UndefinedBehaviorSanitizer, and the libFuzzer targets,
# into ./build-sanitize (LINREC_SANITIZE_BUILD_DIR), then runs the lit and GoogleTest suites
# there. Without the Python package (an instrumented extension would need the sanitizer
# runtime preloaded into Python), so the Python tests are unsupported in this build.
# scripts/fuzz.sh runs the fuzzers it builds. Exits non-zero if anything fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${LINREC_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
"$root/scripts/install-deps.sh" || exit 1
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_DIR=/usr/lib/llvm-22/lib/cmake/llvm -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLINREC_SANITIZERS=address,undefined -DLINREC_ENABLE_FUZZERS=ON \
    -DLINREC_ENABLE_PYTHON=OFF >/dev/null || exit 1
fi
cmake --build "$build" || exit 1
# LLVM and MLIR are not instrumented: their containers cross into linrec's code, which ASan's
# container-overflow check would misreport, and LLVM's allocators poison memory from inline
# code compiled into linrec that the uninstrumented libMLIR then copies (use-after-poison in
# memmove): both checks are off. LLVM installs its own alternate signal stack in the thread
# that first registers its signal handlers (a kernel disk cache write from a worker thread:
# ToolOutputFile), which ASan then fails to unmap as its own when the thread exits: ASan leaves
# alternate stacks alone.
export ASAN_OPTIONS="detect_container_overflow=0:allow_user_poisoning=0:use_sigaltstack=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
status=0
echo "== lit (ASan + UBSan) =="
/usr/lib/llvm-22/bin/lit -sv "$build/test" || status=1
echo "== GoogleTest (ASan + UBSan) =="
(cd "$build" && ctest --output-on-failure -j2) || status=1
exit $status
