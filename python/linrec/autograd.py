"""PyTorch autograd for linrec layers (CPU tensors).

``linrec.autograd.apply(layer, **tensors)`` runs a ``linrec.Layer`` on torch tensors and
returns its outputs as a dict of tensors that PyTorch differentiates: the backward is the one
linrec derives from the layer (``Layer.backward``), so a model trains through linrec's kernels::

    import torch, linrec, linrec.autograd
    gla = linrec.Layer("gla", scale=0.25)
    out = linrec.autograd.apply(gla, q=q, k=k, v=v, gk=gk)   # torch tensors [B, T, H, D]
    out["o"].pow(2).sum().backward()                         # q.grad, k.grad, v.grad, gk.grad

Tensors go through NumPy (float32 on the compiled targets; float64 inputs get float64
outputs and gradients back, computed in float32). Nothing of the forward is kept for the
backward but its inputs: the derived backward recomputes the states it needs. For fla's
functional API as ``torch.library`` custom ops (``torch.compile``-able), see ``linrec.ops``.
"""

import numpy as _np
import torch as _torch


def _numpy(tensor):
    return tensor.detach().cpu().contiguous().numpy()


class _LayerFunction(_torch.autograd.Function):
    @staticmethod
    def forward(ctx, layer, names, output_names, *tensors):
        outputs = layer(**{name: _numpy(t) for name, t in zip(names, tensors)})
        output_names.extend(outputs)  # for apply(): Function.apply returns a tuple
        ctx.layer, ctx.names, ctx.output_names = layer, names, list(outputs)
        ctx.save_for_backward(*tensors)
        dtype = next((t.dtype for t in tensors if t.is_floating_point()), _torch.float32)
        return tuple(_torch.from_numpy(_np.ascontiguousarray(outputs[n])).to(dtype)
                     for n in ctx.output_names)

    @staticmethod
    def backward(ctx, *cotangents):
        tensors = ctx.saved_tensors
        inputs = {name: _numpy(t) for name, t in zip(ctx.names, tensors)}
        given = {name: _numpy(c).astype(_np.float32)
                 for name, c in zip(ctx.output_names, cotangents) if c is not None}
        gradients = ctx.layer.backward(given, **inputs)
        result = [None, None, None]
        for name, t in zip(ctx.names, tensors):
            g = gradients.get(name)
            needed = t.is_floating_point() and t.requires_grad
            result.append(_torch.from_numpy(_np.ascontiguousarray(g)).to(t.dtype)
                          if needed and g is not None else None)
        return tuple(result)


def apply(layer, **tensors):
    """Runs ``layer`` on named torch tensors; returns its outputs by name, differentiable."""
    names, output_names = tuple(tensors), []
    outputs = _LayerFunction.apply(layer, names, output_names, *tensors.values())
    return dict(zip(output_names, outputs))
