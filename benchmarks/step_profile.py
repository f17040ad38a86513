"""Where does a training step's time go? Data generation, and forward+backward with and without document boundaries.

    python benchmarks/step_profile.py [--recipe full_attention] [--size small] [--steps 10] [key=value ...]

Builds the run exactly as train.py would (recipe, size, overrides), then times, in this process:
  data      next() on the training DataLoader with workers=0 (one worker's rate; the run divides it by num_workers)
  step      forward + backward + AdamW step on those batches, bf16 autocast, with their cu_seqlens (packed
            documents) and again without them, so the cost of per-document attention / kernels shows on its own
and prints tokens/s for each plus the ten most expensive operators of one packed step (torch.profiler).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import adamw, timed_steps, training_step  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="full_attention")
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("overrides", nargs="*", help="key=value, as train.py takes them")
    a = ap.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from data.build import build_datamodule
    from run.build import build_module
    from run.load import load_run_config

    cfg = load_run_config([f"recipe={a.recipe}", f"size={a.size}", "data.num_workers=0", *a.overrides])
    dm = build_datamodule(cfg.data)
    dm.setup("fit")
    it = iter(dm.train_dataloader())
    next(it)  # start-up
    start = time.perf_counter()
    batches = [next(it) for _ in range(a.steps)]
    data_s = (time.perf_counter() - start) / a.steps
    tokens = cfg.data.batch_size * cfg.data.seq_len
    docs = [len(b["cu_seqlens"]) - 1 for b in batches if b.get("cu_seqlens") is not None]
    per_step = f"{sum(docs) / len(docs):.0f} documents/step" if docs else "no document boundaries"
    print(f"{a.recipe} size={a.size}: {tokens} tokens/step, {per_step}")
    print(f"data (1 worker)        {data_s * 1e3:8.1f} ms/step  {tokens / data_s:10.0f} tokens/s")

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build_module(cfg, dm.vocab_size).model.to(device)
    opt = adamw(model.parameters(), device)
    on_device = [{k: batch[k].to(device) for k in ("input_ids", "labels", "cu_seqlens") if batch.get(k) is not None}
                 | {"cu_seqlens_host": batch.get("cu_seqlens_host")} for batch in batches]

    def step(packed: bool):
        def loss(b):
            docs = (b.get("cu_seqlens"), b["cu_seqlens_host"]) if packed else (None, None)
            return model.loss(b["input_ids"], b["labels"], *docs)

        return training_step(loss, opt, device)

    for packed in (True, False):
        s, _ = timed_steps(step(packed), on_device, warmup=2, device=device)
        label = "step, packed docs" if packed else "step, no boundaries"
        print(f"{label:22s} {s * 1e3:8.1f} ms/step  {tokens / s:10.0f} tokens/s")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        step(True)(on_device[0])
        if device == "cuda":
            torch.cuda.synchronize()
    key = "cuda_time_total" if device == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=10, max_name_column_width=50))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10, max_name_column_width=50))


if __name__ == "__main__":
    main()
