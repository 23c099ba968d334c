"""token_scan.c (the token-by-token recurrence CPU inference engines run) built for this host
at run time and called through ctypes on torch tensors' memory.

The library is compiled with ``cc -O3 -march=native -fopenmp -shared -fPIC`` into a fresh
temporary directory (never into the repository), once per process, and loaded from there.
"""
import ctypes
import functools
import os
import subprocess
import tempfile

import torch

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "token_scan.c")
COMPILE = ["cc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]

# token_scan.c's decay kinds: how the log-decay argument is shaped.
DECAY_NONE, DECAY_HEAD, DECAY_TOKEN, DECAY_KEY = range(4)


@functools.lru_cache(maxsize=None)
def library():
    """The compiled library, built on first use. The temporary directory is removed once the
    library is loaded (the loaded mapping outlives the file), so runs leave nothing behind."""
    with tempfile.TemporaryDirectory(prefix="linrec-token-scan-") as directory:
        path = os.path.join(directory, "token_scan.so")
        subprocess.run(COMPILE + [SOURCE, "-o", path], check=True)
        lib = ctypes.CDLL(path)
    pointer, i32 = ctypes.c_void_p, ctypes.c_int
    lib.token_scan.argtypes = [i32] * 5 + [pointer] * 3 + [i32, pointer, pointer,
                                                           ctypes.c_float, pointer, pointer, i32]
    lib.token_scan.restype = i32
    return lib


def _pointer(x):
    """The data pointer of a float32 C-contiguous tensor (None for an absent one)."""
    if x is None:
        return None
    if x.dtype != torch.float32 or not x.is_contiguous():
        raise ValueError("token_scan takes float32 C-contiguous tensors")
    return x.data_ptr()


def decay_kind(decay, H):
    """token_scan.c's kind for a log-decay tensor: None, per head [H], per token [B, T, H] or
    per key row [B, T, H, dk]."""
    if decay is None:
        return DECAY_NONE
    if decay.dim() == 1:
        if decay.shape[0] != H:
            raise ValueError(f"a per-head decay must be [H] = [{H}]")
        return DECAY_HEAD
    return DECAY_TOKEN if decay.dim() == 3 else DECAY_KEY


def token_scan(q, k, v, scale, threads, decay=None, beta=None, out=None, final_state=False):
    """o [B, T, H, dv] of the recurrence with the given log-decay (see decay_kind) and, with
    ``beta`` [B, T, H], the delta rule; ``out``: an optional preallocated o. Returns o, or
    (o, final state [B, H, dk, dv]) with ``final_state``."""
    B, T, H, dk = q.shape
    dv = v.shape[-1]
    if k.shape != q.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError("q, k [B, T, H, dk] and v [B, T, H, dv] must agree")
    o = torch.empty(B, T, H, dv) if out is None else out
    state = torch.empty(B, H, dk, dv) if final_state else None
    status = library().token_scan(B, T, H, dk, dv, _pointer(q), _pointer(k), _pointer(v),
                                  decay_kind(decay, H), _pointer(decay), _pointer(beta),
                                  float(scale), _pointer(o), _pointer(state), int(threads))
    if status == -2:
        raise ValueError(f"token_scan needs dv a multiple of 32, got {dv}")
    if status:
        raise MemoryError("token_scan could not allocate its per-head buffers")
    return (o, state) if final_state else o
