#!/usr/bin/env bash
# Runs each libFuzzer target of ./build-sanitize (scripts/sanitize.sh builds them) for
# LINREC_FUZZ_SECONDS seconds (60) from its seed corpus in fuzz/corpus. New inputs and any
# crash, leak or timeout reproducer go under build-sanitize/fuzz/<target>/, never into the
# repository. Exits non-zero on the first finding.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${LINREC_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
seconds="${LINREC_FUZZ_SECONDS:-60}"
export ASAN_OPTIONS="detect_container_overflow=0:allow_user_poisoning=0:use_sigaltstack=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
# Kernels the fuzzers compile stay in memory (not the user's kernel disk cache).
export LINREC_KERNEL_CACHE=0
status=0
for target in npy case mlir; do
  work="$build/fuzz/$target"
  mkdir -p "$work/corpus"
  cp -n "$root/fuzz/corpus/$target/"* "$work/corpus/" 2>/dev/null
  dict=()
  [ "$target" = mlir ] && dict=(-dict="$root/fuzz/mlir.dict")
  echo "== linrec-fuzz-$target: ${seconds} s =="
  (cd "$work" && "$build/bin/linrec-fuzz-$target" "${dict[@]}" -max_total_time="$seconds" \
      -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" \
      corpus 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|ERROR|Done)" ) \
    || true
  if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
    echo "linrec-fuzz-$target: findings in $work"
    status=1
  fi
done
exit $status
