"""The suite on a real size=tiny run: the in-training callback, the end-of-run summary, and `python -m eval`."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from lightning.pytorch.loggers import WandbLogger

from eval.callback import ProbeCallback
from eval.checkpoint import load_checkpoint, run_dir_of
from eval.cli import main
from eval.config import EvalConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A 6-step kda_3to1 size=tiny run with the probe callback every 3 steps and the suite at the end."""
    out = tmp_path_factory.mktemp("runs")
    args = ["recipe=kda_3to1", "size=tiny", "trainer.max_steps=6", "trainer.ckpt_every=6", "trainer.logger=csv",
            "trainer.progress_bar=false", f"out_dir={out}", "name=tiny", "eval.every=3", "eval.callback_examples=1",
            "eval.examples=1", "eval.probes=[multihop,copy]"]
    proc = subprocess.run([sys.executable, "train.py", *args], check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out / "tiny" / "stdout.txt").write_text(proc.stdout)
    return out / "tiny"


def test_training_logs_probe_slices_and_ends_with_the_summary(tiny_run):
    rows = list(csv.DictReader((tiny_run / "metrics.csv").open()))
    probed = [int(r["step"]) for r in rows if r.get("probe/multihop/all")]
    assert sorted(set(probed)) == [3, 6]
    assert rows and {"probe/copy/length=96", "probe/multihop/num_hops=8", "probe/regular/loss"} <= set(rows[0])
    stdout = (tiny_run / "stdout.txt").read_text()
    assert "MiniMax-gap summary: tiny step 6" in stdout and "multihop held-out" in stdout
    data = json.loads((tiny_run / "probes.json").read_text())
    assert list(data["probes"]) == ["multihop", "copy"] and data["meta"]["recipe"] == "kda_3to1"
    assert (tiny_run / "plots" / "multihop_num_hops_by_num_distractors.png").stat().st_size > 0


def test_cli_writes_json_and_plots_with_ratios_to_a_baseline(tiny_run, tmp_path, capsys):
    ckpt = tiny_run / "checkpoints" / "last.ckpt"
    rc = main([f"ckpt={ckpt}", "probes=[multihop,state]", "eval.examples=1", f"out={tmp_path}", "device=cpu",
               f"baseline={tiny_run}"])
    assert rc == 0
    data = json.loads((tmp_path / "probes.json").read_text())
    assert list(data["probes"]) == ["multihop", "state"] and data["meta"]["step"] == 6
    rows = {r["metric"]: r for r in data["summary"]}
    # Same model, same regular documents as the baseline run: a ratio of exactly one.
    assert rows["regular-prompt LM loss"]["ratio"] == pytest.approx(1.0)
    assert rows["multihop held-out"]["baseline"] is not None and rows["state held-out"]["baseline"] is None
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "multihop_num_hops_by_num_distractors.png", "state_num_ops_by_kind.png", "state_top_age_by_num_ops.png"]
    assert "MiniMax-gap summary" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "match"), [
    ([], "ckpt=PATH is required"),
    (["ckpt=/no/such.ckpt"], "does not exist"),
    (["CKPT", "oops"], "not key=value"),
    (["CKPT", "exmples=1"], "did you mean 'examples'"),
    (["CKPT", "probes=[mqar,poetry]"], "probe 'poetry' is unknown"),
    (["CKPT", "state_dtype=fp8"], "state_dtype='fp8'"),
    (["CKPT", "examples=many"], "examples"),
    (["CKPT", "baseline=/no/where"], "baseline"),
    (["CKPT", "shots=2"], "needs a text run's checkpoint"),
])
def test_cli_mistakes_exit_2_with_one_line(tiny_run, capsys, args, match):
    args = [f"ckpt={tiny_run / 'checkpoints' / 'last.ckpt'}" if a == "CKPT" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and match in err, err


def test_python_dash_m_eval_writes_into_the_run_dir(tiny_run, tmp_path):
    run = tmp_path / "copy_of_run"
    shutil.copytree(tiny_run, run)
    (run / "probes.json").unlink()
    proc = subprocess.run([sys.executable, "-m", "eval", f"ckpt={run / 'checkpoints' / 'last.ckpt'}",
                           "probes=[copy]", "examples=1", "state_dtype=bf16"],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads((run / "probes-state_bf16.json").read_text())
    assert data["config"]["state_dtype"] == "bf16" and list(data["probes"]) == ["copy"]
    assert (run / "plots-state_bf16" / "copy_length_by_mode.png").is_file()
    assert "state in bf16" in proc.stdout


class _FakeWandb(WandbLogger):
    """A WandbLogger that records instead of talking to W&B."""

    def __init__(self) -> None:  # no super().__init__: nothing is started
        self.metrics, self.tables, self.images = [], [], []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, metrics))

    def log_table(self, key, columns=None, data=None, dataframe=None, step=None):
        self.tables.append((key, columns, data, step))

    def log_image(self, key, images, step=None, **kwargs):
        self.images.append((key, images, step))


def test_callback_period_rank_zero_and_wandb_extras(tiny_run):
    loaded = load_checkpoint(tiny_run / "checkpoints" / "last.ckpt", device=__import__("torch").device("cpu"))
    assert run_dir_of(tiny_run / "checkpoints" / "last.ckpt") == tiny_run and loaded.step == 6
    cb = ProbeCallback(EvalConfig(every=2, callback_examples=1, probes=["multihop"], regular_docs=2))
    logger = _FakeWandb()
    module = SimpleNamespace(model=loaded.model.train())
    for step, zero in [(1, True), (2, True), (2, True), (3, True), (4, False), (6, True)]:
        trainer = SimpleNamespace(global_step=step, is_global_zero=zero, loggers=[logger], strategy=None)
        cb.on_train_batch_end(trainer, module, None, None, 0)
    assert [s for s, _ in logger.metrics] == [2, 6]  # every 2 steps, once per step, rank 0 only
    assert all(k.startswith("probe/") for _, m in logger.metrics for k in m)
    assert "probe/multihop/num_hops=5" in logger.metrics[0][1] and "probe/regular/loss" in logger.metrics[0][1]
    key, columns, data, step = logger.tables[-1]
    assert key == "probe/summary" and columns[0] == "metric" and step == 6 and data
    assert logger.images[-1][0] == "probe/plots" and logger.images[-1][1]
    assert module.model.training and cb.last_results["config"]["examples"] == 1
    with pytest.raises(ValueError, match="every=0"):
        ProbeCallback(EvalConfig(every=0))
