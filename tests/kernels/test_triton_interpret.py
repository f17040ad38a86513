"""The Triton backend on small shapes (cases in the `*_cases.py` files beside this one): natively when a CUDA GPU
is present, else under the Triton interpreter on CPU, which is how CI runs the Triton kernels.

The interpreter has to be switched on before triton.language is first imported (its library functions, tl.sum and
the like, are built at import), and earlier test modules import it through lightning. So on CPU the cases run in a
fresh process with TRITON_INTERPRET=1; its output comes back in the failure message.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import torch

CASES = sorted(str(p) for p in Path(__file__).parent.glob("*_cases.py"))  # every Triton case file
ROOT = Path(__file__).resolve().parents[2]

if torch.cuda.is_available():
    # the same cases, compiled for the GPU: every public name of every case file (tests and fixtures)
    for _case_file in CASES:
        _cases = importlib.import_module("tests.kernels." + Path(_case_file).stem)
        globals().update({name: fn for name, fn in vars(_cases).items() if not name.startswith("_")})
else:

    def test_triton_kernels_under_the_interpreter() -> None:
        env = dict(os.environ, TRITON_INTERPRET="1")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CASES], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600)
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        assert proc.returncode == 0, \
            f"interpreter cases failed ({summary}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        assert " passed" in summary and "failed" not in summary, summary
