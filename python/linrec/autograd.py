"""PyTorch autograd for linrec layers (CPU tensors).

``linrec.autograd.apply(layer, **tensors)`` runs a ``linrec.Layer`` on torch tensors and
returns its outputs as a dict of tensors that PyTorch differentiates: the backward is the one
linrec derives from the layer (``Layer.backward``), so a model trains through linrec's kernels::

    import torch, linrec, linrec.autograd
    gla = linrec.Layer("gla", scale=0.25)
    out = linrec.autograd.apply(gla, q=q, k=k, v=v, gk=gk)   # torch tensors [B, T, H, D]
    out["o"].pow(2).sum().backward()                         # q.grad, k.grad, v.grad, gk.grad

It runs ``torch.ops.linrec.layer``, a ``torch.library`` custom op for every model (with a fake
implementation and its backward as ``torch.ops.linrec.layer_backward``), so
``torch.compile(fullgraph=True)`` traces it. The kernels compute in float32; outputs come back
in the dtype of the first float input. Nothing of the forward is kept for the backward but its
inputs: the derived backward recomputes the states it needs. fla's functional API is
``linrec.ops``.
"""

import torch as _torch

from . import _torch_ops


def apply(layer, **tensors):
    """Runs ``layer`` on named torch tensors; returns its outputs by name, differentiable."""
    outputs = _torch_ops.run_layer(layer.model, tensors, layer._params_json, layer.schedule,
                                   layer.target)
    dtype = next((t.dtype for t in tensors.values()
                  if isinstance(t, _torch.Tensor) and t.is_floating_point()), _torch.float32)
    return {name: o.to(dtype) for name, o in outputs.items()}
