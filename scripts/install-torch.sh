#!/usr/bin/env bash
# The PyTorch the Python tests use (linrec.ops, linrec.nn, training): a virtual environment of python3 (the interpreter the
# Python package is built for; it sees that interpreter's NumPy) with torch from PyPI, kept
# outside the repository and reused when present (several GB the first time). It also holds
# matplotlib, which bench/peers/plot.py draws the benchmark's plots with.
#   LINREC_TORCH_VENV   where (default ~/.cache/linrec/torch-venv)
set -euo pipefail
venv="${LINREC_TORCH_VENV:-$HOME/.cache/linrec/torch-venv}"
pip_install() {
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
}
if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; }; then
  echo "install-torch: creating $venv and pip installing torch (PyPI)"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv --system-site-packages "$venv"
  pip_install "torch>=2.4,<3"
  "$venv/bin/python" -c "import torch; print('install-torch: torch', torch.__version__)"
fi
if ! "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
  echo "install-torch: pip installing matplotlib (PyPI) into $venv"
  pip_install "matplotlib>=3.5,<4"
fi
