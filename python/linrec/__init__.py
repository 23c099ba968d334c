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

Gradients: ``layer.backward({"o": do, "final_state": dS}, q=q, k=k, ...)`` returns ∂L/∂x
for every float input of L = Σ ⟨cotangent, output⟩ (README §6 of the conformance format),
from the backward linrec derives from the layer (the float64 adjoint on "reference").
"""

import json as _json

import numpy as _np

from ._linrec import __version__, model_info, models, run_case, schedule_options
from ._linrec import run_model as _run_model
from ._linrec import run_model_backward as _run_model_backward
from ._linrec import tune as _tune
from ._linrec import tuning_db_path as _tuning_db_path

__all__ = ["Layer", "__version__", "model_info", "models", "run_case", "schedule_options",
           "tune"]


class Layer:
    """A layer of one of linrec's models.

    model:      a name from ``linrec.models()`` ("gla", "gated_delta", "liger_gla", ...).
    target:     "cpu" (JIT-compiled kernels), "cuda" (GPU kernels: recurrences and windows on
                the GPU, the tensor ops around them on the host; needs a CUDA driver and GPU),
                "gpu-schedule" (the GPU kernels' schedule run on the CPU) or "reference" (the
                float64 interpreter).
    schedule:   the options of the target's pipeline, as a dict or "name=value ..." text;
                ``linrec.schedule_options(target)`` lists them with their defaults and help
                (cpu: threads, chunk_size, sequential, chunked_products, value_tiles,
                heads_per_item, ...; gpu: chunk_size, value_tile, two_phase, tensor_cores, ...).
    check:      refuse inputs outside their domain before running (on by default): NaN or
                ±inf anywhere, a positive or NaN log-decay (−inf is a full reset); ValueError
                names the first bad element. Off, such inputs may give garbage.
    **kwargs:   schedule options by name (``threads=2, chunk_size=32``: underscores for the
                dashes), and the model's parameters, exactly as the conformance format names
                them; every parameter the model uses must be given (there are no hidden
                defaults).
    """

    def __init__(self, model, *, target="cpu", schedule=None, check=True, **kwargs):
        if model not in models():
            raise ValueError(f"unknown model '{model}'; linrec knows: {', '.join(models())}")
        self.model = model
        self.target = target
        self.check = check
        known = schedule_options(target)
        entries = _schedule_entries(schedule)
        self.params = {}
        for name, value in kwargs.items():
            option = name.replace("_", "-")
            if option in known:
                entries.append(f"{option}={_option_text(value)}")
            else:
                self.params[name] = value
        self.schedule = " ".join(entries)
        self._params_json = _json.dumps(self.params)

    def __call__(self, *, process_group=None, gather=False, **inputs):
        """Runs the layer on named inputs; returns a dict of NumPy arrays by output name.

        On the compiled targets, NumPy float64 inputs are cast to float32 and int64 ones (cu_seqlens)
        to int32, and non-contiguous arrays are made contiguous; float32 C-contiguous arrays
        and DLPack tensors are used in place.

        process_group: a torch.distributed group whose ranks split the tokens (sequence
        parallelism, ``linrec.distributed``): this rank passes its part of the per-token
        inputs and gets its part's outputs (``gather=True``: rank 0 gets the whole).
        """
        if self.target != "reference":
            inputs = {name: _prepare(name, x) for name, x in inputs.items()}
        if process_group is not None:
            from . import distributed
            return distributed.run(self, inputs, process_group=process_group, gather=gather)
        if gather:
            raise ValueError("gather=True gathers a sequence-parallel run's outputs: give "
                             "process_group")
        return _run_model(self.model, self._params_json, inputs, self.target, self.schedule,
                          check=self.check)

    def step(self, *, state_indices, initial_state, initial_z=None, out=None, **inputs):
        """A step (one decode token, or several) of a batch of sequences whose states live in
        pools, updated in place: serving's continuous batching.

        initial_state: the pool, [P, H, dk, dv] float32, C-contiguous and writable (a NumPy
        array or a CPU torch tensor); slot ``state_indices[n]`` holds sequence n's state and is
        overwritten with its state after the step; the other slots are not touched.
        initial_z: the normalizer's pool [P, H, dk] likewise (linear with normalize).
        state_indices: [N] int32 (int64 is converted), distinct slots in [0, P).
        out: an optional float32 array for ``o`` (written in place; a new array otherwise).
        Returns ``o``. Nothing is allocated for the states; the layer is compiled once per
        shape, as ``__call__`` does.
        """
        if self.target not in ("cpu", "gpu-schedule"):
            raise ValueError(f"step() runs on the compiled CPU targets, not '{self.target}'")
        pools = {"final_state": _writable_pool("initial_state", initial_state)}
        inputs = {name: _prepare(name, x) for name, x in inputs.items()}
        inputs["initial_state"] = pools["final_state"]
        if initial_z is not None:
            pools["final_z"] = _writable_pool("initial_z", initial_z)
            inputs["initial_z"] = pools["final_z"]
        inputs["state_indices"] = _prepare("state_indices", _np.asarray(state_indices))
        v = inputs.get("v")
        if v is None:
            raise ValueError("step() needs the layer's value input 'v'")
        if out is None:
            out = _np.empty(v.shape, dtype=_np.float32)
        out = _writable_pool("out", out)
        _run_model(self.model, self._params_json, inputs, self.target, self.schedule,
                   out={"o": out, **pools}, check=self.check)
        return out

    def backward(self, cotangents, **inputs):
        """The gradients of L = Σ ⟨cotangents[name], output name⟩ for every float input.

        cotangents: a dict by output name (a missing output counts as zero), each shaped like
        its output. Returns a dict of NumPy arrays by input name. The compiled targets run
        the backward linrec derives from the layer's recurrence (its own chunked kernels; it
        recomputes the forward's states, so no forward state is kept); a layer it does not
        derive yet raises ValueError naming the op. "reference" runs the float64 adjoint.
        """
        if self.target != "reference":
            inputs = {name: _prepare(name, x) for name, x in inputs.items()}
            cotangents = {name: _prepare(name, x) for name, x in cotangents.items()}
        return _run_model_backward(self.model, self._params_json, inputs, dict(cotangents),
                                   self.target, self.schedule, check=self.check)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"linrec.Layer({self.model!r}, {args})"


def _option_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "{" + text + "}" if " " in text else text


def _schedule_entries(schedule):
    if schedule is None:
        return []
    if isinstance(schedule, str):
        return [schedule] if schedule.strip() else []
    return [f"{k.replace('_', '-')}={_option_text(v)}" for k, v in dict(schedule).items()]


def _writable_pool(name, x):
    """A NumPy view of a buffer the kernels write in place: float32, C-contiguous, writable
    (a CPU torch tensor shares its memory)."""
    if not isinstance(x, _np.ndarray) and hasattr(x, "numpy"):
        if getattr(x, "requires_grad", False):
            raise ValueError(f"'{name}' requires grad: a state pool is updated in place")
        x = x.numpy()
    if not (isinstance(x, _np.ndarray) and x.dtype == _np.float32 and x.flags.c_contiguous
            and x.flags.writeable):
        raise ValueError(f"'{name}' must be a writable C-contiguous float32 array (it is "
                         "updated in place)")
    return x


def _prepare(name, x):
    """A NumPy input as the compiled kernels take it: float64 as float32, int64 offsets as
    int32 (refused, not wrapped, beyond int32's range), C-contiguous."""
    if not isinstance(x, _np.ndarray):
        return x
    if x.dtype == _np.float64 and name != "cu_seqlens":
        x = x.astype(_np.float32)
    elif x.dtype == _np.int64:
        if x.size and (x.max() > _np.iinfo(_np.int32).max or x.min() < _np.iinfo(_np.int32).min):
            raise ValueError(f"'{name}' holds values beyond int32's range")
        x = x.astype(_np.int32)
    return _np.ascontiguousarray(x)


def tune(model, shapes, *, target="cpu", schedule=None, budget=0.0, max_candidates=0,
         min_seconds=0.2, db=None, save=True, **params):
    """Searches the schedule of `model`'s layer for each shape (a dict of its dimensions:
    ``dict(B=1, T=4096, H=8, dk=128)``; dv = dk unless given) as ``linrec-tune`` does, and saves
    each winner in the tuning database (`db`, default: ``$LINREC_TUNING_DB`` or
    ``~/.cache/linrec/tuning.json``; ``save=False``: nothing written), where later compiles of
    the same kernel on this machine take it for the options they are not given.

    target: "cpu", or "cuda": every candidate is assembled by ptxas first (spills and shared
    memory prune it; ``schedule={"chip": "sm_90a"}`` where there is no device) and timed on the
    CUDA device; without one the candidates are checked on the CPU, nothing is timed
    (``timed`` False) and nothing saved.
    schedule: options kept fixed (dict or "name=value ..."), e.g. ``{"threads": 2}``.
    budget: seconds per shape after which no new candidate starts (0: none);
    max_candidates: candidates per shape at most (0: all).
    **params: the model's parameters, as for ``Layer``.
    Returns one dict per shape: shape, default_ms, tuned_ms, schedule ("" = the default),
    timed, and candidates (schedule, ms, spread, error against the float64 reference,
    outcome, and on the GPU what ptxas reported: resources).
    """
    if isinstance(shapes, dict):
        shapes = [shapes]
    path = (db if db is not None else _tuning_db_path()) if save else ""
    if save and not path:
        raise ValueError("no tuning database: pass db=PATH (LINREC_TUNING_DB turns the "
                         "default off) or save=False")
    fixed = " ".join(_schedule_entries(schedule))
    return [_tune(model, _json.dumps(params), {k: int(v) for k, v in shape.items()}, target,
                  fixed, float(budget), int(max_candidates), float(min_seconds), path)
            for shape in shapes]

