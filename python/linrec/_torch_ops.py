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
    if not t.is_floating_point():
        raise TypeError(f"'{name}' must be a floating-point tensor, got {t.dtype}")
    return t.detach().to(_torch.float32).contiguous()


def _forward(model, tensors, params, schedule):
    _check_cpu(model, tensors)
    inputs = {n: _kernel_input(n, t) for n, t in tensors.items() if t is not None}
    outputs = MODELS[model][2]
    specs = _output_specs(model, params, tensors)
    out = {name: _torch.empty(shape, dtype=_torch.float32)
           for name, (shape, _) in zip(outputs, specs) if shape != (0,)}
    _linrec.run_model(model, params, inputs, "cpu", schedule, out=out)
    result = []
    for name, (shape, dtype) in zip(outputs, specs):
        t = out.get(name, _torch.empty(shape, dtype=_torch.float32))
        result.append(t if t.dtype == dtype else t.to(dtype))
    return tuple(result)


def _backward(model, tensors, cotangents, params, schedule):
    _check_cpu(model, tensors)
    inputs = {n: _kernel_input(n, t) for n, t in tensors.items() if t is not None}
    given = {n: c.detach().to(_torch.float32).contiguous()
             for n, c in cotangents.items() if c is not None and c.numel()}
    out = {n: _torch.empty(inputs[n].shape, dtype=_torch.float32)
           for n in _float_names(model) if n in inputs}
    _linrec.run_model_backward(model, params, inputs, given, "cpu", schedule, out=out)
    return tuple(out[n].to(tensors[n].dtype) if n in out else _torch.empty(0)
                 for n in _float_names(model))


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
        return _forward(model, tensors, params, schedule)

    def forward_fake(*args):
        tensors, params, _ = split(args)
        return tuple(tensors["q"].new_empty(shape, dtype=dtype)
                     for shape, dtype in _output_specs(model, params, tensors))

    def backward_impl(*args):
        tensors, params, schedule = split(args)
        cot = dict(zip(outputs, args[len(names) + 2:]))
        return _backward(model, tensors, cot, params, schedule)

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
    return forward_op


OPS = {model: _register(model) for model in MODELS}


def params_text(params):
    """A JSON object of the model's parameters (numbers, booleans, strings, lists of numbers),
    written without the json module so that torch.compile traces it as constants."""
    def value(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, (int, float)):
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
    results = OPS[model](*args, params_text(params), schedule)
    return dict(zip(outputs, results))
