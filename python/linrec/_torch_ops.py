"""linrec's recurrences as PyTorch custom ops (``torch.ops.linrec.<model>``).

One op per model of the conformance format that ``linrec.ops`` exposes, with a fixed schema:
the model's tensors by name (optional ones ``Tensor?``), its parameters as a JSON object and
the schedule of the CPU pipeline as text; it returns the model's outputs in order (o,
final_state[, final_z]). Each has

* a CPU implementation: the JIT-compiled kernels (compiled per shape on first use, cached for
  the process), on float32 contiguous copies of the inputs where they are not that already,
  writing outputs that PyTorch allocates;
* a fake implementation (output shapes and dtypes only), so ``torch.compile(fullgraph=True)``
  traces through it; linrec compiles a kernel per shape, and so specializes on shapes;
* autograd: the backward linrec derives from the layer, itself a custom op
  (``torch.ops.linrec.<model>_backward``) so that compiled graphs trace it too.

o comes back in v's dtype, states in float32 (as fla returns them); the kernels compute in
float32 whatever the input dtype (bfloat16, float16 and float64 inputs are converted).
CUDA tensors are refused with an error until the CUDA path lands.
"""

import json as _json

import torch as _torch

from . import _linrec

# model -> (required tensors, optional tensors, outputs). Float tensors get gradients;
# cu_seqlens is the only integer one.
MODELS = {
    "linear": (("q", "k", "v"), ("initial_state", "initial_z", "cu_seqlens"),
               ("o", "final_state", "final_z")),
    "lightning": (("q", "k", "v"), ("initial_state", "cu_seqlens"), ("o", "final_state")),
    "simple_gla": (("q", "k", "v", "g"), ("initial_state", "cu_seqlens"), ("o", "final_state")),
    "gla": (("q", "k", "v", "gk"), ("gv", "initial_state", "cu_seqlens"), ("o", "final_state")),
    "delta": (("q", "k", "v", "beta"), ("initial_state", "cu_seqlens"), ("o", "final_state")),
    "gated_delta": (("q", "k", "v", "g", "beta"), ("initial_state", "cu_seqlens"),
                    ("o", "final_state")),
    "kda": (("q", "k", "v", "gk", "beta"), ("initial_state", "cu_seqlens"), ("o", "final_state")),
}


def _names(model):
    required, optional, _ = MODELS[model]
    return required + optional


def _float_names(model):
    return tuple(n for n in _names(model) if n != "cu_seqlens")


def _output_specs(model, params, tensors):
    """(shape, dtype) of each output, from the inputs' shapes alone (fake tensors included)."""
    q, v = tensors["q"], tensors["v"]
    batch, tokens, heads, dk = q.shape
    dv = v.shape[-1]
    cu = tensors.get("cu_seqlens")
    sequences = cu.shape[0] - 1 if cu is not None else batch
    specs = [((batch, tokens, heads, dv), v.dtype),
             ((sequences, heads, dk, dv), _torch.float32)]
    if model == "linear":  # final_z only with normalize; an empty tensor otherwise
        normalize = _json.loads(params).get("normalize", False)
        specs.append(((sequences, heads, dk) if normalize else (0,), _torch.float32))
    return specs


def _check_cpu(model, tensors):
    for name, t in tensors.items():
        if t is not None and t.device.type != "cpu":
            raise NotImplementedError(
                f"linrec.{model}: '{name}' is on {t.device}; linrec's PyTorch ops run on CPU "
                "tensors only so far (the CUDA path is not built yet)")


def _kernel_input(name, t):
    """A tensor as the kernels read it: float32 (int32 offsets), C-contiguous, on the CPU."""
    if name == "cu_seqlens":
        if t.dtype not in (_torch.int32, _torch.int64):
            raise TypeError(f"cu_seqlens must be int32 or int64, got {t.dtype}")
        if t.dtype == _torch.int64 and t.numel() and int(t.max()) >= 2**31:
            raise ValueError("cu_seqlens holds offsets beyond int32")
        return t.to(_torch.int32).contiguous()
    if t.dtype is _torch.float32 and t.is_contiguous() and not t.requires_grad:
        return t  # read in place
    if not t.is_floating_point():
        raise TypeError(f"'{name}' must be a floating-point tensor, got {t.dtype}")
    return t.detach().to(_torch.float32).contiguous()


