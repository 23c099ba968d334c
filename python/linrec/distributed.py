"""Sequence parallelism over torch.distributed: a layer's forward with its tokens split over
the ranks of a process group (LASP-2).

Every rank holds a contiguous part of the tokens. It reduces its part to a summary per state
whose size does not depend on the part's length (the part's transition and the state it
adds: linrec derives both from the layer), one all-gather exchanges the summaries, and each
rank runs its part from the state the summaries before it combine to. Layers with sliding
windows, delays or block-start reads (the hybrids) also exchange the last tokens each part
needs from the parts before it (one more all-gather of a fixed size).

    import torch.distributed as dist
    dist.init_process_group("gloo")            # torchrun sets the rank and world size
    layer = linrec.Layer("gated_delta", scale=0.125)
    part = linrec.distributed.token_part(T, dist.get_rank(), dist.get_world_size())
    out = layer(process_group=dist.group.WORLD, q=q[:, part], k=k[:, part], ...)

Each rank passes its part of the per-token inputs (``[B, T_r, ...]``; varlen: ``[1, T_r,
...]``; any sizes, none allowed, in rank order) and the whole of the others (weights,
initial states, the global ``cu_seqlens``: sequences may cross parts). It gets back its
part's outputs: ``o`` of its tokens, and the states of the sequences it holds as they are
after its part (a sequence's final state on the rank where it ends); a rank without tokens
gets an empty dict. With ``gather=True``
rank 0 gets the whole outputs a single-process call gives, the others an empty dict.

The collectives are torch.distributed's: gloo on the CPU; NCCL groups exchange through CUDA
tensors on the current device. A rank that fails makes the others fail (every exchange
carries each rank's status); a rank that dies makes them fail after the group's timeout
(``init_process_group(timeout=...)``).
"""

import json as _json

from ._linrec import run_sequence_parallel as _run_sequence_parallel

__all__ = ["run", "token_part"]


def token_part(tokens, rank, ranks):
    """The slice of ``tokens`` tokens that rank ``rank`` of ``ranks`` holds in an even split:
    tokens // ranks each, one more on the first tokens % ranks ranks (a rank may get none)."""
    base, extra = divmod(tokens, ranks)
    begin = rank * base + min(rank, extra)
    return slice(begin, begin + base + (1 if rank < extra else 0))


def _collectives(group):
    import torch
    import torch.distributed as dist

    rank = dist.get_rank(group)
    size = dist.get_world_size(group)
    device = torch.device("cpu")
    if dist.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    root = dist.get_global_rank(group, 0) if group is not None and group != dist.group.WORLD \
        else 0

    def all_gather(block):
        local = torch.frombuffer(bytearray(block), dtype=torch.uint8) if block \
            else torch.empty(0, dtype=torch.uint8)
        local = local.to(device)
        parts = [torch.empty_like(local) for _ in range(size)]
        dist.all_gather(parts, local, group=group)
        return b"".join(bytes(p.cpu().numpy().tobytes()) for p in parts)

    def gather_to_root(block):
        blocks = [None] * size if rank == 0 else None
        dist.gather_object(bytes(block), blocks, dst=root, group=group)
        return blocks

    return all_gather, gather_to_root, rank, size


def run(layer, inputs, *, process_group=None, gather=False):
    """``layer`` (a linrec.Layer) on this rank's part of ``inputs`` over ``process_group``
    (torch.distributed's default group when None). Returns the outputs by name (see the
    module's doc), and keeps the phases' seconds and the bytes this rank sent in
    ``layer.last_sequence_parallel`` (compile, summary, communication, combine, resume,
    gather, summary_bytes, halo_bytes)."""
    import torch.distributed as dist

    group = process_group if process_group is not None else dist.group.WORLD
    all_gather, gather_to_root, rank, size = _collectives(group)
    outputs, stats = _run_sequence_parallel(
        layer.model, _json.dumps(layer.params), inputs, all_gather, gather_to_root, rank, size,
        layer.target, layer.schedule, gather=gather, check=layer.check)
    layer.last_sequence_parallel = stats
    return outputs
