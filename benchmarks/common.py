"""What every benchmark row carries: device, library versions, date and commit; appending to BENCHMARKS.md; and
benchmarks/kernels.py as a module for the scripts that reuse its inputs and timers."""
from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.util
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def kernel_benchmark() -> ModuleType:
    """benchmarks/kernels.py (inputs, our / FLA calls, the CUDA-event timer), loaded by path: as `import kernels` its
    name would be the kernels package's."""
    spec = importlib.util.spec_from_file_location("bench_kernels", ROOT / "benchmarks" / "kernels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def commit() -> str:
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment() -> dict[str, str]:
    import torch

    env = {"date": datetime.date.today().isoformat(), "commit": commit(), "python": platform.python_version(),
           "torch": torch.__version__}
    for name in ("triton", "lightning", "fla"):
        with contextlib.suppress(Exception):  # absent or broken optional package: just not reported
            env[name] = __import__(name).__version__
    if torch.cuda.is_available():
        env["device"] = torch.cuda.get_device_name(0)
        env["gpus"] = str(torch.cuda.device_count())
    else:
        env["device"] = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return env


def append_section(title: str, table: str, notes: str = "", path: Path = ROOT / "BENCHMARKS.md") -> None:
    env = environment()
    header = ", ".join(f"{k} {v}" for k, v in env.items())
    block = f"\n## {title}\n\n{header}\n\n{table}\n" + (f"\n{notes}\n" if notes else "")
    if not path.exists():
        path.write_text("# Benchmarks\n\nEvery section was written by a script in benchmarks/ and says where and when "
                        "it ran.\n")
    with path.open("a") as f:
        f.write(block)


def stream_table(head: list[str], rows: Iterable[list[str]]) -> str:
    """A markdown table of head and rows; each row is printed as it arrives, so a long GPU run shows its progress."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)