def _dispatch_needed(args):
    """Whether a call must go through PyTorch's dispatcher (the custom op): while compiling or
    tracing, under a dispatch mode, when autograd records, or for anything but plain CPU
    tensors. Otherwise (eager inference, the decode step) the implementation runs directly,
    the same code without the dispatcher's cost per call (docs/PyTorch.md)."""
    if _torch.compiler.is_compiling() or _torch._C._len_torch_dispatch_stack():
        return True
    grad = _torch.is_grad_enabled()
    for t in args:
        if t is None:
            continue
        if type(t) is not _torch.Tensor or t.device.type != "cpu" or (grad and t.requires_grad):
            return True
    return False


# Whether the ops refuse inputs outside their domain (InputChecks.h): linrec.ops.set_input_checks.
CHECK_INPUTS = [True]


def _forward(model, tensors, params, schedule, outputs, specs, target="cpu"):
    """Runs `model` on `tensors` (by name; None: absent) into PyTorch-allocated float32
    outputs; returns them in `outputs` order, each cast to its spec's dtype (an empty
    tensor for an output of shape (0,): one the model does not have)."""
    _check_cpu(model, tensors)
    inputs = {n: _kernel_input(n, t) for n, t in tensors.items() if t is not None}
    out = {name: _torch.empty(shape, dtype=_torch.float32)
           for name, (shape, _) in zip(outputs, specs) if tuple(shape) != (0,)}
    # NumPy views of the (CPU) tensors: the extension reads them without DLPack's per-tensor
    # Python protocol, the costliest part of a small call.
    _linrec.run_model(model, params, {n: t.numpy() for n, t in inputs.items()}, target,
                      schedule, out={n: t.numpy() for n, t in out.items()},
                      check=CHECK_INPUTS[0])
    result = []
    for name, (shape, dtype) in zip(outputs, specs):
        t = out.get(name, _torch.empty(shape, dtype=_torch.float32))
        result.append(t if t.dtype == dtype else t.to(dtype))
    return tuple(result)


def step_on_pool(model, tensors, params, schedule, pool, state_indices, inplace):
    """Runs `model` on states kept in `pool` ([P, H, K, V] float32): sequence n starts from
    slot state_indices[n], which then holds its final state: `pool` itself when `inplace`
    (nothing else is written), else an updated copy. Returns (o in float32, the pool).
    Not differentiable: the decode step of serving."""
    _check_cpu(model, {**tensors, "initial_state": pool, "state_indices": state_indices})
    if state_indices.dtype not in (_torch.int32, _torch.int64) or state_indices.dim() != 1:
        raise TypeError("ssm_state_indices must be a 1-D int32 or int64 tensor, got "
                        f"{state_indices.dtype} {list(state_indices.shape)}")
    if inplace:
        if pool.dtype is not _torch.float32 or not pool.is_contiguous():
            raise ValueError("inplace_final_state needs a contiguous float32 initial_state "
                             f"(the pool), got {pool.dtype}"
                             f"{'' if pool.is_contiguous() else ', non-contiguous'}")
    else:
        pool = pool.detach().to(_torch.float32).contiguous().clone()
    inputs = {n: _kernel_input(n, t) for n, t in tensors.items() if t is not None}
    inputs = {n: t.numpy() for n, t in inputs.items()}
    with _torch.no_grad():
        pool_view = pool.detach().numpy()
        inputs["initial_state"] = pool_view
        inputs["state_indices"] = state_indices.to(_torch.int32).contiguous().numpy()
        v = tensors["v"]
        o = _torch.empty(v.shape, dtype=_torch.float32)
        _linrec.run_model(model, params, inputs, "cpu", schedule,
                          out={"o": o.numpy(), "final_state": pool_view},
                          check=CHECK_INPUTS[0])
    return o, pool


def _backward(model, tensors, cotangents, params, schedule, target="cpu"):
    """The gradients of every float tensor of `tensors`, by name, in their dtypes."""
    _check_cpu(model, tensors)
    inputs = {n: _kernel_input(n, t) for n, t in tensors.items() if t is not None}
    given = {n: c.detach().to(_torch.float32).contiguous()
             for n, c in cotangents.items() if c is not None and c.numel()}
    out = {n: _torch.empty(t.shape, dtype=_torch.float32)
           for n, t in inputs.items() if t.is_floating_point()}
    _linrec.run_model_backward(model, params, {n: t.numpy() for n, t in inputs.items()},
                               {n: t.numpy() for n, t in given.items()}, target, schedule,
                               out={n: t.numpy() for n, t in out.items()},
                               check=CHECK_INPUTS[0])
    return {n: g.to(tensors[n].dtype) for n, g in out.items()}


def _schema(model):
    required, optional, outputs = MODELS[model]
    args = [f"Tensor {n}" for n in required] + [f"Tensor? {n}" for n in optional]
    return "(" + ", ".join(args + ["str params", "str schedule"]) + ") -> (" + \
        ", ".join("Tensor" for _ in outputs) + ")"


