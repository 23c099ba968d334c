"""Checks that a linrec wheel moves: it must work on another Debian 12 machine, one without
LLVM or MLIR installed. scripts/wheel.sh builds the wheel and runs this.

    check_wheel.py WHEEL [--forbid PATH]...

1. Every ELF file in the wheel: no RPATH or RUNPATH but ones relative to $ORIGIN; every
   library it needs either ships in the wheel or is one of Debian's base libraries (what every
   Debian 12 system has: libc, libstdc++, zlib, zstd); no byte string of a forbidden path (the
   source and build directories, LLVM's) anywhere in it.
2. The wheel installs with pip into a fresh directory, is moved to another one, and runs from
   there: a layer compiled by the JIT on OpenMP threads (the libomp the wheel ships), checked
   against the float64 reference; a decode step on a state pool in place; the AOT loader
   imports. Where the process may make a mount namespace (root, or user namespaces), the run
   happens with LLVM's directory and Debian's libLLVM/libomp hidden (empty mounts over them);
   in every case it checks that no LLVM or MLIR library is mapped in the process.
Exits non-zero naming what is wrong.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

# Debian 12's base libraries (packages of priority required: libc6, libstdc++6, libgcc-s1,
# zlib1g, libzstd1): what a wheel may need from the system.
BASE_LIBRARIES = {"libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0",
                  "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1",
                  "libzstd.so.1"}
# What the moved package must never map: the libraries linrec is linked against at build time.
LLVM_LIBRARY = re.compile(r"/(libLLVM|libMLIR)[^/]*\.so|/usr/lib/llvm-")
# Hidden in the run: LLVM's directory, and the files Debian puts elsewhere.
HIDDEN_FILES = ["/usr/lib/x86_64-linux-gnu/libLLVM.so.22.1", "/usr/lib/x86_64-linux-gnu/libomp.so.5"]
HIDDEN_DIRS = ["/usr/lib/llvm-22"]

SMOKE = r'''
import os, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import linrec
import linrec.aot
assert linrec.__file__.startswith(sys.argv[1]), linrec.__file__
print("version", linrec.__version__)
rng = np.random.default_rng(3)
B, T, H, D = 2, 70, 2, 16
x = lambda *s: rng.standard_normal(s).astype(np.float32)
inputs = dict(q=x(B, T, H, D), k=x(B, T, H, D), v=x(B, T, H, D),
              gk=-np.abs(x(B, T, H, D)) * 0.3)
cpu = linrec.Layer("gla", scale=0.25, threads=2)(**inputs)
ref = linrec.Layer("gla", target="reference", scale=0.25)(**inputs)
err = max(np.linalg.norm(cpu[n] - ref[n]) / np.linalg.norm(ref[n]) for n in ref)
assert err < 1e-5, err
pool = x(5, H, D, D)
before = pool.copy()
step = {n: a[:, :1].copy() for n, a in inputs.items()}
o = linrec.Layer("gla", scale=0.25).step(initial_state=pool, state_indices=[3, 1], **step)
assert np.array_equal(pool[[0, 2, 4]], before[[0, 2, 4]]) and not np.array_equal(pool[3], before[3])
maps = open("/proc/self/maps").read()
omp = sorted({line.split()[-1] for line in maps.splitlines() if "libomp" in line})
assert omp == [os.path.join(sys.argv[1], "linrec", "libomp.so.5")], omp
print("ok: relative error %.1e, a decode step in place, libomp from the package" % err)
print("MAPS", " ".join(sorted({line.split()[-1] for line in maps.splitlines() if "/" in line})))
'''


def fail(message):
    print(f"check_wheel: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def readelf(path, *flags):
    return subprocess.run(["readelf", *flags, path], capture_output=True, text=True,
                          check=True).stdout


def check_binaries(root, forbidden):
    """Step 1; returns the ELF files checked."""
    elves = []
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    elves.append(path)
    if not elves:
        fail("no binaries in the wheel")
    shipped = {os.path.basename(p) for p in elves}
    for path in elves:
        where = os.path.relpath(path, root)
        dynamic = readelf(path, "-d")
        for kind, value in re.findall(r"\((RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[(.*)\]",
                                      dynamic):
            for entry in value.split(":"):
                if entry and not entry.startswith("$ORIGIN"):
                    fail(f"{where}: {kind} '{entry}' is not relative to $ORIGIN")
        for needed in re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dynamic):
            if needed not in BASE_LIBRARIES and needed not in shipped:
                fail(f"{where} needs {needed}, which is neither in the wheel nor a Debian base "
                     "library")
        with open(path, "rb") as f:
            data = f.read()
        for prefix in forbidden:
            if prefix.encode() in data:
                fail(f"{where} contains the build machine's path '{prefix}'")
        print(f"check_wheel: {where}: {len(data) >> 20} MiB, needs only base libraries or its "
              "own, no absolute search path, no build path")
    return elves


def namespace_prefix():
    """The command prefix that runs a shell with LLVM hidden, or None where mount namespaces
    are not allowed here."""
    hides = [f"mount -t tmpfs none {d}" for d in HIDDEN_DIRS if os.path.isdir(d)]
    hides += [f"mount --bind /dev/null {f}" for f in HIDDEN_FILES if os.path.exists(f)]
    script = " && ".join(hides + ['exec "$@"'])
    for unshare in (["unshare", "--mount", "--propagation", "private"],
                    ["unshare", "--map-root-user", "--mount", "--propagation", "private"]):
        probe = subprocess.run(unshare + ["sh", "-c", script, "sh", "true"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return unshare + ["sh", "-c", script, "sh"]
    print(f"check_wheel: note: cannot hide LLVM here (unshare: {probe.stderr.strip()}); the "
          "run only checks that no LLVM or MLIR library is mapped")
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("wheel")
    parser.add_argument("--forbid", action="append", default=[],
                        help="a path no binary may contain (the source and build directories)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linrec-wheel-") as tmp:
        unpacked = os.path.join(tmp, "unpacked")
        with zipfile.ZipFile(args.wheel) as wheel:
            wheel.extractall(unpacked)
        check_binaries(unpacked, args.forbid)

        installed, moved = os.path.join(tmp, "site"), os.path.join(tmp, "elsewhere", "site")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--disable-pip-version-check", "--root-user-action=ignore", "--target", installed, args.wheel],
                       check=True)
        os.makedirs(os.path.dirname(moved))
        shutil.move(installed, moved)
        smoke = os.path.join(tmp, "smoke.py")
        with open(smoke, "w") as f:
            f.write(SMOKE)
        prefix = namespace_prefix()
        command = [sys.executable, smoke, moved]
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD")}
        env["LINREC_KERNEL_CACHE"] = "0"
        run = subprocess.run((prefix or []) + command, capture_output=True, text=True,
                             cwd=tmp, env=env)
        if run.returncode != 0:
            fail(f"the moved package does not run:\n{run.stdout}{run.stderr}")
        maps = next(line for line in run.stdout.splitlines() if line.startswith("MAPS"))
        mapped = [p for p in maps.split()[1:] if LLVM_LIBRARY.search(p)]
        if mapped:
            fail(f"the moved package maps LLVM or MLIR libraries: {mapped}")
        for line in run.stdout.splitlines():
            if not line.startswith("MAPS"):
                print(f"check_wheel: {line}")
        print("check_wheel: the package runs after a move" +
              (" with LLVM and MLIR hidden" if prefix else "") + "; no LLVM or MLIR mapped")


if __name__ == "__main__":
    main()
