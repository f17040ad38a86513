"""SwiGLU feed-forward block (Shazeer 2020), as in Llama / Qwen / Kimi.

The activation and the down projection are one autograd op: it keeps gate_up's output for the backward and
recomputes silu(gate) * up there (elementwise), instead of keeping silu(gate) and the product as well, which halves
what the block keeps per token (benchmarks/saved_activations.py; record 2026-12-07_f3b632d_saved-activations_cpu.md).
With `fused = True` (model.fused_mlp) and the Triton kernel backend, the elementwise parts run as one fused kernel
each way (kernels/swiglu/triton.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from kernels import resolve_backend


def default_mlp_hidden(d_model: int) -> int:
    """8/3 * d_model rounded up to a multiple of 64: keeps SwiGLU's parameter count equal to a 4x GELU MLP."""
    return -(-int(8 * d_model / 3) // 64) * 64


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)
        self.down._is_residual_out = True  # scaled at init (see lm.init_weights)
        self.fused = False  # HybridLM sets it from model.fused_mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        gate_up = self.gate_up(x)
        fused = self.fused and gate_up.dtype != torch.float64 and resolve_backend(gate_up.device) == "triton"
        return swiglu_down(gate_up, self.down.weight, fused)


def swiglu_down_reference(gate_up: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up, then the bias-free down projection, through autograd: swiglu_down's reference."""
    gate, up = gate_up.chunk(2, dim=-1)
    return F.linear(F.silu(gate) * up, weight.to(gate_up.dtype))


class _SwiGLUDown(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate_up: torch.Tensor, weight: torch.Tensor, fused: bool) -> torch.Tensor:
        ctx.save_for_backward(gate_up, weight)
        ctx.fused = fused
        if fused:
            from kernels.swiglu.triton import swiglu_forward

            return F.linear(swiglu_forward(gate_up), weight.to(gate_up.dtype))
        return swiglu_down_reference(gate_up, weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: torch.Tensor):
        gate_up, weight = ctx.saved_tensors
        dy = dy.to(gate_up.dtype)
        dh = dy @ weight.to(gate_up.dtype)
        if ctx.fused:
            from kernels.swiglu.triton import swiglu_backward

            dgate_up, h = swiglu_backward(gate_up, dh)  # h recomputed in the same launch
        else:
            gate, up = gate_up.chunk(2, dim=-1)
            silu = F.silu(gate)
            h = silu * up  # the forward's product, recomputed
            # in gate_up's dtype, as autograd's own silu and mul backward: transients no wider than the activations
            dgate = torch.ops.aten.silu_backward(dh * up, gate)
            dgate_up = torch.cat([dgate, dh * silu], dim=-1)
        dweight = dy.flatten(0, -2).transpose(0, 1) @ h.flatten(0, -2)
        return dgate_up, dweight.to(weight.dtype), None


def swiglu_down(gate_up: torch.Tensor, weight: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """(..., 2 hidden) gate_up output and the down weight (D, hidden) -> (..., D) = down(silu(gate) * up), in
    gate_up's dtype; the backward keeps gate_up only. fused: the activation's passes as Triton kernels."""
    return _SwiGLUDown.apply(gate_up, weight, fused)
