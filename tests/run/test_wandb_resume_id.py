"""A resumed run logs to the W&B run it started (one run id per run directory), not to a second run."""
from __future__ import annotations

from omegaconf import OmegaConf

from run.build import WANDB_ID, build_logger


def _cfg(name: str):
    return OmegaConf.create({"name": name, "recipe": "kda_3to1", "size": "tiny",
                             "model": {"ratio": "3:1", "linear": {"variant": "kda"}, "attention": {"type": "mla"}},
                             "trainer": {"logger": "wandb", "wandb_project": "p", "wandb_group": None,
                                         "wandb_tags": []}})


def test_every_launch_of_a_run_directory_logs_to_one_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name in "ab":
        (tmp_path / name).mkdir()
    first, again = (build_logger(_cfg("a"), tmp_path / "a") for _ in range(2))
    other = build_logger(_cfg("b"), tmp_path / "b")
    run_id = (tmp_path / "a" / WANDB_ID).read_text().strip()
    assert first._wandb_init["id"] == again._wandb_init["id"] == run_id and len(run_id) == 8
    assert first._wandb_init["resume"] == "allow"
    assert other._wandb_init["id"] != run_id
