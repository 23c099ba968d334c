#!/usr/bin/env python3
"""Resource report of the GPU kernels linrec generates.

Extracts the PTX of every `gpu.binary` in MLIR produced by `linrec-opt -linrec-to-nvvm`
(format=isa), runs `ptxas -v` on it for the chip it was generated for, and prints one row per
kernel: registers, spill bytes, static and dynamic shared memory. Exits non-zero when a kernel
spills, when ptxas fails, or when its shared memory exceeds the chip's limit.

    linrec-opt model.mlir -linrec-to-nvvm="chip=sm_80" | ptx-report.py --name model
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# Opt-in shared memory per block (bytes), as lib/Pipelines/Pipelines.cpp sharedMemoryLimitOf.
SHARED_LIMIT = {"sm_80": 163 * 1024, "sm_86": 99 * 1024, "sm_89": 99 * 1024,
                "sm_90": 227 * 1024, "sm_90a": 227 * 1024}


def unescape(text):
    """An MLIR string literal's body: \\XX hex escapes, \\\\ and \\" ."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1]
            if nxt in "\\\"":
                out.append(ord(nxt))
                i += 2
            else:
                out.append(int(text[i + 1:i + 3], 16))
                i += 3
            continue
        out.extend(c.encode())
        i += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        return None  # a cubin or fatbin, not PTX


def binaries(mlir):
    """(binary name, chip, PTX text, {kernel: dynamic shared bytes}) per gpu.binary."""
    shared = {}
    for m in re.finditer(r"gpu\.launch_func\s+@([\w.$]+)::@([\w.$]+)[^\n]*?"
                         r"dynamic_shared_memory_size\s+%(\w+)", mlir):
        shared[m.group(2)] = m.group(3)
    consts = dict(re.findall(r"%(\w+) = arith\.constant (\d+) : i32", mlir))
    for m in re.finditer(r'gpu\.binary @([\w.$]+)\s*\[#gpu\.object<#nvvm\.target<([^>]*)>'
                         r'(?:, properties = \{[^}]*\})?, (?:assembly = )?"((?:[^"\\]|\\.)*)"', mlir):
        chip = re.search(r'chip = "([^"]+)"', m.group(2))
        sizes = {k: int(consts.get(v, 0)) for k, v in shared.items()}
        yield m.group(1), chip.group(1) if chip else "sm_50", unescape(m.group(3)), sizes


def ptxas(ptx, chip):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        exe = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")
        run = subprocess.run([exe, "-v", f"-arch={chip}", "-o", os.path.join(tmp, "k.cubin"),
                              path], capture_output=True, text=True)
        return run.returncode, run.stdout + run.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default="-", help="MLIR file (default: stdin)")
    parser.add_argument("--name", default="", help="label of the rows (e.g. the model)")
    parser.add_argument("--header", action="store_true", help="print the table header")
    args = parser.parse_args()
    mlir = sys.stdin.read() if args.input == "-" else open(args.input).read()
    if args.header:
        print("| model | kernel | chip | registers | spill stores / loads (bytes) | "
              "static smem | dynamic smem |")
        print("|---|---|---|---|---|---|---|")
    failed = False
    found = False
    for name, chip, ptx, dynamic in binaries(mlir):
        found = True
        if ptx is None:
            print(f"{name}: the object is not PTX (run -linrec-to-nvvm with format=isa)",
                  file=sys.stderr)
            failed = True
            continue
        code, report = ptxas(ptx, chip)
        if code != 0:
            print(f"ptxas failed on {name} ({chip}):\n{report}", file=sys.stderr)
            failed = True
            continue
        for kernel_report in re.split(r"(?=ptxas info\s+: Compiling entry function)", report):
            entry = re.search(r"entry function '([^']+)'", kernel_report)
            if not entry:
                continue
            regs = re.search(r"Used (\d+) registers", kernel_report)
            spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads",
                               kernel_report)
            smem = re.search(r"(\d+) bytes smem", kernel_report)
            kernel = entry.group(1)
            stores, loads = (int(spills.group(1)), int(spills.group(2))) if spills else (0, 0)
            static = int(smem.group(1)) if smem else 0
            dyn = dynamic.get(kernel, 0)
            limit = SHARED_LIMIT.get(chip, 48 * 1024)
            problems = []
            if stores or loads:
                problems.append("spills")
            if static + dyn > limit:
                problems.append(f"shared memory over {limit}")
            failed |= bool(problems)
            print(f"| {args.name} | {kernel} | {chip} | {regs.group(1) if regs else '?'} | "
                  f"{stores} / {loads} | {static} | {dyn} |"
                  + (f" **{', '.join(problems)}**" if problems else ""))
    if not found:
        print("no gpu.binary with PTX (run -linrec-to-nvvm with format=isa)", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
