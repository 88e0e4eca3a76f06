"""bfloat16 linear layers whose weights are packed once for oneDNN, for the CPU decode loop.

On the CPU a bfloat16 ``F.linear`` runs oneDNN, which reorders the weight into its blocked layout at
every call. A decode step calls every projection once with the same weights, so the fast decoder packs
them once (``torch.ops.mkldnn._reorder_linear_weight``, then ``_linear_pointwise``: what inductor does
for frozen CPU models) and calls the packed kernel; the hf engine asks for it once a chunk has decoded
``PACK_AFTER_STEPS`` steps, since packing costs 2-6 packed decode steps (8 rows, one thread: 1.7 CPU
ms at the tiny shape, 15 at the 30M one, 63 at SmolLM-135M's, 367 at Qwen2.5-0.5B's). The outputs are
bit for bit ``F.linear``'s (the same oneDNN kernel, the reorder moved out of the loop;
``tests/models/test_packed_linear.py``). 8 rows x 96 tokens, one thread, packing included: 1.00 -> 0.81
CPU s at 30M, 3.67 -> 3.16 at 135M (``docs/performance.md``, "Attention at decode").

Only a plain ``nn.Linear`` in bfloat16 on a CPU whose oneDNN runs bfloat16, with no forward hooks, is
packed: LoRA layers, hooked modules (their hooks must run) and other dtypes (float32's packed kernels
round differently from ``F.linear``'s) are called as they are. The packed weight is a snapshot: a weight
update needs a new one, which the engine gets by building a decoder (unpacked) per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Projection = Callable[[Tensor], Tensor]


def packable(module: torch.nn.Module) -> bool:
    """Whether ``module`` is a hook-free bfloat16 ``nn.Linear`` on a CPU where packing is exact."""
    if type(module) is not torch.nn.Linear or module.weight.dtype != torch.bfloat16:
        return False
    if module.weight.device.type != "cpu" or has_hooks(module):
        return False
    mkldnn = torch.ops.mkldnn
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(mkldnn, "_reorder_linear_weight")
        and hasattr(mkldnn, "_linear_pointwise")
        and bool(mkldnn._is_mkldnn_bf16_supported())
    )


class PackedLinear:
    """A linear forward with its weight (out, in) reordered once (bias: (out,) or None)."""

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        with torch.no_grad():
            self.weight = torch.ops.mkldnn._reorder_linear_weight(weight.detach())
        self.bias = None if bias is None else bias.detach()

    @classmethod
    def of(cls, linear: torch.nn.Linear) -> PackedLinear:
        return cls(linear.weight, linear.bias)

    def __call__(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")


class PackedSplit:
    """Linear layers that read the same input (attention's q, k and v; a gated MLP's gate and up) as one
    packed matmul over their stacked weights, its output split back into theirs: one oneDNN call instead
    of several, each output bit for bit its layer's own (``tests/models/test_packed_linear.py``). A decode
    step of 8 rows saves ~14 us a call left out (q, k, v: 59 -> 29 us at the tiny shape, 77 -> 48 at
    SmolLM-135M's)."""

    def __init__(self, linears: Sequence[torch.nn.Linear]) -> None:
        with torch.no_grad():
            weight = torch.cat([m.weight for m in linears])
            bias = None if linears[0].bias is None else torch.cat([m.bias for m in linears])
        self.packed = PackedLinear(weight, bias)
        self.sizes = [m.out_features for m in linears]

    def __call__(self, x: Tensor) -> tuple[Tensor, ...]:
        return self.packed(x).split_with_sizes(self.sizes, dim=-1)  # not Tensor.split's Python wrapper


class Separate:
    """Projections of the same input called one by one (``joint_projection``'s fallback)."""

    def __init__(self, parts: Sequence[Projection]) -> None:
        self.parts = tuple(parts)

    def __call__(self, x: Tensor) -> tuple[Tensor, ...]:
        return tuple(part(x) for part in self.parts)


def projection(module: torch.nn.Module, pack: bool = True) -> Projection:
    """``module`` packed when ``pack`` and it is ``packable``, else the module itself."""
    if pack and packable(module):
        return PackedLinear.of(module)  # type: ignore[arg-type]  # packable checked it is an nn.Linear
    return module


def joint_projection(modules: Sequence[torch.nn.Module], pack: bool = True) -> PackedSplit | Separate:
    """Layers ``modules`` that read the same input, as one ``PackedSplit`` when ``pack`` and all are
    ``packable`` with the same input size and all or none have a bias, else ``Separate`` (each packed
    alone where it can be: a LoRA q_proj leaves k_proj and v_proj packed)."""
    if pack and _joinable(modules):
        return PackedSplit(modules)  # type: ignore[arg-type]  # _joinable checked they are nn.Linear
    return Separate([projection(m, pack) for m in modules])


def _joinable(modules: Sequence[torch.nn.Module]) -> bool:
    if not all(packable(m) for m in modules):
        return False
    linears: list[torch.nn.Linear] = list(modules)  # type: ignore[arg-type]
    return len({m.in_features for m in linears}) == 1 and len({m.bias is None for m in linears}) == 1


# transformers' MLPs whose forward is down_proj(act_fn(gate_proj(x)) * up_proj(x))
GATED_MLPS = {"LlamaMLP", "MistralMLP", "Qwen2MLP", "Qwen3MLP"}
# activation modules whose forward is F.silu(x) (transformers' and PyTorch's)
SILU = {"SiLUActivation", "SiLU"}


class PackedGatedMLP:
    """``down(act(gate(x)) * up(x))``, the gated MLP's forward, through packed projections (gate and up
    as one ``PackedSplit``)."""

    def __init__(self, mlp: torch.nn.Module) -> None:
        self.gate_up = PackedSplit([mlp.gate_proj, mlp.up_proj])  # type: ignore[list-item]
        self.down = PackedLinear.of(mlp.down_proj)  # type: ignore[arg-type]
        act: torch.nn.Module = mlp.act_fn  # type: ignore[assignment]
        silu = type(act).__name__ in SILU and not has_hooks(act)
        self.act: Projection = F.silu if silu else act  # F.silu: the module's forward, without its call

    def __call__(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x)
        return self.down(self.act(gate) * up)


def mlp_projection(mlp: torch.nn.Module, pack: bool = True) -> Projection:
    """A gated MLP of ``GATED_MLPS`` through packed projections when gate and up can be one ``PackedSplit``
    (``_joinable``), down is ``packable`` and the MLP has no hooks of its own, else the module itself."""
    parts = [getattr(mlp, name, None) for name in ("gate_proj", "up_proj", "down_proj")]
    if (
        pack
        and type(mlp).__name__ in GATED_MLPS
        and not has_hooks(mlp)
        and all(isinstance(m, torch.nn.Module) for m in parts)
        and _joinable(parts[:2])  # type: ignore[arg-type]  # checked just above
        and packable(parts[2])  # type: ignore[arg-type]
    ):
        return PackedGatedMLP(mlp)
    return mlp


def has_hooks(module: torch.nn.Module) -> bool:
    """Whether forward hooks of ``module`` or global ones would run when it is called (then it must be
    called as it is)."""
    from torch.nn.modules import module as nn_module

    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or nn_module._global_forward_hooks
        or nn_module._global_forward_pre_hooks
    )
