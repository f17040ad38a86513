"""Rotary position embedding at explicit positions: the eager definition (naive.py, the tests' float64 reference
and the model's unfused path) and a fused Triton forward + backward (triton.py)."""
from kernels.rope.naive import inverse_frequencies, rope_reference

__all__ = ["inverse_frequencies", "rope_reference"]
