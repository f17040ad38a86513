"""Cross-entropy of a linear head without the full logits: rows in chunks, gradients computed on the way.

Per chunk of rows: logits (C, V) in the matmul dtype, their log-softmax in float32, and the gradient of the mean loss
with respect to the chunk's logits, which goes straight into d hidden (C, D) and a float32 d weight (V, D)
accumulator. Backward only scales them by the incoming gradient, so the head costs the same three matmuls as
the plain path while holding one chunk of logits instead of (N, V) in the matmul dtype, float32, and its gradient.
"""
from __future__ import annotations

import torch

# Rows per chunk: about this many float32 logits at a time (256 MiB); a small vocabulary gets one chunk.
CHUNK_ELEMENTS = 1 << 26


def chunk_rows(n_rows: int, vocab: int) -> int:
    return max(1, min(n_rows, CHUNK_ELEMENTS // max(1, vocab)))


class LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, ignore_index: int,
                rows: int, need_grads: bool) -> torch.Tensor:
        N, V = hidden.shape[0], weight.shape[0]
        acc = torch.float64 if hidden.dtype == torch.float64 else torch.float32
        w = weight.to(hidden.dtype)  # the matmul dtype (autocast's); the weight's own dtype for its gradient
        valid = labels != ignore_index  # (N,)
        inv_count = 1.0 / valid.sum().to(acc)  # mean over valid rows, 0/0 = NaN as F.cross_entropy; stays on device
        total = torch.zeros((), dtype=acc, device=hidden.device)
        d_hidden = torch.empty_like(hidden) if need_grads else None
        d_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device) if need_grads else None
        for start in range(0, N, rows):
            h = hidden[start:start + rows]  # (C, D)
            ok, y = valid[start:start + rows], labels[start:start + rows].clamp(0, V - 1)  # ignored rows: masked
            logp = torch.log_softmax(h @ w.T, dim=-1, dtype=acc)  # (C, V), widened inside the softmax
            total += torch.where(ok, -logp.gather(1, y[:, None])[:, 0], 0).sum()
            if need_grads:
                # d loss / d logits = (softmax - onehot) * scale, scale = 1/count on valid rows and 0 on ignored
                # ones; the row scale is applied to the (C, D) sides of the matmuls, not to the (C, V) logits.
                d_logits = logp.exp_()
                d_logits[torch.arange(len(y), device=y.device), y] -= 1
                d_logits = d_logits.to(hidden.dtype)
                scale = (ok.to(acc) * inv_count)[:, None]  # (C, 1)
                d_hidden[start:start + rows] = (d_logits @ w).to(acc).mul_(scale).to(hidden.dtype)
                d_weight += (d_logits.T @ (h * scale.to(hidden.dtype))).to(acc)
        if need_grads:
            ctx.save_for_backward(d_hidden, d_weight.to(weight.dtype))
        return total * inv_count

    @staticmethod
    def backward(ctx, d_loss: torch.Tensor):
        d_hidden, d_weight = ctx.saved_tensors
        dh = d_hidden * d_loss.to(d_hidden.dtype) if ctx.needs_input_grad[0] else None
        dw = d_weight * d_loss.to(d_weight.dtype) if ctx.needs_input_grad[1] else None
        return dh, dw, None, None, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100,
                         rows: int | None = None) -> torch.Tensor:
    """Mean cross-entropy of hidden (N, D) @ weight (V, D).T against labels (N,), ignoring `ignore_index`; the same
    value and gradients as `naive_linear_cross_entropy`. Under autocast the matmuls run in its dtype, as nn.Linear's
    would; the loss is float32 (float64 for float64 inputs). rows: rows per chunk (default: ~2^26 logits)."""
    if hidden.ndim != 2 or weight.ndim != 2 or hidden.shape[1] != weight.shape[1] or labels.shape != hidden.shape[:1]:
        raise ValueError(f"linear_cross_entropy takes hidden (N, D), weight (V, D), labels (N,); got "
                         f"{tuple(hidden.shape)}, {tuple(weight.shape)}, {tuple(labels.shape)}")
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        hidden = hidden.to(torch.get_autocast_dtype(device))  # the weight is cast inside, its gradient kept wide
    elif weight.dtype != hidden.dtype:
        raise ValueError(f"hidden is {hidden.dtype} and weight {weight.dtype}; outside autocast they must match")
    rows = rows or chunk_rows(hidden.shape[0], weight.shape[0])
    need_grads = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    with torch.autocast(device, enabled=False):
        return LinearCrossEntropy.apply(hidden, weight, labels, ignore_index, rows, need_grads)
