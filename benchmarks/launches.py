"""Kernel launches per training step, counted on the CPU: what the fused kernels take off a step's launch bill.

    python benchmarks/launches.py [--recipes kda_3to1 full_attention] [--size small] [--batch 2] [--record [DIR]]

At size=small a step is host-bound (record 2026-12-06_6199d4e_step-profile_h200.md: 2,487 CUDA launches in a
kda_3to1 step, wall 1.7x the GPU's busy time), so launches are a cost of their own. This script counts them where no
GPU is needed: one forward + backward of the model train.py builds, on packed documents under bf16 autocast, on the
Triton backend (interpreted), with every PyTorch operator that would launch a kernel counted through a dispatch
mode (views and allocations launch none) and every Triton grid launch counted at the interpreter. CPU autocast
inserts its casts where CUDA autocast does for matmuls; the optimizer step is not counted (fused AdamW: a few
launches). The counts do not depend on the batch size; they do on the number of documents and layers.
Settings: model.fused_norm, model.fused_conv, model.fused_rope and model.fused_gates off, each alone, all.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import FUSED_SWITCHES, markdown_table as table, record_arg, write_record  # noqa: E402

SETTINGS = {"eager": [], **{name: [switch] for name, switch in FUSED_SWITCHES.items()},
            "all": list(FUSED_SWITCHES.values())}
NO_LAUNCH = {"empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided", "lift_fresh", "detach",
             "_local_scalar_dense", "set_", "resize_", "record_stream", "_unsafe_view"}
"""Operators that allocate or only touch metadata: no kernel."""


class LaunchCounter:
    """Counts kernel-launching PyTorch operators (by name) and Triton grid launches (by kernel) while active."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self
        self.torch_ops: collections.Counter = collections.Counter()
        self.triton: collections.Counter = collections.Counter()
        self.inside_triton = False  # the interpreter's own copies of a kernel's arguments are not launches

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func.overloadpacket.__name__
                if not (func.is_view or name in NO_LAUNCH or counter.inside_triton):
                    counter.torch_ops[name] += 1
                return func(*args, **(kwargs or {}))

        self.mode = Mode()

    def __enter__(self):
        from triton.runtime import interpreter

        self._call = call = interpreter.GridExecutor.__call__
        def counted(executor, *args, **kwargs):
            self.triton[executor.fn.__name__] += 1
            self.inside_triton = True
            try:
                return call(executor, *args, **kwargs)
            finally:
                self.inside_triton = False

        interpreter.GridExecutor.__call__ = counted
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        from triton.runtime import interpreter

        self.mode.__exit__(*exc)
        interpreter.GridExecutor.__call__ = self._call

    def total(self) -> int:
        return sum(self.torch_ops.values()) + sum(self.triton.values())


def count_step(recipe: str, size: str, batch: int, overrides: list[str]) -> tuple[LaunchCounter, int]:
    """(the launches of one packed forward + backward, the number of documents in the batch)."""
    import torch

    import kernels
    from data.build import build_datamodule
    from run.build import build_module
    from run.load import load_run_config

    cfg = load_run_config([f"recipe={recipe}", f"size={size}", f"data.batch_size={batch}", "trainer.accelerator=cpu",
                           "data.num_workers=0", *overrides])
    dm = build_datamodule(cfg.data)
    dm.setup("fit")
    b = dm.consume(next(iter(dm.train_dataloader())))
    torch.manual_seed(0)
    model = build_module(cfg, dm.vocab_size).model
    kernels.set_backend("triton")
    try:
        with LaunchCounter() as counter, torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model.loss(b["input_ids"], b["labels"], b.get("cu_seqlens"), b.get("cu_seqlens_host"))
            loss.backward()
    finally:
        kernels.set_backend("auto")
    docs = len(b["cu_seqlens_host"]) - 1 if b.get("cu_seqlens_host") is not None else b["input_ids"].shape[0]
    return counter, docs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="+", default=["kda_3to1", "full_attention"])
    ap.add_argument("--size", default="small")
    ap.add_argument("--batch", type=int, default=2, help="rows per batch (the counts do not depend on it)")
    ap.add_argument("--top", type=int, default=8, help="operators listed per recipe, by launches with all fused")
    record_arg(ap)
    a = ap.parse_args()
    rows, tops = [], []
    for recipe in a.recipes:
        counts = {}
        for name, overrides in SETTINGS.items():
            counts[name], docs = count_step(recipe, a.size, a.batch, overrides)
            print(f"{recipe} {name}: {counts[name].total()} launches", file=sys.stderr, flush=True)
        eager, fused = counts["eager"].total(), counts["all"].total()
        rows.append([recipe, str(docs), *[str(counts[n].total()) for n in SETTINGS],
                     f"{sum(counts['all'].triton.values())}", f"{1 - fused / eager:.0%}"])
        common = (counts["eager"].torch_ops + counts["all"].torch_ops).most_common(a.top)
        tops.append(f"{recipe}: " + ", ".join(f"`{op}` {counts['eager'].torch_ops[op]} -> "
                                              f"{counts['all'].torch_ops[op]}" for op, _ in common))
    t = table(["recipe", "documents", *[f"{n} launches" for n in SETTINGS], "of which Triton (all)",
               "fewer (all)"], rows)
    body = (f"One packed forward + backward at size={a.size}, {a.batch} rows, bf16 autocast, Triton backend "
            f"(interpreted):\n\n{t}\n\nMost launched PyTorch operators, eager -> all fused:\n\n"
            + "\n".join(f"- {line}" for line in tops))
    print(body)
    if a.record:
        write_record("launches", "Kernel launches per training step (counted on the CPU)", body, folder=a.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
