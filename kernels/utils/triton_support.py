"""When the Triton backend can run, and the small helpers every Triton path shares.

Triton kernels run on CUDA tensors, or on CPU tensors under the Triton interpreter (`TRITON_INTERPRET=1`, set
before the first Triton path is imported), which is how CI tests them. The Triton modules are imported lazily, on
the first call that resolves to the Triton backend, so importing `kernels` never imports Triton and the interpreter
switch still works when a test module sets it.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import torch

MIN_BLOCK = 16
"""tl.dot needs every matrix dimension >= 16, so head dims and chunks below it are padded (masked) up to 16."""


def triton_importable() -> bool:
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def check_triton_device(op: str, x: torch.Tensor) -> None:
    """Raise ValueError unless the Triton kernels can run on x's device (CUDA, or CPU under the interpreter)."""
    if x.device.type == "cuda" or (x.device.type == "cpu" and interpreting()):
        return
    raise ValueError(f"{op}: the 'triton' backend needs CUDA tensors (or TRITON_INTERPRET=1 on CPU), got "
                     f"{x.device}; use backend 'auto' or 'torch'")


@functools.cache
def _multiprocessors(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def multiprocessors(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device, 1 elsewhere (the interpreter). Cached by device index: torch's
    get_device_properties costs host time on every call."""
    if device.type != "cuda":
        return 1
    return _multiprocessors(device.index if device.index is not None else torch.cuda.current_device())


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) for the host's launch grids: plain Python, since Triton 3.6's `triton.cdiv` is a constexpr function
    whose every host call unwraps its arguments (~2 us; about 20 calls in each KDA forward+backward)."""
    return -(-a // b)


def block(n: int) -> int:
    """The power-of-two block (>= MIN_BLOCK) that covers a dimension of size n."""
    return max(MIN_BLOCK, 1 << (n - 1).bit_length())


def dot_precision(dtype: torch.dtype) -> str:
    """tl.dot precision for fp32 operands: exact fp32 for fp32 inputs, tf32 (fp16-level mantissa, far below the
    bf16/fp16 input rounding) when the inputs were half precision."""
    return "ieee" if dtype in (torch.float32, torch.float64) else "tf32"
