"""perf/tokens_per_s and perf/mfu count every rank's tokens, and log once per log_every optimizer steps."""
from __future__ import annotations

from types import SimpleNamespace

import torch

from hybrid.train import throughput
from hybrid.train.throughput import ThroughputMonitor


class _Module:
    def __init__(self) -> None:
        self.logged: list[tuple[str, float]] = []
        self.device = torch.device("cpu")
        self.model = SimpleNamespace(flops_per_token=lambda seq_len: 1e6)

    def log(self, key, value, **kwargs) -> None:
        self.logged.append((key, value))


def test_tokens_per_s_and_mfu_count_every_rank(monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0])
    monkeypatch.setattr(throughput.time, "perf_counter", lambda: next(clock))
    monitor = ThroughputMonitor(log_every=2, peak_tflops=1.0)
    trainer = SimpleNamespace(world_size=2, accumulate_grad_batches=2)
    module = _Module()
    batch = {"input_ids": torch.zeros(4, 8, dtype=torch.long)}  # 32 tokens per micro-batch per rank
    for i in range(5):
        monitor.on_train_batch_end(trainer, module, None, batch, i)
    # the first batch starts the clock; batches 1..3 (micro-batches of 2 ranks, 64 tokens each) end at t=3, batch
    # index 3 is the end of the 2nd optimizer step (log_every=2 steps x accumulate 2)
    assert module.logged[0] == ("perf/tokens_per_s", 3 * 64 / 3.0)
    assert module.logged[1] == ("perf/mfu", 64.0 * 1e6 / (1e12 * 2))
    assert len(module.logged) == 2