def _backward_schema(model):
    _, _, outputs = MODELS[model]
    args = _schema(model).split(") -> ")[0][1:]
    cot = ", ".join(f"Tensor? d_{n}" for n in outputs)
    grads = ", ".join("Tensor" for _ in _float_names(model))
    return f"({args}, {cot}) -> ({grads})"


def _register(model):
    names, outputs, floats = _names(model), MODELS[model][2], _float_names(model)

    def split(args):
        return dict(zip(names, args[:len(names)])), args[len(names)], args[len(names) + 1]

    def forward_impl(*args):
        tensors, params, schedule = split(args)
        return _forward(model, tensors, params, schedule, outputs,
                        _output_specs(model, params, tensors))

    def forward_fake(*args):
        tensors, params, _ = split(args)
        return tuple(tensors["q"].new_empty(shape, dtype=dtype)
                     for shape, dtype in _output_specs(model, params, tensors))

    def backward_impl(*args):
        tensors, params, schedule = split(args)
        cot = dict(zip(outputs, args[len(names) + 2:]))
        grads = _backward(model, tensors, cot, params, schedule)
        return tuple(grads.get(n, _torch.empty(0)) for n in floats)

    def backward_fake(*args):
        tensors, _, _ = split(args)
        return tuple(tensors[n].new_empty(tensors[n].shape) if tensors[n] is not None
                     else tensors["q"].new_empty(0) for n in floats)

    forward_op = _torch.library.custom_op(f"linrec::{model}", forward_impl, mutates_args=(),
                                          schema=_schema(model))
    forward_op.register_fake(forward_fake)
    backward_op = _torch.library.custom_op(f"linrec::{model}_backward", backward_impl,
                                           mutates_args=(), schema=_backward_schema(model))
    backward_op.register_fake(backward_fake)

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:len(names)])
        ctx.params, ctx.schedule = inputs[len(names)], inputs[len(names) + 1]

    def backward(ctx, *cotangents):
        saved = ctx.saved_tensors
        grads = backward_op(*saved, ctx.params, ctx.schedule, *cotangents)
        by_name = dict(zip(floats, grads))
        return tuple(by_name[n] if n in by_name and saved[i] is not None
                     and ctx.needs_input_grad[i] else None
                     for i, n in enumerate(names)) + (None, None)

    forward_op.register_autograd(backward, setup_context=setup_context)
    return forward_op, forward_impl


OPS, _IMPLS = {}, {}
for _model in MODELS:
    OPS[_model], _IMPLS[_model] = _register(_model)

# --- every model: linrec::layer ------------------------------------------------------------
# One op for any model of the conformance format (linrec.Layer's vocabulary): its tensors in
# SLOTS optional slots, named by `names` (comma-separated, one per slot used); its outputs
# (float32) padded with empty tensors to three. The output shapes of the fake implementation
# come from the layer linrec builds for the inputs' sizes (so compiled graphs specialize on
# shapes, as linrec's kernels do).
SLOTS, OUTPUTS = 16, 3


def _slot_names(names):
    return names.split(",") if names else []


def _layer_outputs(model, params, named):
    """(name, shape) of the model's outputs for tensors of these sizes (float ones as the
    kernels take them, float32), padded to OUTPUTS with ("", (0,))."""
    infos = {n: ("float32" if t.is_floating_point() else "int32", [int(d) for d in t.shape])
             for n, t in named.items()}
    outputs = [(n, tuple(shape)) for n, shape in _linrec.output_shapes(model, params, infos)]
    return outputs + [("", (0,))] * (OUTPUTS - len(outputs))


def _layer_split(args):
    model, params, names, schedule, target = args[:5]
    slots = args[5:5 + SLOTS]
    return model, params, names, schedule, target, dict(zip(_slot_names(names), slots)), slots


def _layer_impl(*args):
    model, params, _, schedule, target, named, _ = _layer_split(args)
    outputs = _layer_outputs(model, params, named)
    return _forward(model, named, params, schedule, [n for n, _ in outputs],
                    [(shape, _torch.float32) for _, shape in outputs], target)


def _layer_fake(*args):
    model, params, _, _, _, named, slots = _layer_split(args)
    like = next(t for t in slots if t is not None)
    return tuple(like.new_empty(shape, dtype=_torch.float32)
                 for _, shape in _layer_outputs(model, params, named))


