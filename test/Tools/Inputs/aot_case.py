"""Runs a conformance case through a kernel library made by linrec-compile (the flow of
bench/gpu/gpu_check.py's conformance part, on the CPU): inputs by the names the manifest gives,
constants from the manifest, outputs poisoned, then the relative RMS error of each output.

    aot_case.py MANIFEST.json CASE_DIR
"""
import json
import os
import sys

import numpy as np

# The package's AOT loader, by path: it needs no linrec build (python/linrec/aot.py).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "python", "linrec"))
from aot import AotKernel  # noqa: E402


def main():
    manifest, case = sys.argv[1], sys.argv[2]
    spec = json.load(open(os.path.join(case, "spec.json")))
    kernel = AotKernel(manifest)
    arrays = {}
    for name, file in spec["inputs"].items():
        a = np.load(os.path.join(case, file))
        arrays[name] = np.ascontiguousarray(a, dtype=np.int32 if a.dtype.kind in "iu"
                                            else np.float32)
    expected = {name: np.load(os.path.join(case, file)) for name, file in spec["outputs"].items()}
    for name, want in expected.items():
        arrays[name] = np.full(want.shape, np.nan, dtype=np.float32)
    kernel(**arrays)
    for name, want in expected.items():
        err = np.linalg.norm(arrays[name] - want) / np.linalg.norm(want)
        ok = np.isfinite(err) and err <= spec["tolerance"]["f32"]
        print(f"{os.path.basename(case)} {name}: {'ok' if ok else f'FAIL {err:.3e}'}")


if __name__ == "__main__":
    main()
