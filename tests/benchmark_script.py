"""Load a script of benchmarks/ as a module by its path, for tests of its helpers (benchmarks/ is not a package, and
its kernels.py would shadow the kernels package on sys.path)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py (name may hold a folder: "kernel_dev/launch_variants"), executed as a fresh module named
    bench_<name> (the folder's slash an underscore)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name.replace('/', '_')}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
