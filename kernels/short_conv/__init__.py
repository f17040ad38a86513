"""The causal depthwise short convolution + SiLU of the delta-rule mixers' q/k/v: the eager definition (naive.py,
the tests' float64 reference) and a fused Triton forward + backward (triton.py)."""
from kernels.short_conv.naive import causal_conv, document_positions, short_conv_reference

__all__ = ["causal_conv", "document_positions", "short_conv_reference"]
