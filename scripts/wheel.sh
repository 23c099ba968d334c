#!/usr/bin/env bash
# Builds the wheel with `pip wheel .` (LLVM and MLIR linked statically: pyproject.toml) into
# ./build-wheel/dist, keeping scikit-build-core's CMake build in ./build-wheel/cmake so that a
# rebuild is incremental, then checks that it moves (scripts/check_wheel.py: no absolute
# build-machine path in any binary, only Debian's base libraries needed, and it runs from
# another directory with LLVM and MLIR hidden). Exits non-zero if either fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="${LINREC_WHEEL_DIR:-$root/build-wheel}"
"$root/scripts/install-deps.sh" || exit 1
echo "== wheel =="
rm -rf "$out/dist"
start=$SECONDS
python3 -m pip wheel "$root" --no-deps --disable-pip-version-check -q -w "$out/dist" \
  -C build-dir="$out/cmake" || { echo "wheel: pip wheel failed" >&2; exit 1; }
wheel=$(ls "$out"/dist/linrec-*.whl)
echo "wheel: built $(basename "$wheel") ($(du -m "$wheel" | cut -f1) MiB) in $((SECONDS - start)) s"
python3 "$root/scripts/check_wheel.py" "$wheel" --forbid "$root" --forbid "$out" \
  --forbid /usr/lib/llvm-22
