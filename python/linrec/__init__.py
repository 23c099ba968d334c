"""linrec: one compiler for linear-attention recurrences.

Build a layer of any model linrec knows from its parameters (the same names and meaning as
the conformance format, ../shared/conformance/README.md) and call it on NumPy arrays or CPU
DLPack tensors (PyTorch CPU tensors included)::

    import numpy as np, linrec
    layer = linrec.Layer("liger_gla", scale=1.0, gate_normalizer=16.0)
    out = layer(q=q, k=k, v=v, graw=k)        # arrays shaped [B, T, H, D]
    o, final_state = out["o"], out["final_state"]

The kernels are compiled for the inputs' shapes on first use and cached for the process.
Inputs are copied into the runtime's host arrays and outputs come back as new NumPy arrays.
"""

import json as _json

import numpy as _np

from ._linrec import models, run_case
from ._linrec import run_model as _run_model

__all__ = ["Layer", "models", "run_case"]


class Layer:
    """A layer of one of linrec's models.

    model:      a name from ``linrec.models()`` ("gla", "gated_delta", "liger_gla", ...).
    target:     "cpu" (JIT-compiled kernels), "cuda" (GPU kernels: recurrences and windows on
                the GPU, the tensor ops around them on the host; needs a CUDA driver and GPU) or
                "reference" (the float64 interpreter).
    threads:    CPU threads (0: all cores).
    chunk_size: the chunked algorithm's chunk (0: the default).
    sequential: run the exact token-by-token scan instead of the chunked algorithm.
    chunked_products: tensor attention in the chunked product form (chunks of at most 16)
                instead of the token scan, which is faster on the CPU.
    **params:   the model's parameters, exactly as the conformance format names them; every
                parameter the model uses must be given (there are no hidden defaults).
    """

    def __init__(self, model, *, target="cpu", threads=0, chunk_size=0, sequential=False,
                 chunked_products=False, **params):
        if model not in models():
            raise ValueError(f"unknown model '{model}'; linrec knows: {', '.join(models())}")
        self.model = model
        self.target = target
        self.threads = threads
        self.chunk_size = chunk_size
        self.sequential = sequential
        self.chunked_products = chunked_products
        self.params = dict(params)
        self._params_json = _json.dumps(self.params)

    def __call__(self, **inputs):
        """Runs the layer on named inputs; returns a dict of NumPy arrays by output name.

        On the compiled targets, NumPy float64 inputs are cast to float32 and int64 ones (cu_seqlens)
        to int32, and non-contiguous arrays are made contiguous; float32 C-contiguous arrays
        and DLPack tensors are used in place.
        """
        if self.target in ("cpu", "cuda"):
            inputs = {name: _prepare(x) for name, x in inputs.items()}
        return _run_model(self.model, self._params_json, inputs, self.target, self.threads,
                          self.chunk_size, self.sequential, self.chunked_products)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"linrec.Layer({self.model!r}, {args})"


def _prepare(x):
    if not isinstance(x, _np.ndarray):
        return x
    if x.dtype == _np.float64:
        x = x.astype(_np.float32)
    elif x.dtype == _np.int64:
        x = x.astype(_np.int32)
    return _np.ascontiguousarray(x)
