"""Recipe/preset/override composition and the one-line config errors (exit code 2, nothing written)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from run.errors import ConfigError
from run.help import help_text
from run.load import available, load_run_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["kda_3to1", "gdn_3to1", "lightning_7to1", "full_attention", "deltanet_3to1", "linear_3to1", "kda_only",
           "gdn_only", "gdn_swa_3to1", "dsa"]


def test_every_shipped_recipe_loads_at_every_size():
    assert set(SHIPPED) <= set(available())
    for recipe in SHIPPED:
        for size in ("tiny", "small", "base"):
            cfg = load_run_config([f"recipe={recipe}", f"size={size}"])
            assert cfg.recipe == recipe and cfg.size == size


def test_recipe_then_size_then_overrides():
    cfg = load_run_config(["recipe=kda_3to1", "size=tiny", "optim.lr=5e-4", "model.linear.allow_neg_eigval=true"])
    assert cfg.model.linear.variant == "kda" and cfg.model.attention.type == "mla" and cfg.model.attention.nope
    assert cfg.model.d_model == 64  # from the tiny preset
    assert cfg.optim.lr == 5e-4  # the override wins over the preset's 3e-3
    assert cfg.model.linear.allow_neg_eigval is True
    assert load_run_config(["recipe=gdn_3to1"]).model.d_model == 256  # default size is small


def test_each_recipe_first_line_says_what_it_mirrors():
    for recipe in SHIPPED:
        first = (ROOT / "recipes" / f"{recipe}.yaml").read_text().splitlines()[0]
        assert first.startswith("# ") and len(first) > 20


@pytest.mark.parametrize("args, expected", [
    (["recipe=kda_3t1"], "did you mean 'kda_3to1'"),
    (["recipe=kda_3to1", "size=tinny"], "did you mean 'tiny'"),
    (["recipe=kda_3to1", "optim.lrr=1e-3"], "did you mean 'optim.lr'"),
    (["recipe=kda_3to1", "model.linear.varient=kda"], "model.linear.variant"),
    (["recipe=kda_3to1", "modle.d_model=3"], "model.d_model"),
    (["recipe=kda_3to1", "trainer.max_steps=many"], "trainer.max_steps"),
    (["recipe=kda_3to1", "model.linear.variant=kdaa"], "did you mean 'kda'"),
    (["recipe=kda_3to1", "model.attention.type=mlaa"], "did you mean 'mla'"),
    (["recipe=kda_3to1", "model.ratio=3:2"], "model.ratio"),
    (["recipe=kda_3to1", "model.n_layers=6"], "not a multiple"),
    (["recipe=kda_3to1", "model.pattern=LLXA"], "model.pattern"),
    (["recipe=kda_3to1", "optim.schedule=cosin"], "did you mean 'cosine'"),
    (["recipe=kda_3to1", "data.mixture.mqr=1.0"], "did you mean 'mqar'"),
    (["recipe=kda_3to1", "lonely"], "not key=value"),
])
def test_config_errors_name_the_problem_and_suggest(args, expected):
    with pytest.raises(ConfigError, match=None) as err:
        load_run_config(args)
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_pattern_overrides_ratio():
    cfg = load_run_config(["recipe=kda_3to1", "size=tiny", "model.pattern=[L,A,L,A,L,A,L,A]"])
    assert list(cfg.model.pattern) == ["L", "A"] * 4


def test_cli_error_exits_2_with_one_line_and_writes_nothing(tmp_path):
    proc = subprocess.run([sys.executable, "train.py", "recipe=kda_3to1", "optim.lrr=1", f"out_dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "optim.lr" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_key_with_its_doc():
    text = help_text()
    for key in ("model.linear.variant", "model.attention.type", "optim.lr", "trainer.max_steps", "data.seq_len"):
        assert key in text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("model.ratio"))
    assert "linear blocks per full-attention block" in line


def test_a_single_value_for_a_list_key_becomes_a_list():
    cfg = load_run_config(["recipe=kda_3to1", "data=files", "data.paths=corpus.jsonl"])
    assert list(cfg.data.paths) == ["corpus.jsonl"]
    cfg = load_run_config(["recipe=kda_3to1", "data=files", "data.paths=[a.jsonl,b.jsonl]"])
    assert list(cfg.data.paths) == ["a.jsonl", "b.jsonl"]
