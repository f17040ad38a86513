"""What every benchmark run carries: device, library versions, date and commit; its dated record in
benchmarks/results/ (`--record`); and benchmarks/kernels.py as a module for the scripts that reuse its inputs and
timers.

BENCHMARKS.md is never written here: it holds the current numbers only, and a person replaces a table there from a
record (benchmarks/results/README.md)."""
from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.util
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


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
    for name in ("triton", "lightning", "fla", "transformers"):
        with contextlib.suppress(Exception):  # absent or broken optional package: just not reported
            env[name] = __import__(name).__version__
    if torch.cuda.is_available():
        env["device"] = torch.cuda.get_device_name(0)
        env["gpus"] = str(torch.cuda.device_count())
    else:
        env["device"] = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return env


def device_slug(device: str) -> str:
    """The record name's device: 'NVIDIA H100 80GB HBM3' -> 'h100', 'NVIDIA A100-SXM4-80GB' -> 'a100',
    'NVIDIA GeForce RTX 4090' -> '4090', anything on the CPU -> 'cpu'."""
    if device.startswith("CPU"):
        return "cpu"
    words = [w for w in device.split() if w.lower() not in ("nvidia", "geforce", "rtx", "tesla", "amd", "radeon")]
    slug = re.sub(r"[^a-z0-9]", "", words[0].split("-")[0].lower()) if words else ""
    return slug or "gpu"


def record_arg(parser) -> None:
    """--record [DIR] on a benchmark's parser: write the run's dated record to DIR (default benchmarks/results/)."""
    parser.add_argument("--record", nargs="?", const=RESULTS, type=Path, metavar="DIR",
                        help="write this run's dated record <date>_<commit>_<topic>_<device>.md to DIR (default: "
                             "benchmarks/results/) and print its path; BENCHMARKS.md is left to a person to update")


def write_record(topic: str, title: str, table: str, notes: str = "", folder: Path = RESULTS,
                 command: str | None = None, env: dict[str, str] | None = None) -> Path:
    """Write `<date>_<commit>_<topic>_<device>.md` into folder (a name already taken gets -2, -3, ...; an existing
    record is never overwritten) with the header benchmarks/results/README.md describes, print and return its path.

    topic: the lowercase slug every run of this benchmark shares ('kernels', 'train-throughput', ...); title: the
    record's heading before its (date, commit, device); command: what ran (default: this process's command line)."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", topic):
        raise ValueError(f"record topic {topic!r} must be a lowercase slug such as 'train-throughput'")
    env = env or environment()
    command = command or "python " + shlex.join(sys.argv)
    device = env["device"] + (f", {env['gpus']} GPU{'s' * (env['gpus'] != '1')}" if "gpus" in env else "")
    versions = ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("date", "commit", "device", "gpus"))
    slug = device_slug(env["device"])
    text = (f"# {title} ({env['date']}, {env['commit']}, {slug.upper() if slug != 'cpu' else 'CPU'})\n\n"
            f"- date: {env['date']}\n- commit: {env['commit']}\n- device: {device}\n- versions: {versions}\n"
            f"- command: `{command}`\n\n{table.strip()}\n" + (f"\n{notes.strip()}\n" if notes.strip() else ""))
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{env['date']}_{env['commit']}_{topic}_{slug}"
    path, n = folder / f"{stem}.md", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)  # never a half-written record
    print(f"record: {path}")
    return path


def failure_cell(e: BaseException) -> str:
    """A table cell for a row that raised: 'OOM' (the CUDA cache emptied, so the next row starts clean) or
    'fails: <type>: <first line>'."""
    import torch

    if isinstance(e, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
        return "OOM"
    return f"fails: {type(e).__name__}: {str(e).splitlines()[0][:60] if str(e) else ''}"


def adamw(params, device: str, lr: float = 1e-4):
    """AdamW as the benchmarks step it: fused on CUDA."""
    import torch

    return torch.optim.AdamW(params, lr=lr, fused=device == "cuda")


def training_step(loss_of, opt, device: str):
    """step(batch): forward under bf16 autocast on CUDA (fp32 on CPU, as train.py), backward, optimizer step."""
    import torch

    def step(batch) -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = loss_of(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def timed_steps(step, batches: list, warmup: int, device: str) -> tuple[float, float | None]:
    """(seconds per step over `batches`, peak GiB allocated or None on CPU): `warmup` untimed steps first (Triton
    compilation, allocator, optimizer state), CUDA-synchronised around the timed ones. The peak counts everything
    live: weights, gradients, optimizer state and activations."""
    import time

    import torch

    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for i in range(warmup):
        step(batches[i % len(batches)])
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / len(batches)
    return seconds, torch.cuda.max_memory_allocated() / 2**30 if cuda else None


FUSED_SWITCHES = {"fused norms": "model.fused_norm=true", "fused convs": "model.fused_conv=true",
                  "fused rope": "model.fused_rope=true", "fused gates": "model.fused_gates=true",
                  "fused mlp": "model.fused_mlp=true"}
"""The fused-kernel switches the step benchmarks turn on one at a time, then all together."""

INTERRUPTED = "interrupted (SIGINT) here: the rest was not measured"


def markdown_table(head: list[str], rows: Iterable[list[str]]) -> str:
    """A markdown table of head and rows, returned whole."""
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def stream_table(head: list[str], rows: Iterable[list[str]]) -> str:
    """A markdown table of head and rows; each row is printed as it arrives, so a long GPU run shows its progress.
    Interrupted (SIGINT, e.g. `timeout -s INT`), it ends with a row saying so and returns the rows measured, so the
    caller can still write its record."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    try:
        for row in rows:
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
    except KeyboardInterrupt:
        lines.append("| " + " | ".join([INTERRUPTED] + [""] * (len(head) - 1)) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)
