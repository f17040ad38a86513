"""SwiGLU's activation silu(gate) * up: the definition (naive.py, the tests' float64 reference) and fused Triton
forward and backward passes (triton.py) for the MLP's joint gate_up output."""
from kernels.swiglu.naive import swiglu_reference

__all__ = ["swiglu_reference"]
