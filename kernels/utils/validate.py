"""Argument checks run before any compute, so a bad call fails with one clear line instead of a shape error deep
inside a matmul (or, worse, silently wrong output from broadcasting).

Every message starts with the public function's name and says what was expected and what was given.
"""
from __future__ import annotations

import itertools
import numbers

import torch

from kernels.utils.host_offsets import host_offsets

GATE_NONE, GATE_HEAD, GATE_CHANNEL = "none", "head", "channel"


def check_inputs(
    op: str,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    g: torch.Tensor | None = None,
    gate: str = GATE_NONE,
    g_optional: bool = False,
    beta: torch.Tensor | None = None,
    needs_beta: bool = False,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    cu_seqlens: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> None:
    """Raise ValueError naming the first problem found with the arguments of `op`.

    gate: GATE_NONE (g must be None), GATE_HEAD (g is (B, T, H)) or GATE_CHANNEL (g is (B, T, H, K));
    g_optional: g may be None even though the op has a gate; needs_beta: beta (B, T, H) is required.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_float_tensor(op, name, x)
    if q.dim() != 4:
        raise ValueError(f"{op}: q must be 4-D (B, T, H, K), got shape {tuple(q.shape)}")
    B, T, H, K = q.shape
    if T == 0:
        raise ValueError(f"{op}: q has T=0 tokens; need at least one")
    _check_shape(op, "k", k, (B, T, H, K), "(B, T, H, K)")
    if v.dim() != 4 or tuple(v.shape[:3]) != (B, T, H):
        raise ValueError(f"{op}: v must have shape (B, T, H, V) = ({B}, {T}, {H}, V), got {tuple(v.shape)}")
    V = v.shape[-1]
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise ValueError(f"{op}: {name} has dtype {x.dtype} but q has {q.dtype}; q, k, v must share one dtype")

    if gate == GATE_NONE:
        if g is not None:
            raise ValueError(f"{op}: takes no gate g, got a tensor of shape {tuple(g.shape)}")
    elif g is None:
        if not g_optional:
            raise ValueError(f"{op}: g (log decay) is required, got None")
    else:
        _check_float_tensor(op, "g", g)
        expected, letters = ((B, T, H), "(B, T, H)") if gate == GATE_HEAD else ((B, T, H, K), "(B, T, H, K)")
        _check_shape(op, "g", g, expected, letters)

    if needs_beta:
        if beta is None:
            raise ValueError(f"{op}: beta (B, T, H) is required, got None")
        _check_float_tensor(op, "beta", beta)
        _check_shape(op, "beta", beta, (B, T, H), "(B, T, H)")

    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
        raise ValueError(f"{op}: scale must be a real number or None, got {scale!r}")

    N = B
    if cu_seqlens is not None:
        N = _check_cu_seqlens(op, cu_seqlens, B, T)
    if initial_state is not None:
        _check_float_tensor(op, "initial_state", initial_state)
        what = "N = number of sequences in cu_seqlens" if cu_seqlens is not None else "N = B"
        _check_shape(op, "initial_state", initial_state, (N, H, K, V), f"(N, H, K, V) with {what}")

    for name, x in (("k", k), ("v", v), ("g", g), ("beta", beta), ("initial_state", initial_state),
                    ("cu_seqlens", cu_seqlens)):
        if x is not None and x.device != q.device:
            raise ValueError(f"{op}: {name} is on {x.device} but q is on {q.device}; all tensors must share a device")

    if chunk_size is not None and not _is_power_of_two(chunk_size):
        raise ValueError(f"{op}: chunk_size must be a positive power of 2 (1, 2, 4, ..., 64, ...), got {chunk_size!r}")


def _is_power_of_two(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1 and n & (n - 1) == 0


def _check_float_tensor(op: str, name: str, x: object) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{op}: {name} must be a torch.Tensor, got {type(x).__name__}")  # noqa: TRY004
    if not x.is_floating_point():
        raise ValueError(f"{op}: {name} must be a floating-point tensor, got dtype {x.dtype}")


def _check_shape(op: str, name: str, x: torch.Tensor, expected: tuple[int, ...], letters: str) -> None:
    if tuple(x.shape) != tuple(expected):
        raise ValueError(f"{op}: {name} must have shape {letters} = {tuple(expected)}, got {tuple(x.shape)}")


def _check_cu_seqlens(op: str, cu_seqlens: object, B: int, T: int) -> int:
    """Check FLA's packed-sequence boundaries [0, ..., T]; return the number of sequences."""
    if not isinstance(cu_seqlens, torch.Tensor):
        raise ValueError(  # noqa: TRY004 -- house rule: argument errors are ValueError
            f"{op}: cu_seqlens must be a 1-D integer torch.Tensor, got {type(cu_seqlens).__name__}")
    if cu_seqlens.dim() != 1 or cu_seqlens.dtype.is_floating_point or cu_seqlens.dtype.is_complex \
            or cu_seqlens.dtype == torch.bool:
        raise ValueError(f"{op}: cu_seqlens must be a 1-D integer tensor, got shape {tuple(cu_seqlens.shape)} "
                         f"dtype {cu_seqlens.dtype}")
    if B != 1:
        raise ValueError(f"{op}: with cu_seqlens the sequences are packed along T, so B must be 1, got B={B}")
    bounds = list(host_offsets(cu_seqlens))
    if len(bounds) < 2:
        raise ValueError(f"{op}: cu_seqlens needs at least 2 entries [0, ..., T], got {bounds}")
    if bounds[0] != 0:
        raise ValueError(f"{op}: cu_seqlens must start at 0, got {bounds[0]}")
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"{op}: cu_seqlens must be strictly increasing (no empty sequences), got {_short(bounds)}")
    if bounds[-1] != T:
        raise ValueError(f"{op}: cu_seqlens must end at T={T}, got {bounds[-1]}")
    return len(bounds) - 1


def _short(values: list[int], limit: int = 12) -> str:
    return str(values) if len(values) <= limit else f"[{', '.join(map(str, values[:limit]))}, ...]"
