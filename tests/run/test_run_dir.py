"""Run directories: one name per launch shared with every rank, clashes refused untouched, one owner, history kept."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from run.csv_log import AppendingCSVLogger
from run.errors import ConfigError
from run.load import load_run_config
from run.preflight import prepare
from run.run_dir import NAME_ENV, claim, launch_name, release, write_config

ROOT = Path(__file__).resolve().parents[2]


def test_a_launch_name_is_chosen_once_and_shared_with_spawned_ranks(monkeypatch):
    cfg = load_run_config(["recipe=kda_3to1", "size=tiny"])
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(NAME_ENV, "kda_3to1-tiny-20260101-000000")
    mine = launch_name(cfg)  # the launching process ignores a name left in its environment and picks its own
    assert mine.startswith("kda_3to1-tiny-") and mine != "kda_3to1-tiny-20260101-000000"
    monkeypatch.setenv("LOCAL_RANK", "2")  # a rank Lightning spawned: it takes the launcher's name
    assert launch_name(cfg) == "kda_3to1-tiny-20260101-000000"
    monkeypatch.delenv(NAME_ENV)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")  # every Slurm task (and a requeued job) derives the same name
    assert launch_name(cfg) == "kda_3to1-tiny-slurm4242"


def test_a_clash_is_refused_before_touching_the_other_run(tmp_path):
    run = tmp_path / "taken"
    run.mkdir()
    (run / "config.yaml").write_text("theirs\n")
    (run / "metrics.csv").write_text("step,train/loss\n0,6.7\n")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(ConfigError, match="already holds a run; pass resume=auto"):
        prepare(["recipe=kda_3to1", "size=tiny", f"out_dir={tmp_path}", "name=taken"])
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "/abs", "a b"])
def test_a_name_must_be_one_plain_folder(tmp_path, name):
    with pytest.raises(ConfigError, match="plain folder name"):
        prepare(["recipe=kda_3to1", "size=tiny", f"out_dir={tmp_path / 'runs'}", f"name={name}"])
    assert not any(tmp_path.iterdir())


def test_two_processes_cannot_own_one_run_dir(tmp_path):
    run = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from run.run_dir import claim; "
         f"claim(Path({str(run)!r}), resuming=False); print('held', flush=True); time.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"in use by another process \(pid {holder.pid}\)"):
            claim(run, resuming=True)
    finally:
        holder.kill()
        holder.wait()
    claim(run, resuming=True)  # the kernel dropped the dead process's lock
    release(run)


def test_the_lock_is_held_until_released(tmp_path):
    claim(tmp_path / "r", resuming=False)
    try:
        with pytest.raises(ConfigError, match="in use"):
            claim(tmp_path / "r", resuming=True)
    finally:
        release(tmp_path / "r")
    claim(tmp_path / "r", resuming=True)
    release(tmp_path / "r")


def test_a_resume_keeps_the_earlier_config_and_appends_to_metrics(tmp_path):
    write_config(tmp_path, OmegaConf.create({"trainer": {"max_steps": 10}}))
    write_config(tmp_path, OmegaConf.create({"trainer": {"max_steps": 10}}))  # same config: nothing to keep
    write_config(tmp_path, OmegaConf.create({"trainer": {"max_steps": 20}}))
    assert "max_steps: 20" in (tmp_path / "config.yaml").read_text()
    assert "max_steps: 10" in (tmp_path / "config.1.yaml").read_text()
    assert not (tmp_path / "config.2.yaml").exists()

    (tmp_path / "metrics.csv").write_text("step,train/loss\n0,6.5\n1,6.4\n")
    logger = AppendingCSVLogger(save_dir=str(tmp_path), name="", version="")
    logger.log_metrics({"train/loss": 6.3}, step=2)
    logger.log_metrics({"train/loss": 6.2, "val/loss": 6.0}, step=3)  # a new column rewrites the header only
    logger.save()
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,train/loss,val/loss"
    assert [r.split(",")[:2] for r in rows[1:]] == [["0", "6.5"], ["1", "6.4"], ["2", "6.3"], ["3", "6.2"]]


def test_yaml_base60_never_reaches_a_ratio(tmp_path):
    from run.load import _read_yaml

    recipe = tmp_path / "mine.yaml"
    recipe.write_text("model: {ratio: 3:1}\ntrainer: {max_steps: 1:30}\n")  # unquoted, as users write it
    body = _read_yaml(recipe, "recipe")
    assert body["model"]["ratio"] == "3:1"  # YAML 1.1 would give 181
    for ratio in ("7:1", "1:0", "3:1", "0:1"):
        cfg = load_run_config(["recipe=kda_3to1", "size=tiny", f"model.ratio={ratio}"])
        assert cfg.model.ratio == ratio
    with pytest.raises(ConfigError, match=r"model.ratio='-1:1' needs non-negative counts"):
        load_run_config(["recipe=kda_3to1", "size=tiny", "model.ratio=-1:1"])
