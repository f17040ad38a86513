"""Fused SwiGLU activation passes on the Triton backend, for hybrid/mlp.py's activation + down projection op:

    forward   h = silu(g) u                                     one launch (eager: silu, mul)
    backward  h = silu(g) u,  dg = dh u s (1 + g (1 - s)),  du = dh silu(g)   (s = sigmoid(g))
              one launch writing h (for the down weight's gradient) and d gate_up in its joint layout
              (eager: silu, mul, mul, silu_backward, mul, cat)

g and u are the two halves of the joint gate_up rows (read with their row stride). Float32 arithmetic, outputs in
gate_up's dtype. `kernels/swiglu/naive.py` is the definition and the tests' float64 reference.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.utils.triton_support import cdiv

BR, BH = 16, 128
"""Rows x hidden columns per program."""


@triton.jit
def _tile(GU, R, HID, S, BR: tl.constexpr, BH: tl.constexpr):
    """This program's (rows, cols, mask, g, u, sigmoid(g)), float32."""
    rows = tl.program_id(0).to(tl.int64) * BR + tl.arange(0, BR)
    cols = tl.program_id(1) * BH + tl.arange(0, BH)
    m = (rows < R)[:, None] & (cols < HID)[None, :]
    src = GU + rows[:, None] * S + cols[None, :]
    g = tl.load(src, mask=m, other=0.0).to(tl.float32)
    u = tl.load(src + HID, mask=m, other=0.0).to(tl.float32)
    return rows, cols, m, g, u, 1.0 / (1.0 + tl.exp(-g))


@triton.jit
def _swiglu_fwd(GU, H, R, HID, S, BR: tl.constexpr, BH: tl.constexpr):
    rows, cols, m, g, u, s = _tile(GU, R, HID, S, BR, BH)
    tl.store(H + rows[:, None] * HID + cols[None, :], (g * s * u).to(H.dtype.element_ty), mask=m)


@triton.jit
def _swiglu_bwd(GU, DH, DGU, H, R, HID, S, SDH, BR: tl.constexpr, BH: tl.constexpr):
    rows, cols, m, g, u, s = _tile(GU, R, HID, S, BR, BH)
    dh = tl.load(DH + rows[:, None] * SDH + cols[None, :], mask=m, other=0.0).to(tl.float32)
    silu = g * s
    tl.store(H + rows[:, None] * HID + cols[None, :], (silu * u).to(H.dtype.element_ty), mask=m)  # = the forward's
    dst = DGU + rows[:, None] * (2 * HID) + cols[None, :]
    tl.store(dst, (dh * u * s * (1.0 + g * (1.0 - s))).to(DGU.dtype.element_ty), mask=m)
    tl.store(dst + HID, (dh * silu).to(DGU.dtype.element_ty), mask=m)


def _rows(t: torch.Tensor) -> torch.Tensor:
    flat = t.reshape(-1, t.shape[-1])
    return flat if flat.stride(-1) == 1 else flat.contiguous()


def swiglu_forward(gate_up: torch.Tensor) -> torch.Tensor:
    """(..., 2 hidden) -> h = silu(gate) * up (..., hidden) in gate_up's dtype; no autograd."""
    hid = gate_up.shape[-1] // 2
    gu = _rows(gate_up)
    h = torch.empty(*gate_up.shape[:-1], hid, dtype=gate_up.dtype, device=gate_up.device)
    if h.numel():
        _swiglu_fwd[(cdiv(gu.shape[0], BR), cdiv(hid, BH))](gu, h, gu.shape[0], hid, gu.stride(0), BR=BR, BH=BH,
                                                              num_warps=4)
    return h


def swiglu_backward(gate_up: torch.Tensor, dh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """d gate_up (..., 2 hidden) from dh (..., hidden), and h recomputed; both in gate_up's dtype; no autograd."""
    hid = gate_up.shape[-1] // 2
    gu, dh2 = _rows(gate_up), _rows(dh)
    dgu = torch.empty(gate_up.shape, dtype=gate_up.dtype, device=gate_up.device)
    h = torch.empty(*gate_up.shape[:-1], hid, dtype=gate_up.dtype, device=gate_up.device)
    if h.numel():
        _swiglu_bwd[(cdiv(gu.shape[0], BR), cdiv(hid, BH))](gu, dh2, dgu, h, gu.shape[0], hid, gu.stride(0),
                                                              dh2.stride(0), BR=BR, BH=BH, num_warps=4)
    return dgu, h
