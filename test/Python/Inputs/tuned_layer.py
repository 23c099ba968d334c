"""Layers compiled with a tuning database (LINREC_TUNING_DB, written by linrec-tune): the
entry's schedule is set to a known one first, so that what each compile takes is certain;
LINREC_EXPLAIN=1 prints it. Outputs still match the float64 reference.

    tuned_layer.py DB.json
"""
import json
import sys

import numpy as np

db_path = sys.argv[1]
db = json.load(open(db_path))
assert len(db["entries"]) == 1, db
db["entries"][0]["schedule"] = "chunk-size=16 sequential=false"
json.dump(db, open(db_path, "w"), indent=2)

import linrec  # noqa: E402  (after the database is final: the compiler reads it once)

rng = np.random.default_rng(1)


def inputs(T):
    x = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return dict(q=x(1, T, 2, 16), k=x(1, T, 2, 16), v=x(1, T, 2, 16),
                gk=-0.1 * np.abs(x(1, T, 2, 16)))


for label, T, options in [("default", 64, {}), ("explicit chunk", 64, {"chunk_size": 32}),
                          ("nearest bucket", 100, {})]:
    args = inputs(T)
    print(f"-- {label}", file=sys.stderr, flush=True)
    out = linrec.Layer("gla", scale=0.25, **options)(**args)
    ref = linrec.Layer("gla", target="reference", scale=0.25)(**args)
    err = max(np.linalg.norm(out[n] - ref[n]) / np.linalg.norm(ref[n]) for n in ref)
    print(f"{label}: {'ok' if err < 1e-5 else err}", file=sys.stderr, flush=True)

# The same search from Python (nothing saved): every candidate checked against the reference.
result = linrec.tune("gla", dict(B=1, T=64, H=2, dk=16), scale=0.25, max_candidates=2,
                     min_seconds=0.01, save=False)[0]
timed = [c for c in result["candidates"] if c["ms"] > 0]
print("python tune:", result["shape"], len(timed), "timed,",
      "all within 1e-4" if all(c["error"] <= 1e-4 for c in timed) else "ERRORS",
      file=sys.stderr)

