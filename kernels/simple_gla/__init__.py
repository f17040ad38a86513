"""PROVISIONAL public API over the naive reference (to be replaced by chunk.py / fused_recurrent.py)."""
from __future__ import annotations

import torch

from kernels.simple_gla.naive import naive_recurrent_simple_gla


def chunk_simple_gla(q, k, v, g=None, scale=None, initial_state=None, output_final_state=False, cu_seqlens=None, **_):
    if cu_seqlens is None:
        o, s = naive_recurrent_simple_gla(q, k, v, g, scale, initial_state, True)
        return o, (s.float() if output_final_state else None)
    outs, states = [], []
    for i in range(len(cu_seqlens) - 1):
        a, b = int(cu_seqlens[i]), int(cu_seqlens[i + 1])
        h0 = None if initial_state is None else initial_state[i : i + 1]
        o, s = naive_recurrent_simple_gla(q[:, a:b], k[:, a:b], v[:, a:b], None if g is None else g[:, a:b], scale, h0, True)
        outs.append(o)
        states.append(s)
    return torch.cat(outs, 1), (torch.cat(states).float() if output_final_state else None)


fused_recurrent_simple_gla = chunk_simple_gla
