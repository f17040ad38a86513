"""Decayed linear attention (linear, lightning): naive reference, chunked and recurrent forms."""
from kernels.simple_gla.api import chunk_simple_gla, fused_recurrent_simple_gla
from kernels.simple_gla.naive import naive_recurrent_simple_gla

__all__ = ["chunk_simple_gla", "fused_recurrent_simple_gla", "naive_recurrent_simple_gla"]
