"""PyTorch modules for the 16 models of the conformance format.

Each module is one model of ``linrec.models()`` with its parameters (the conformance format's
names and meanings, ``linrec.model_info(name)``; a parameter not given takes the default
listed there, a scale ``1/sqrt(dk)`` of the query's head dim) and, where the model has
weights, those as ``nn.Parameter``s: the Hedgehog and LoLCATs feature maps (``Wq``, ``Wk``,
``bq``, ``bk``), LoLCATs' window logits and MoM's router. ``forward`` takes the model's other
tensors (``[B, T, H, D]``, by name or in the model's order) and returns ``(o, state)``, the
state None, a tensor, or a tuple (``(final_state, final_z)`` with a normalizer,
``(final_state, final_state_shared)`` for MoM's shared memory), as fla's layers do; ``step``
is the decode path: the next tokens from a carried state, on the token scan::

    gdn = linrec.nn.GatedDeltaNet()                  # scale 1/sqrt(dk)
    o, state = gdn(q, k, v, g, beta)                 # prefill
    o1, state = gdn.step(state, q1, k1, v1, g1, b1)  # one more token

Everything runs through ``torch.ops.linrec.layer`` (linrec's kernels forward, the backward
linrec derives from the model, ``torch.compile``-able); o comes back in q's dtype.
"""


import torch as _torch

from . import _linrec, _torch_ops

__all__ = ["Recurrence", "Linear", "Lightning", "SimpleGLA", "GLA", "DeltaNet",
           "GatedDeltaNet", "KDA", "LigerGLA", "LigerHGRN2", "Hedgehog", "TransNormerNorm",
           "TransNormerDiag", "LigerAttention", "LoLCATs", "MixtureOfMemories",
           "TensorAttention"]

_STATES = ("initial_state", "initial_z", "initial_state_shared")


def _default(parameter):
    text = parameter["default"]
    if text is None or text.startswith("1/sqrt"):
        return None  # given, or resolved from the inputs' head dim
    if parameter["kind"] == "bool":
        return text == "true"
    if parameter["kind"] == "integer":
        return int(text)
    if parameter["kind"] == "number":
        return float(text)
    return text


