"""A layer compiled as a whole (MoM: routing around its recurrences) takes its tuned schedule
from the tuning database (LINREC_TUNING_DB, written by linrec-tune for the same layer, shape
and thread count); the entry's schedule is set to a known one first. Outputs still match the
float64 reference.

    tuned_whole_layer.py DB.json
"""
import json
import sys

import numpy as np

db_path = sys.argv[1]
db = json.load(open(db_path))
assert len(db["entries"]) == 1 and db["entries"][0]["kernel"].startswith("layer-"), db
db["entries"][0]["schedule"] = "chunk-size=16 sequential=false"
json.dump(db, open(db_path, "w"), indent=2)

import linrec  # noqa: E402  (after the database is final: the compiler reads it once)

rng = np.random.default_rng(1)
x = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
M, B, T, H, d = 4, 1, 64, 1, 16
k = x(M, B, T, H, d)
k /= np.linalg.norm(k, axis=-1, keepdims=True)
args = dict(q=x(B, T, H, d), k=k, v=x(M, B, T, H, d), g=-0.1 * np.abs(x(M, B, T, H)),
            beta=rng.random((M, B, T, H)).astype(np.float32), router_logits=x(B, T, M))
params = dict(topk=2, shared=False, scale=0.25)
out = linrec.Layer("mom", threads=1, **params)(**args)
ref = linrec.Layer("mom", target="reference", **params)(**args)
err = max(np.linalg.norm(out[n] - ref[n]) / np.linalg.norm(ref[n]) for n in ref)
print("whole layer:", "ok" if err < 1e-5 else err, file=sys.stderr)