def _layer_backward_impl(*args):
    model, params, names, schedule, target, named, _ = _layer_split(args)
    outputs = [n for n, _ in _layer_outputs(model, params, named)]
    grads = _backward(model, named, dict(zip(outputs, args[5 + SLOTS:])), params, schedule,
                      target)
    used = _slot_names(names)
    return tuple(grads.get(n, _torch.empty(0)) for n in used) + \
        tuple(_torch.empty(0) for _ in range(SLOTS - len(used)))


def _layer_backward_fake(*args):
    _, _, names, _, _, named, slots = _layer_split(args)
    like = next(t for t in slots if t is not None)
    out = [t.new_empty(t.shape) if t.is_floating_point() else like.new_empty(0)
           for t in named.values()]
    return tuple(out) + tuple(like.new_empty(0) for _ in range(SLOTS - len(out)))


_SLOT_ARGS = ", ".join(f"Tensor? t{i}" for i in range(SLOTS))
_layer_op = _torch.library.custom_op(
    "linrec::layer", _layer_impl, mutates_args=(),
    schema=f"(str model, str params, str names, str schedule, str target, {_SLOT_ARGS}) -> "
           f"({', '.join(['Tensor'] * OUTPUTS)})")
_layer_op.register_fake(_layer_fake)
_layer_backward_op = _torch.library.custom_op(
    "linrec::layer_backward", _layer_backward_impl, mutates_args=(),
    schema=f"(str model, str params, str names, str schedule, str target, {_SLOT_ARGS}, "
           f"{', '.join(f'Tensor? d{i}' for i in range(OUTPUTS))}) -> "
           f"({', '.join(['Tensor'] * SLOTS)})")
_layer_backward_op.register_fake(_layer_backward_fake)


def _layer_setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs[5:5 + SLOTS])
    ctx.strings = inputs[:5]


def _layer_backward(ctx, *cotangents):
    saved = ctx.saved_tensors
    grads = _layer_backward_op(*ctx.strings, *saved, *cotangents)
    return (None,) * 5 + tuple(
        g if t is not None and t.is_floating_point() and ctx.needs_input_grad[5 + i] else None
        for i, (t, g) in enumerate(zip(saved, grads)))


_layer_op.register_autograd(_layer_backward, setup_context=_layer_setup_context)


def run_layer(model, tensors, params_json, schedule="", target="cpu"):
    """Runs any model (``torch.ops.linrec.layer``) on tensors by name; returns its outputs
    by name (float32), differentiable through linrec's derived backward."""
    named = {n: t for n, t in tensors.items() if t is not None}
    if len(named) > SLOTS:
        raise ValueError(f"linrec.{model}: more than {SLOTS} tensors")
    slots = list(named.values()) + [None] * (SLOTS - len(named))
    run_op = _layer_op if _dispatch_needed(slots) else _layer_impl
    results = run_op(model, params_json, ",".join(named), schedule, target, *slots)
    sizes = tuple((n, t.is_floating_point(), tuple(int(d) for d in t.shape))
                  for n, t in named.items())
    return dict(zip(_output_names(model, params_json, sizes), results))


@_torch.compiler.assume_constant_result
def _output_names(model, params_json, sizes):
    """The model's output names (a constant for torch.compile: they depend on the model, its
    parameters and its inputs' names only)."""
    infos = {n: ("float32" if floating else "int32", list(shape))
             for n, floating, shape in sizes}
    return [n for n, _ in _linrec.output_shapes(model, params_json, infos)]


def params_text(params):
    """A JSON object of the model's parameters (numbers, booleans, strings, lists of numbers),
    written without the json module so that torch.compile traces it as constants."""
    def value(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, int):
            return str(x)
        if isinstance(x, float):
            x = float(x)
            if x != x or x in (float("inf"), float("-inf")):
                raise ValueError(f"parameter values must be finite, got {x}")
            return repr(x)
        if isinstance(x, str):
            return '"' + x + '"'
        return "[" + ",".join(value(e) for e in x) + "]"
    return "{" + ",".join(f'"{k}":{value(params[k])}' for k in sorted(params)) + "}"


def run(model, tensors, params, schedule=""):
    """Runs the custom op of `model` on tensors by name (absent optional ones None); returns
    its outputs by name."""
    required, optional, outputs = MODELS[model]
    unknown = set(tensors) - set(required + optional)
    if unknown:
        raise TypeError(f"linrec.{model}: unexpected tensors {sorted(unknown)}")
    args = [tensors.get(n) for n in required + optional]
    if _dispatch_needed(args):
        results = OPS[model](*args, params_text(params), schedule)
    else:
        results = _IMPLS[model](*args, params_text(params), schedule)
    return dict(zip(outputs, results))
