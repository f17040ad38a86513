"""Tokens/s and model FLOPs utilisation (MFU), logged as perf/tokens_per_s and perf/mfu.

Wall time between log points over tokens processed by all ranks: asynchronous GPU work averages out over the window.
MFU = achieved model FLOPs / peak; the model FLOPs count linear mixers as linear (HybridLM.flops_per_token).
"""
from __future__ import annotations

import time

import lightning as L
import torch

# Dense bf16 tensor-core peaks (no sparsity), FLOP/s, by a substring of torch.cuda.get_device_name().
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12,
                   "4090": 165e12, "3090": 71e12}


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


class ThroughputMonitor(L.Callback):
    def __init__(self, log_every: int = 10, peak_tflops: float | None = None):
        self.log_every = log_every
        self.peak_tflops = peak_tflops
        self._t0: float | None = None
        self._tokens = 0
        self._flops_per_token: float | None = None
        self.last_tokens_per_s: float | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        ids = batch["input_ids"]
        if self._flops_per_token is None:
            self._flops_per_token = pl_module.model.flops_per_token(ids.shape[-1])
        now = time.perf_counter()
        if self._t0 is None:  # the first step compiles/warms up: start timing after it
            self._t0 = now
            return
        self._tokens += ids.numel() * trainer.world_size  # every rank's micro-batch has this many tokens
        if (batch_idx + 1) % (self.log_every * trainer.accumulate_grad_batches):  # every log_every optimizer steps
            return
        tps = self._tokens / max(now - self._t0, 1e-9)
        self.last_tokens_per_s = tps
        pl_module.log("perf/tokens_per_s", tps, rank_zero_only=True)  # no prog_bar: see HybridLMModule's train/loss
        peak = peak_flops(pl_module.device, self.peak_tflops)
        if peak:
            pl_module.log("perf/mfu", tps * self._flops_per_token / (peak * trainer.world_size), rank_zero_only=True)
        self._t0, self._tokens = now, 0
