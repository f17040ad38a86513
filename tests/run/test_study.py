"""Studies without training: grid / zip expansion, the `-m` comma form, cell names, --dry-run, and one bad cell
stopping the whole study before anything is written or run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from run.errors import ConfigError
from run.launchers.config import launcher_config
from run.study import as_arg, baseline_group, expand, load_study, multirun_study, split_commas, study_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_grid_is_every_combination_in_order_then_seeds(tmp_path):
    study = study_from_dict("g", {"base": {"size": "tiny"}, "axes": {"recipe": ["full_attention", "kda_3to1"],
                                                                     "model": {"ratio": ["3:1", "7:1"]}},
                                  "seeds": [0, 1]}, "test")
    cells = expand(study, [], str(tmp_path))
    assert [c.name for c in cells] == [
        "full_attention-ratio3to1-s0", "full_attention-ratio3to1-s1", "full_attention-ratio7to1-s0",
        "full_attention-ratio7to1-s1", "kda_3to1-ratio3to1-s0", "kda_3to1-ratio3to1-s1", "kda_3to1-ratio7to1-s0",
        "kda_3to1-ratio7to1-s1"]
    c = cells[2]
    assert c.axes == {"recipe": "full_attention", "model.ratio": "7:1"} and c.seed == 0
    assert c.group == "full_attention-ratio7to1" and c.run_dir == tmp_path / "g" / c.name
    assert 'model.ratio="7:1"' in c.argv and "seed=0" in c.argv and f"name={c.name}" in c.argv
    assert "trainer.wandb_group=g" in c.argv and "trainer.wandb_tags=[recipe=full_attention,ratio=7:1,seed=0]" \
        in [a.replace('"', "") for a in c.argv]
    assert baseline_group(study, cells) == "full_attention-ratio3to1"  # no baseline named: the first design


def test_zipped_axes_advance_together_and_must_match_in_length(tmp_path):
    body = {"axes": {"recipe": ["kda_3to1"]}, "zip": {"model.ratio": ["3:1", "1:1"], "optim.lr": [1e-3, 2e-3]}}
    cells = expand(study_from_dict("z", body, "test"), [], str(tmp_path))
    assert [c.axes for c in cells] == [{"recipe": "kda_3to1", "model.ratio": "3:1", "optim.lr": 1e-3},
                                       {"recipe": "kda_3to1", "model.ratio": "1:1", "optim.lr": 2e-3}]
    body["zip"]["optim.lr"] = [1e-3]
    with pytest.raises(ConfigError, match="zipped axes must have one length each"):
        study_from_dict("z", body, "test")


def test_multirun_comma_form_makes_axes_and_seeds_with_a_stable_name():
    study, rest = multirun_study(["recipe=kda_3to1,gdn_3to1", "seed=0,1,2", "size=tiny", "model.pattern=[L,A]"])
    assert study.axes == {"recipe": ["kda_3to1", "gdn_3to1"]} and study.seeds == [0, 1, 2]
    assert rest == ["size=tiny", "model.pattern=[L,A]"]  # commas inside brackets are one value
    again, _ = multirun_study(["recipe=kda_3to1,gdn_3to1", "seed=0,1,2", "size=tiny", "model.pattern=[L,A]"])
    other, _ = multirun_study(["recipe=kda_3to1,gdn_3to1", "seed=0,1", "size=tiny", "model.pattern=[L,A]"])
    assert study.name == again.name != other.name and study.name.startswith("multirun-")
    assert split_commas("a,'b,c',[d,e]") == ["a", "'b,c'", "[d,e]"]
    seeds_only, rest = multirun_study(["recipe=kda_3to1", "seed=0,1"])
    assert [c.name for c in expand(seeds_only, rest, "runs")] == ["kda_3to1-s0", "kda_3to1-s1"]


def test_values_become_arguments_that_read_back_as_themselves():
    assert as_arg("model.ratio", "3:1") == 'model.ratio="3:1"'  # YAML 1.1 would read 3:1 as 181
    assert as_arg("x", [1, "a", None, True]) == "x=[1,a,null,true]"
    assert as_arg("optim.lr", 0.001) == "optim.lr=0.001"


@pytest.mark.parametrize("body, message", [
    ({"axis": {"recipe": ["a"]}}, "unknown study key 'axis'; did you mean 'axes'?"),
    ({"axes": {"recipe": "kda_3to1"}}, "axis 'recipe' must be a non-empty list"),
    ({"seeds": [0, 0]}, "repeat a seed"),
    ({"seeds": ["a"]}, "seeds must be a list of integers"),
    ({"base": {"seed": 3}}, "'seed' is set by the study"),
    ({"axes": {"recipe": ["kda_3to1"]}, "baseline": {"size": "tiny"}}, "baseline key 'size' is not an axis"),
])
def test_malformed_studies_name_what_is_wrong(body, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        study_from_dict("bad", body, "test")


def test_launcher_keys_are_checked_with_a_suggestion():
    assert launcher_config({"jobs_per_gpu": 3}, {"kind": "slurm", "partition": "gpu"}).jobs_per_gpu == 3
    with pytest.raises(ConfigError, match="key 'launcher.partiton'; did you mean 'launcher.partition'"):
        launcher_config({}, {"partiton": "gpu"})
    with pytest.raises(ConfigError, match="launcher='lokal' is unknown; valid: local, slurm"):
        launcher_config({}, {"kind": "lokal"})


def test_shipped_studies_expand_and_validate(tmp_path):
    from run.study import validate_cells

    gap = load_study("minimax_gap")
    cells = expand(gap, [], str(tmp_path))
    assert len(cells) == 18
    assert [c.name for c in cells[:3]] == ["full_attention-s0", "full_attention-s1", "full_attention-s2"]
    assert baseline_group(gap, cells) == "full_attention"
    sweep = load_study("ratio_sweep")
    sweep_cells = expand(sweep, [], str(tmp_path))
    assert [c.group for c in sweep_cells[::2]] == ["ratio1to0", "ratio7to1", "ratio3to1", "ratio1to1", "ratio0to1"]
    assert baseline_group(sweep, sweep_cells) == "ratio0to1"
    validate_cells(cells + sweep_cells)


def _train(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_dry_run_prints_the_cells_and_writes_nothing(tmp_path):
    proc = _train("-m", "recipe=full_attention,kda_3to1", "seed=0,1", "size=tiny", f"out_dir={tmp_path}",
                  "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "4 cells (2 designs x 2 seeds), baseline full_attention, launcher local" in proc.stdout
    for name in ("full_attention-s0", "full_attention-s1", "kda_3to1-s0", "kda_3to1-s1"):
        assert f"  {name} " in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_narrowing_a_study_names_the_finished_cells_its_report_will_leave_out(tmp_path):
    import json

    study = tmp_path / "demo"
    names = ["full_attention-s0", "kda_3to1-s0", "linear_3to1-s0", "gdn_only-s0"]
    study.mkdir()
    (study / "study.json").write_text(json.dumps({"cells": [{"name": n} for n in names]}))
    for name, state in (("linear_3to1-s0", "done"), ("gdn_only-s0", "failed")):
        (study / name).mkdir()
        (study / name / "cell.json").write_text(json.dumps({"state": state}))
    proc = _train("-m", "recipe=full_attention,kda_3to1", "size=tiny", "study.name=demo", f"out_dir={tmp_path}",
                  "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert ("note: the report will cover these 2 cells; 1 finished cells of the earlier manifest in "
            f"{study} are left out (linear_3to1-s0)") in proc.stdout
    proc = _train("-m", "recipe=full_attention,kda_3to1,linear_3to1", "size=tiny", "study.name=demo",
                  f"out_dir={tmp_path}", "--dry-run")
    assert proc.returncode == 0 and "note:" not in proc.stdout, proc.stdout


def test_one_bad_cell_stops_the_study_with_exit_2_and_nothing_written(tmp_path):
    proc = _train("-m", "recipe=full_attention,kda_3t1", "size=tiny", f"out_dir={tmp_path}", "launcher=slurm")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: cell kda_3t1-s0: unknown recipe 'kda_3t1'; did you mean 'kda_3to1'")
    assert list(tmp_path.iterdir()) == []  # no study.json, no run directory, nothing submitted
    proc = _train("study=minimax_gap", "size=tiny", "optim.lrr=1", f"out_dir={tmp_path}")
    assert proc.returncode == 2 and "cell full_attention-s0: command line: unknown config key 'optim.lrr'; did you " \
        "mean 'optim.lr'" in proc.stderr
    assert _train("study=minimax_gp", "--dry-run").stderr.startswith(
        "error: unknown study 'minimax_gp'; did you mean 'minimax_gap'?")
    assert list(tmp_path.iterdir()) == []


def test_a_cell_logs_to_wandb_in_the_study_group_with_its_axes_and_seed_as_tags(tmp_path):
    from run.build import build_logger
    from run.load import load_run_config

    study, rest = multirun_study(["recipe=full_attention,kda_3to1", "seed=0,1", "size=tiny"])
    cell = expand(study, rest, str(tmp_path))[3]
    cfg = load_run_config(cell.argv)
    logger = build_logger(cfg, tmp_path)
    init = logger._wandb_init
    assert init["name"] == "kda_3to1-s1" and init["group"] == study.name and logger._offline
    assert {"recipe=kda_3to1", "seed=1"} <= set(init["tags"])


def test_without_slurm_the_slurm_tests_skip_but_fail_under_ci(monkeypatch):
    from tests.run import slurm_cluster

    monkeypatch.setattr(slurm_cluster.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Slurm is not installed"):
        slurm_cluster.require_slurm()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set and Slurm is not installed"):
        slurm_cluster.require_slurm()


def test_the_sbatch_script_of_a_two_gpu_cell(tmp_path):
    from run.launchers.slurm import executor

    cfg = launcher_config({}, {"kind": "slurm", "gpus_per_cell": "2", "partition": "gpu", "account": "abl",
                               "time_min": "90", "extra_sbatch": "[--qos=high]"})
    text = executor(cfg, tmp_path, "minimax_gap")._make_submission_file_text("python -m x", "uid")
    for line in ("--ntasks-per-node=2", "--gpus-per-node=2", "--signal=USR1@90", "--requeue", "--partition=gpu",
                 "--account=abl", "--time=90", "--qos=high", "--job-name=minimax_gap"):
        assert f"#SBATCH {line}\n" in text, line
    assert "\nsrun --unbuffered" in text and f"cd {ROOT}" in text
