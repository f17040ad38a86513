"""RMSNorm and its gated form (the linear mixers' output norm): the float64-safe eager reference (naive.py) and a
fused Triton forward + backward (triton.py)."""
from kernels.rms_norm.naive import ACTS, gated_rms_norm_reference, rms_norm_reference

__all__ = ["ACTS", "gated_rms_norm_reference", "rms_norm_reference"]
