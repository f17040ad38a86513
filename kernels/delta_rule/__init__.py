"""PROVISIONAL public API over the naive reference (to be replaced by chunk.py / fused_recurrent.py)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.delta_rule.naive import naive_recurrent_gated_delta_rule


def _run(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False, cu_seqlens=None,
         use_qk_l2norm_in_kernel=False, **_):
    if use_qk_l2norm_in_kernel:
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    if cu_seqlens is None:
        o, s = naive_recurrent_gated_delta_rule(q, k, v, g, beta, scale, initial_state, True)
        return o, (s.float() if output_final_state else None)
    outs, states = [], []
    for i in range(len(cu_seqlens) - 1):
        a, b = int(cu_seqlens[i]), int(cu_seqlens[i + 1])
        h0 = None if initial_state is None else initial_state[i : i + 1]
        o, s = naive_recurrent_gated_delta_rule(q[:, a:b], k[:, a:b], v[:, a:b], None if g is None else g[:, a:b],
                                                beta[:, a:b], scale, h0, True)
        outs.append(o)
        states.append(s)
    return torch.cat(outs, 1), (torch.cat(states).float() if output_final_state else None)


def chunk_delta_rule(q, k, v, beta, **kw):
    return _run(q, k, v, None, beta, **kw)


def chunk_gated_delta_rule(q, k, v, g, beta, **kw):
    return _run(q, k, v, g, beta, **kw)


def chunk_kda(q, k, v, g, beta, **kw):
    return _run(q, k, v, g, beta, **kw)


fused_recurrent_delta_rule = chunk_delta_rule
fused_recurrent_gated_delta_rule = chunk_gated_delta_rule
fused_recurrent_kda = chunk_kda
