"""linrec.distributed over torch.distributed (gloo), 2 and 4 processes on this machine: each
rank's part of the tokens gives the single-process outputs (its shard, and rank 0's gathered
whole), for chunked families, varlen sequences crossing parts, uneven parts, a rank without
tokens and a hybrid layer's halo; a rank that fails makes every rank fail."""

import datetime
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import linrec
from linrec.distributed import token_part

RNG = np.random.default_rng(5)


def gated_delta_varlen():
    lengths = [0, 37, 1, 0, 60, 25]
    total, H, dk, dv = sum(lengths), 2, 16, 8
    k = RNG.standard_normal((1, total, H, dk))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    inputs = dict(
        q=RNG.standard_normal((1, total, H, dk)), k=k,
        v=RNG.standard_normal((1, total, H, dv)),
        g=-np.abs(0.2 * RNG.standard_normal((1, total, H))),
        beta=1 / (1 + np.exp(-RNG.standard_normal((1, total, H)))),
        initial_state=RNG.standard_normal((len(lengths), H, dk, dv)),
        cu_seqlens=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    return "gated_delta", dict(scale=0.25), {n: as_f32(x) for n, x in inputs.items()}


def gla_batch():
    B, T, H, d = 2, 93, 2, 16
    inputs = dict(q=RNG.standard_normal((B, T, H, d)), k=RNG.standard_normal((B, T, H, d)),
                  v=RNG.standard_normal((B, T, H, d)),
                  gk=-np.abs(0.1 * RNG.standard_normal((B, T, H, d))),
                  initial_state=RNG.standard_normal((B, H, d, d)))
    return "gla", dict(scale=0.25), {n: as_f32(x) for n, x in inputs.items()}


def lolcats_sliding():
    B, T, H, d, F = 1, 150, 2, 16, 16
    inputs = dict(q=RNG.standard_normal((B, T, H, d)), k=RNG.standard_normal((B, T, H, d)),
                  v=RNG.standard_normal((B, T, H, d)),
                  Wq=0.25 * RNG.standard_normal((H, d, F)),
                  Wk=0.25 * RNG.standard_normal((H, d, F)),
                  window_logit=RNG.standard_normal((H,)))
    params = dict(window="sliding", window_size=32, scale=0.25, linear_factor=1.0,
                  feature="softmax")
    return "lolcats", params, {n: as_f32(x) for n, x in inputs.items()}


def as_f32(x):
    return x.astype(np.int32) if x.dtype.kind == "i" else np.ascontiguousarray(x, np.float32)


CASES = [gated_delta_varlen(), gla_batch(), lolcats_sliding()]
PER_TOKEN = {"q", "k", "v", "g", "gk", "beta"}


def parts(tokens, ranks, uneven):
    if not uneven:
        return [token_part(tokens, r, ranks) for r in range(ranks)]
    # One rank without tokens, the others uneven.
    sizes = [tokens // 2, 0] + [0] * (ranks - 2)
    rest = tokens - sizes[0]
    for r in range(2, ranks):
        sizes[r] = rest // (ranks - 2) + (1 if r - 2 < rest % (ranks - 2) else 0)
    if ranks == 2:
        sizes = [tokens - 1, 1]
    begins = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(begins[r]), int(begins[r + 1])) for r in range(ranks)]


def relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def worker(rank, ranks, store_dir, results):
    dist.init_process_group("gloo", init_method=f"file://{store_dir}/store", rank=rank,
                            world_size=ranks, timeout=datetime.timedelta(seconds=60))
    failures = []
    for model, params, inputs in CASES:
        layer = linrec.Layer(model, **params)
        whole = layer(**inputs)
        tokens = inputs["q"].shape[1]
        for uneven in (False, True):
            part = parts(tokens, ranks, uneven)[rank]
            mine = {n: (x[:, part] if n in PER_TOKEN else x) for n, x in inputs.items()}
            local = layer(process_group=dist.group.WORLD, **mine)
            if part.stop == part.start:  # a rank without tokens has no shard
                if local:
                    failures.append(f"{model}: rank {rank} without tokens got {list(local)}")
            elif "o" not in local:
                failures.append(f"{model} uneven={uneven} rank {rank}: outputs {list(local)}")
            else:
                error = relative(local["o"], whole["o"][:, part])
                if not error <= 1e-5:
                    failures.append(f"{model} uneven={uneven} rank {rank}: o shard {error:.2e}")
            gathered = layer(process_group=dist.group.WORLD, gather=True, **mine)
            if rank == 0:
                for name, expected in whole.items():
                    error = relative(gathered[name], expected)
                    if not error <= 1e-5:
                        failures.append(f"{model} uneven={uneven}: {name} {error:.2e}")
            elif gathered:
                failures.append(f"{model}: rank {rank} got gathered outputs")
            stats = layer.last_sequence_parallel
            if stats["summary_bytes"] > 100_000:
                failures.append(f"{model}: {stats['summary_bytes']} summary bytes")
    # One rank's bad input fails every rank, none hangs.
    model, params, inputs = CASES[1]
    layer = linrec.Layer(model, **params)
    part = token_part(inputs["q"].shape[1], rank, ranks)
    mine = {n: (x[:, part] if n in PER_TOKEN else x) for n, x in inputs.items()}
    if rank == ranks - 1:
        mine["gk"] = mine["gk"].copy()
        mine["gk"][0, 0, 0, 0] = 1.0  # a positive log-decay
    try:
        layer(process_group=dist.group.WORLD, **mine)
        failures.append(f"rank {rank}: a bad input on rank {ranks - 1} did not fail")
    except ValueError as e:
        if f"rank {ranks - 1}" not in str(e):
            failures.append(f"rank {rank}: unexpected error {e}")
    results[rank] = failures
    dist.destroy_process_group()


def dead_rank_worker(rank, ranks, store_dir, results):
    """Rank 1 dies after joining; rank 0's call fails (gloo notices the closed connection, or
    the group's timeout ends the wait) instead of hanging."""
    dist.init_process_group("gloo", init_method=f"file://{store_dir}/store", rank=rank,
                            world_size=ranks, timeout=datetime.timedelta(seconds=20))
    if rank == 1:
        os._exit(0)
    model, params, inputs = CASES[1]
    layer = linrec.Layer(model, **params)
    part = token_part(inputs["q"].shape[1], rank, ranks)
    mine = {n: (x[:, part] if n in PER_TOKEN else x) for n, x in inputs.items()}
    try:
        layer(process_group=dist.group.WORLD, **mine)
        results[rank] = ["rank 0 ran although rank 1 died"]
    except ValueError as e:
        print("dead rank:", str(e).splitlines()[0][:200], flush=True)
        results[rank] = []
    os._exit(0)  # the group cannot be torn down cleanly without rank 1


def main():
    for ranks in (2, 4):
        with tempfile.TemporaryDirectory() as store_dir:
            manager = mp.Manager()
            results = manager.dict()
            mp.spawn(worker, args=(ranks, store_dir, results), nprocs=ranks, join=True)
            failures = [f for r in range(ranks) for f in results.get(r, [f"rank {r}: no result"])]
        for f in failures:
            print("FAIL", f)
        print(f"{ranks} ranks: {'ok' if not failures else 'FAILED'}")
        if failures:
            sys.exit(1)
    with tempfile.TemporaryDirectory() as store_dir:
        manager = mp.Manager()
        results = manager.dict()
        start = time.monotonic()
        mp.spawn(dead_rank_worker, args=(2, store_dir, results), nprocs=2, join=True)
        failures = results.get(0, ["rank 0: no result"])
        print(f"dead rank: {'ok' if not failures else failures} "
              f"({'within' if time.monotonic() - start < 60 else 'over'} 60 s)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
