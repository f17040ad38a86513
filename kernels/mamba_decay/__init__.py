"""The Mamba-style log decay of the gated delta-rule mixers: the definition (naive.py, the tests' float64 reference)
and a fused Triton forward + backward (triton.py)."""
from kernels.mamba_decay.naive import mamba_decay_reference

__all__ = ["mamba_decay_reference"]
