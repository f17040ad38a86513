"""Launch choices of the Triton chunk path: one frozen config passed down from the public call, never module state.

The defaults are the measured winners (BENCHMARKS.md, 'Kernels'; the A/B is `benchmarks/kernel_dev/launch_variants.py`,
whose variants are configs of this class). No choice changes a result beyond rounding.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LaunchConfig:
    """How the Triton chunk path launches its kernels; pass one as `launch=` to a public `chunk_*` function."""

    split_wu: bool = True
    """U0 and W by their own launch after the intra-chunk kernel (`delta_rule/intra_wy_u0_w.py`), not in its pass 2:
    frees that kernel's registers; the faster forward on an H200."""
    maxnreg: int | None = None
    """Register cap of the intra-chunk forward kernel on CUDA (ignored by the interpreter); None: the compiler's."""
    wu_stages: int = 1
    """Software-pipeline stages of the U0 / W kernel's block loops."""
    recompute: bool = False
    """The backward recomputes the intra-chunk tensors (U0, W, Ainv, decayed keys and queries, QK) from q, k, v, g and
    beta instead of keeping them from the forward (as FLA does): about 4/5 less kept by the kernel, for one more
    intra-chunk forward in the backward. Bitwise the same gradients."""
    split_output: bool | None = None
    """o by a chunk-parallel launch after the state walk (`common/chunk_output.py`): True / False always / never;
    None: when the walks fit one per SM (`common/chunk_state.py: split_output`)."""


DEFAULT_LAUNCH = LaunchConfig()
