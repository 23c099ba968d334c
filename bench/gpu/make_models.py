"""Writes one .mlir per chunked family and head dim for the GPU benchmark (linrec-compile
makes B, T and H dynamic, so only the head dims matter here).

    make_models.py OUTDIR [--dims 64,128]
"""
import argparse
import os

# family: (named op, extra operands as (name, kind)); kinds: scalar [B,T,H], key [B,T,H,dk],
# head [H] (f64).
FAMILIES = {
    "linear": ("linear_attention", []),
    "lightning": ("lightning", [("decay", "head")]),
    "simple_gla": ("simple_gla", [("g", "scalar")]),
    "gla": ("gla", [("gk", "key")]),
    "delta": ("deltanet", [("beta", "scalar")]),
    "gated_delta": ("gated_deltanet", [("g", "scalar"), ("beta", "scalar")]),
    "kda": ("kda", [("gk", "key"), ("beta", "scalar")]),
}
# How each named op spells its extra operands.
CLAUSE = {"decay": "decay", "g": "gate", "gk": "gate", "beta": "beta"}


def model(family, d):
    op, extras = FAMILIES[family]
    t = f"tensor<1x64x1x{d}xf32>"
    types = {"scalar": "tensor<1x64x1xf32>", "key": t, "head": "tensor<1xf64>"}
    args = [f'%q: {t} {{linrec.name = "q"}}', f'%k: {t} {{linrec.name = "k"}}',
            f'%v: {t} {{linrec.name = "v"}}']
    args += [f'%{n}: {types[kind]} {{linrec.name = "{n}"}}' for n, kind in extras]
    clauses = " ".join(f"{CLAUSE[n]}(%{n})" for n, _ in extras)
    operand_types = ", ".join([t, t, t] + [types[kind] for _, kind in extras])
    state = f"tensor<1x1x{d}x{d}xf32>"
    scale = d ** -0.5
    return (f"func.func @{family}({', '.join(args)})\n"
            f'    -> ({t} {{linrec.name = "o"}}, {state} {{linrec.name = "final_state"}}) {{\n'
            f"  %o, %s = linrec.{op} %q, %k, %v {clauses} {{scale = {scale} : f64}}\n"
            f"      : ({operand_types}) -> ({t}, {state})\n"
            f"  return %o, %s : {t}, {state}\n}}\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--dims", default="64,128")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    for family in FAMILIES:
        for d in (int(x) for x in args.dims.split(",")):
            with open(os.path.join(args.outdir, f"{family}_d{d}.mlir"), "w") as f:
                f.write(model(family, d))


if __name__ == "__main__":
    main()
