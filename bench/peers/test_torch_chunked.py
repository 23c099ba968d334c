"""The peers agree with linrec before they are timed: for every family, torch_chunked's chunked
forward (a chunk at a time, its default, and in blocks of 4 chunks) and the C token scan
(o and final state) against linrec.ops on the same inputs, at B = 2, T = 200 (three full
chunks of 64 and a partial one), H = 2, d = 32 and d = 96 (the C scan works on 32-wide
column blocks of the state: one and three), to 1e-4 relative (max |Δ| / max |linrec|).
Each check is also run against linrec's output for a perturbed input (one value at token 150
changed) and must fail there: a comparison that cannot fail proves nothing.

    PYTHONPATH=build/python ~/.cache/linrec/torch-venv/bin/python bench/peers/test_torch_chunked.py

Exits non-zero, naming the families that disagree.
"""
import sys

import torch

import linrec.ops
from families import FAMILIES, make_inputs, run_linrec, run_scan, run_torch

B, T, H = 2, 200, 2
DIMS = (32, 96)
TOLERANCE = 1e-4


def relative_error(got, want):
    return float((got - want).abs().max() / want.abs().max())


def perturbed(x):
    """x with v[0, 150, 1, :] shifted by one: every family's later outputs of that head move."""
    v = x["v"].clone()
    v[0, 150, 1] += 1.0
    return {**x, "v": v}


def check_family(family, d):
    """Errors of (torch o, scan o, scan final state) against linrec, and the torch error
    against the perturbed linrec output (which must exceed the tolerance)."""
    x = make_inputs([family], B, T, H, d)
    want, want_state = run_linrec(family, x, output_final_state=True)
    scan_o, scan_state = run_scan(family, x, threads=2, final_state=True)
    errors = {"torch o": relative_error(run_torch(family, x), want),
              "torch o (4-chunk blocks)": relative_error(run_torch(family, x, block=4), want),
              "scan o": relative_error(scan_o, want),
              "scan state": relative_error(scan_state, want_state)}
    control = relative_error(run_torch(family, x), run_linrec(family, perturbed(x))[0])
    return errors, control


def main():
    linrec.ops.set_schedule(threads=1)
    torch.set_num_threads(1)  # reproducible rounding (MKL's split of a sum depends on threads)
    failed = []
    with torch.inference_mode():
        for d in DIMS:
            for family in FAMILIES.values():
                errors, control = check_family(family, d)
                text = ", ".join(f"{name} {e:.1e}" for name, e in errors.items())
                bad = [name for name, e in errors.items() if not e <= TOLERANCE]
                if control <= TOLERANCE:
                    bad.append(f"perturbed input not detected ({control:.1e})")
                print(f"{family.name:12s} d={d:<3d} {text}, perturbed {control:.1e}: "
                      f"{'FAIL ' + '; '.join(bad) if bad else 'ok'}", flush=True)
                if bad:
                    failed.append(f"{family.name} (d = {d})")
    if failed:
        sys.exit(f"mismatch against linrec: {', '.join(failed)}")
    print(f"all {len(FAMILIES)} families agree with linrec to {TOLERANCE:g} at d = "
          f"{' and '.join(map(str, DIMS))}")


if __name__ == "__main__":
    main()