class Recurrence(_torch.nn.Module):
    """The model ``model`` of the conformance format (``linrec.model_info(model)``).

    params: the model's parameters by name; missing ones take linrec.nn's defaults.
    schedule: options of linrec's CPU pipeline (``linrec.schedule_options("cpu")``) as a dict.
    target: "cpu" (the kernels), "gpu-schedule" or "reference" (float64), on CPU tensors.
    """

    weights = ()  # the model's inputs this module holds as nn.Parameters

    def __init__(self, model, *, schedule=None, target="cpu", **params):
        super().__init__()
        info = _linrec.model_info(model)
        self.model, self.target = model, target
        self.info = info
        known = {p["name"]: p for p in info["parameters"]}
        unknown = [n for n in params if n not in known]
        if unknown:
            raise TypeError(f"{model} has no parameter '{unknown[0]}' "
                            f"(it has: {', '.join(known) or 'none'})")
        self.params = {}
        for name, p in known.items():
            value = params.get(name, _default(p))
            if value is None and not (p["default"] or "").startswith("1/sqrt"):
                raise TypeError(f"{model} needs the parameter '{name}' ({p['meaning']})")
            if p["kind"] == "choice" and value not in p["choices"]:
                raise ValueError(f"{model}.{name} must be one of {p['choices']}, got {value!r}")
            self.params[name] = value
        self.schedule = " ".join(
            f"{k.replace('_', '-')}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in (schedule or {}).items())
        self.input_names = [t["name"] for t in info["inputs"]]

    def _params_json(self, tensors):
        params = dict(self.params)
        for name, value in self.params.items():
            if value is None:  # 1/sqrt(the head dim of the query it scales)
                params[name] = tensors["q_attn" if name == "attn_scale" else "q"].shape[-1] ** -0.5
        return _torch_ops.params_text(params)

    def _tensors(self, args, kwargs):
        held = [n for n in self.input_names if n in self.weights]
        free = [n for n in self.input_names if n not in self.weights]
        if len(args) > len(free):
            raise TypeError(f"{self.model} takes at most {len(free)} tensors, got {len(args)}")
        tensors = dict(zip(free, args))
        for name, t in kwargs.items():
            if name not in free:
                raise TypeError(f"{self.model} has no input '{name}' "
                                f"(it takes: {', '.join(free)})")
            if name in tensors:
                raise TypeError(f"{self.model}: '{name}' given twice")
            tensors[name] = t
        for name in held:
            weight = getattr(self, name)
            if weight is not None:
                tensors[name] = weight
        return {n: t for n, t in tensors.items() if t is not None}

    def _run(self, tensors, schedule):
        outputs = _torch_ops.run_layer(self.model, tensors, self._params_json(tensors),
                                       schedule, self.target)
        dtype = tensors["q"].dtype if tensors["q"].is_floating_point() else _torch.float32
        o = outputs.pop("o").to(dtype)
        states = tuple(outputs.values())
        return o, (None if not states else states[0] if len(states) == 1 else states)

    def forward(self, *args, **kwargs):
        """(o, state) of the model on its tensors (by name, or positionally in the model's
        order without the ones the module holds)."""
        return self._run(self._tensors(args, kwargs), self.schedule)

    def step(self, state, *args, **kwargs):
        """The decode path: (o, state) of the next tokens from `state` (what forward or step
        returned), on linrec's token scan."""
        tensors = self._tensors(args, kwargs)
        if state is not None:
            names = [n for n in _STATES if n in self.input_names]
            if not names:
                raise TypeError(f"{self.model} takes no state: it has no decode step")
            parts = state if isinstance(state, tuple) else (state,)
            tensors.update(zip(names, parts))
        return self._run(tensors, (self.schedule + " sequential=true").strip())

    def extra_repr(self):
        return f"{self.model}, " + ", ".join(f"{k}={v!r}" for k, v in self.params.items())


def _family(model, doc):
    class Family(Recurrence):
        def __init__(self, *, schedule=None, target="cpu", **params):
            super().__init__(model, schedule=schedule, target=target, **params)

    Family.__doc__ = doc
    return Family


Linear = _family("linear", "Linear attention (``linear``): feature map, optional normalizer.")
SimpleGLA = _family("simple_gla", "Simple GLA (``simple_gla``): a scalar log-decay g.")
GLA = _family("gla", "GLA (``gla``): a key-vector log-decay gk (and optionally gv).")
DeltaNet = _family("delta", "DeltaNet (``delta``): the delta rule with β.")
GatedDeltaNet = _family("gated_delta", "Gated DeltaNet (``gated_delta``): g and β.")
KDA = _family("kda", "KDA (``kda``): a key-vector log-decay gk and the delta rule.")
LigerGLA = _family("liger_gla", "Liger GLA (``liger_gla``): softmax maps, gate from graw.")
LigerHGRN2 = _family("liger_hgrn2", "Liger HGRN2 (``liger_hgrn2``): the key from the gate.")
TransNormerNorm = _family("transnormer_norm", "TransNormer NormAttention (``transnormer_norm``).")
TransNormerDiag = _family("transnormer_diag", "TransNormer DiagAttention (``transnormer_diag``).")
LigerAttention = _family("liger_attention", "Liger Attention (``liger_attention``).")
TensorAttention = _family("tensor_attention", "Tensor attention (``tensor_attention``).")


class Lightning(Recurrence):
    """Lightning Attention (``lightning``): a constant log-decay per head, ``log_decay``
    (one per head), or fla's rule −(8/H)(1 − layer_idx/num_layers)·h from ``heads``,
    ``layer_idx`` and ``num_layers``."""

    def __init__(self, *, log_decay=None, heads=None, layer_idx=None, num_layers=None,
                 schedule=None, target="cpu", **params):
        if log_decay is None:
            if None in (heads, layer_idx, num_layers):
                raise TypeError("lightning needs log_decay, or heads, layer_idx and num_layers")
            log_decay = [-(8 / heads * (1 - layer_idx / num_layers)) * h for h in range(heads)]
        super().__init__("lightning", schedule=schedule, target=target,
                         log_decay=list(log_decay), **params)


def _feature_map_weights(module, heads, head_dim, features, bias):
    scale = head_dim ** -0.5
    module.Wq = _torch.nn.Parameter(_torch.randn(heads, head_dim, features) * scale)
    module.Wk = _torch.nn.Parameter(_torch.randn(heads, head_dim, features) * scale)
    module.bq = _torch.nn.Parameter(_torch.zeros(heads, features)) if bias else None
    module.bk = _torch.nn.Parameter(_torch.zeros(heads, features)) if bias else None


class Hedgehog(Recurrence):
    """Hedgehog (``hedgehog``): normalized linear attention with learned feature maps; the
    maps' weights ``Wq``, ``Wk`` ``[heads, head_dim, features]`` (and biases ``bq``, ``bk``
    with ``bias``) are parameters of the module."""

    weights = ("Wq", "Wk", "bq", "bk")

    def __init__(self, heads, head_dim, features, *, bias=False, schedule=None,
                 target="cpu", **params):
        super().__init__("hedgehog", schedule=schedule, target=target, **params)
        _feature_map_weights(self, heads, head_dim, features, bias)


class LoLCATs(Recurrence):
    """LoLCATs (``lolcats``): a softmax window and Hedgehog linear attention outside it; the
    feature maps' ``Wq``, ``Wk`` and the per-head ``window_logit`` are parameters."""

    weights = ("Wq", "Wk", "window_logit")

    def __init__(self, heads, head_dim, features, *, schedule=None, target="cpu", **params):
        super().__init__("lolcats", schedule=schedule, target=target, **params)
        _feature_map_weights(self, heads, head_dim, features, bias=False)
        self.window_logit = _torch.nn.Parameter(_torch.zeros(heads))


class MixtureOfMemories(Recurrence):
    """Mixture of Memories (``mom``): ``memories`` routed Gated DeltaNet memories (and a
    shared one with ``shared``). With ``router_dim`` the module holds the router, a linear map
    of a ``router_input`` [B, T, router_dim] to the memories' logits; without it, forward
    takes ``router_logits``."""

    def __init__(self, memories, *, router_dim=None, schedule=None, target="cpu", **params):
        super().__init__("mom", schedule=schedule, target=target, **params)
        self.memories = memories
        self.router = None if router_dim is None else \
            _torch.nn.Linear(router_dim, memories, bias=False)

    def _tensors(self, args, kwargs):
        router_input = kwargs.pop("router_input", None)
        tensors = super()._tensors(args, kwargs)
        if self.router is not None:
            if router_input is None:
                raise TypeError("mom with a router takes router_input [B, T, router_dim]")
            tensors["router_logits"] = self.router(router_input)
        return tensors
