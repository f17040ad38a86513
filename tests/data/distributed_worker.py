"""What each process of the two-rank (gloo) test runs: stream, save the gathered data state, resume, compare."""
from __future__ import annotations

import itertools
import os

import torch


def run_rank(rank: int, world: int, cfg, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    from data.build import build_datamodule

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        full = build_datamodule(cfg)
        expected = [full.consume(b) for b in itertools.islice(iter(full.train_dataloader()), 6)]
        first = build_datamodule(cfg)
        for b in itertools.islice(iter(first.train_dataloader()), 2 + rank):  # ranks stop at different points
            first.consume(b)
        state = first.state_dict()  # a collective: every rank calls it, as Lightning's checkpoint dump does
        resumed = build_datamodule(cfg)
        resumed.load_state_dict(state)
        got = [resumed.consume(b) for b in itertools.islice(iter(resumed.train_dataloader()), 4 - rank)]
        same = all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(got, expected[2 + rank :]))
        torch.save({"state": state, "same": same, "first_ids": expected[0]["input_ids"]},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()
