"""Text runs end with the probe suite: a tiny run on a generated corpus with a trained BPE and 20% tasks writes every
probe and the held-out text loss; `python -m eval` probes its checkpoint in the same ids; a run without tasks gets
the few-shot form. The corpus is tests/eval/text_corpus.py (generated, no network)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from eval.callback import ProbeCallback
from eval.checkpoint import load_checkpoint
from eval.cli import main
from eval.config import PROBE_NAMES, EvalConfig
from tests.eval.text_corpus import write_txt

ROOT = Path(__file__).resolve().parents[2]


def _train(out: Path, name: str, *args: str) -> str:
    corpus = write_txt(out / "corpus")
    argv = ["recipe=kda_3to1", "size=tiny", "model.n_layers=4", "data=files", f"data.paths=[{corpus}]",
            "data.vocab_size=1024", "data.tokenizer_docs=400", f"data.cache_dir={out / 'tok'}",
            "data.val_fraction=0.05",
            "trainer.max_steps=3", "trainer.ckpt_every=3", "trainer.val_every=3", "trainer.logger=csv",
            "trainer.progress_bar=false", f"out_dir={out}", f"name={name}", "eval.every=0", "eval.examples=1",
            "eval.regular_docs=8", *args]
    proc = subprocess.run([sys.executable, "train.py", *argv], check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "HF_DATASETS_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("text")
    return out / "tasks", _train(out, "tasks", "data.synthetic_weight=0.2")


def test_a_text_run_with_tasks_ends_with_every_probe_and_the_heldout_text_loss(text_run):
    run, stdout = text_run
    data = json.loads((run / "probes.json").read_text())
    assert list(data["probes"]) == list(PROBE_NAMES)
    assert all(report["n"] > 0 for report in data["probes"].values())
    assert data["config"]["tokens"] == "text" and data["config"]["shots"] == 0
    regular = data["regular"]
    assert math.isfinite(regular["text"]) and regular["loss"] == regular["text"] > 0
    rows = {r["metric"]: r for r in data["summary"]}
    assert rows["regular-prompt LM loss"]["value"] == regular["text"]
    assert rows["regular-prompt perplexity"]["value"] == pytest.approx(math.exp(regular["text"]))
    assert "mqar held-out" in rows and "multiturn: single-turn control" in rows
    assert "MiniMax-gap summary" in stdout and "regular prompts: held-out text" in stdout
    assert (run / "plots" / "copy_length_by_mode.png").is_file()


def test_python_dash_m_eval_probes_a_text_checkpoint_in_its_own_tokens(text_run, tmp_path):
    run, _ = text_run
    ckpt = run / "checkpoints" / "last.ckpt"
    assert main([f"ckpt={ckpt}", "probes=[copy]", "examples=1", "regular_docs=8", f"out={tmp_path}",
                 "device=cpu"]) == 0
    again = json.loads((tmp_path / "probes.json").read_text())
    first = json.loads((run / "probes.json").read_text())
    assert again["config"]["tokens"] == "text" and list(again["probes"]) == ["copy"]
    # The same model on the same held-out documents in the same ids: the same loss; the same copy cases, the same
    # outcomes.
    assert again["regular"]["text"] == pytest.approx(first["regular"]["text"], rel=1e-5)
    assert again["probes"]["copy"]["slices"] == first["probes"]["copy"]["slices"]
    loaded = load_checkpoint(ckpt, __import__("torch").device("cpu"))
    assert loaded.tokenizer is not None and loaded.tokenizer.vocab_size <= 1024


def test_the_callback_probes_in_the_datamodules_tokens(text_run):
    import torch

    from data.text.tokenizer import TextTokenizer

    run, _ = text_run
    loaded = load_checkpoint(run / "checkpoints" / "last.ckpt", torch.device("cpu"))
    cfg = SimpleNamespace(synthetic_weight=0.0, seq_len=32)
    datamodule = SimpleNamespace(tokenizer=TextTokenizer.from_json(loaded.tokenizer.to_json()), cfg=cfg,
                                 source=SimpleNamespace(iter_texts=lambda split: iter(["a held out text . k1 v2"])))
    cb = ProbeCallback(EvalConfig(every=1, callback_examples=1, probes=["multihop"], regular_docs=1))
    logger = SimpleNamespace(metrics=[], log_metrics=lambda m, step: logger.metrics.append(m))
    trainer = SimpleNamespace(global_step=1, is_global_zero=True, loggers=[logger], datamodule=datamodule,
                              strategy=None)
    cb.on_train_batch_end(trainer, SimpleNamespace(model=loaded.model), None, None, 0)
    assert cb.last_results["config"]["tokens"] == "text" and cb.last_results["config"]["shots"] == 3
    assert "probe/regular/text_loss" in logger.metrics[0] and "probe/regular/text_perplexity" in logger.metrics[0]


def test_a_text_run_without_tasks_gets_the_few_shot_form(tmp_path):
    stdout = _train(tmp_path, "plain", "data.synthetic_weight=0", "eval.probes=[multihop]")
    data = json.loads((tmp_path / "plain" / "probes.json").read_text())
    assert data["config"]["shots"] == 3
    metrics = [r["metric"] for r in data["summary"]]
    assert "multihop (3-shot) held-out" in metrics and "multihop (3-shot) train-length" in metrics
    assert "3 worked examples before each query" in stdout and "probes in the run's tokenizer (3-shot)" in stdout
