"""Cross-entropy of a linear head (the LM loss): a chunked form that never holds the full logits; its reference."""
from kernels.cross_entropy.chunk import linear_cross_entropy
from kernels.cross_entropy.naive import naive_linear_cross_entropy

__all__ = ["linear_cross_entropy", "naive_linear_cross_entropy"]
