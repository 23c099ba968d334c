"""Runs flash-linear-attention's own op tests on linrec's CPU kernels.

A pytest plugin: with fla installed (``fla-core`` from PyPI; its Triton kernels are not used),
from a checkout of fla's repository::

    python -m pytest -p linrec.fla_compat tests/ops/test_gla.py

``patch_fla()`` (which the plugin calls before any test module is imported) replaces fla's
public ops of the families linrec implements (``fla.ops.<family>.chunk_*`` and
``fused_recurrent_*``, and the same names in ``fla.ops``) by ``linrec.ops``'s, and makes fla's
test device the CPU. The tests' naive references and tolerances stay fla's.
"""

import importlib

from . import ops as _ops

FAMILIES = {
    "linear_attn": ("chunk_linear_attn", "fused_chunk_linear_attn",
                    "fused_recurrent_linear_attn"),
    "simple_gla": ("chunk_simple_gla", "fused_chunk_simple_gla", "fused_recurrent_simple_gla"),
    "gla": ("chunk_gla", "fused_recurrent_gla"),
    "delta_rule": ("chunk_delta_rule", "fused_recurrent_delta_rule"),
    "gated_delta_rule": ("chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule"),
    "kda": ("chunk_kda", "fused_recurrent_kda"),
    "lightning_attn": ("chunk_lightning_attn", "fused_recurrent_lightning_attn"),
}


def patch_fla():
    """Points fla's ops of linrec's families at linrec.ops, and fla's test device at the CPU.
    Returns the names replaced."""
    import torch

    utils = importlib.import_module("fla.utils")
    utils.device = "cpu"
    utils.device_torch_lib = torch.cpu  # the tests' fixtures synchronize through it
    replaced = []
    for family, names in FAMILIES.items():
        # the package, fla.ops, and the submodules that define them (tests import from both)
        modules = [importlib.import_module(f"fla.ops.{family}"),
                   importlib.import_module("fla.ops")]
        for submodule in ("chunk", "fused_chunk", "fused_recurrent"):
            try:
                modules.append(importlib.import_module(f"fla.ops.{family}.{submodule}"))
            except ImportError:
                pass
        for name in names:
            for module in modules:
                if hasattr(module, name):
                    setattr(module, name, getattr(_ops, name))
                    replaced.append(f"{module.__name__}.{name}")
    return replaced


def pytest_load_initial_conftests(early_config, parser, args):  # noqa: ARG001 - pytest's hook
    # before fla's conftest imports fla.utils' device names
    patch_fla()
