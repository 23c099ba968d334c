#!/usr/bin/env bash
# The PyTorch the Python tests use (linrec.ops, linrec.nn, training): a virtual environment of python3 (the interpreter the
# Python package is built for; it sees that interpreter's NumPy) with torch from PyPI, kept
# outside the repository and reused when present (several GB the first time).
#   LINREC_TORCH_VENV   where (default ~/.cache/linrec/torch-venv)
set -euo pipefail
venv="${LINREC_TORCH_VENV:-$HOME/.cache/linrec/torch-venv}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  exit 0
fi
echo "install-torch: creating $venv and pip installing torch (PyPI)"
mkdir -p "$(dirname "$venv")"
python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "torch>=2.4,<3"
"$venv/bin/python" -c "import torch; print('install-torch: torch', torch.__version__)"
