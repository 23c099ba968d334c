#!/usr/bin/env bash
# Installs every system package linrec needs (Debian 12). Idempotent: quiet and fast when
# everything is already there.
set -euo pipefail

packages=(
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22 libomp-22-dev
  libclang-rt-22-dev
  ninja-build cmake libgtest-dev libopenblas-dev libdnnl-dev python3
  libopenmpi-dev openmpi-bin
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Python package: nanobind builds the extension, NumPy carries the arrays.
python_packages=(nanobind numpy)
python_missing=()
for p in "${python_packages[@]}"; do
  python3 -c "import $p" 2>/dev/null || python_missing+=("$p")
done
if [ ${#python_missing[@]} -ne 0 ]; then
  echo "install-deps: pip installing ${python_missing[*]}"
  python3 -m pip install -q --disable-pip-version-check "${python_missing[@]}"
fi
