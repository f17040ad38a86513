"""Without a CUDA GPU the Triton kernels' tests run under the Triton interpreter. It has to be switched on before
triton.language is first imported (lightning imports it), so here, before any test module: with it on, the CPU
paths are unchanged and the Triton backend runs on CPU tensors."""
from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
