"""benchmarks/e2e.py: the whole benchmark at tiny settings on the CPU (train.py and bare step rows, the models at
scale, FLA / Llama rows that say they are not installed, its dated record), its ratios, and OOM caught per row."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
import torch

from tests.benchmark_script import BENCHMARKS, load_benchmark

NUMBER = r"[\d,]+"


def row(table: str, part: str, model: str) -> list[str]:
    lines = [line for line in table.splitlines() if line.startswith(f"| {part} | {model} |")]
    assert len(lines) == 1, (part, model, table)
    return [cell.strip() for cell in lines[0].strip("|").split("|")]


def test_tiny_cpu_run_prints_every_row_and_writes_its_record(tmp_path) -> None:
    cmd = [sys.executable, str(BENCHMARKS / "e2e.py"), "--device", "cpu", "--sizes", "tiny", "--recipes",
           "full_attention", "--train-steps", "3", "--bare-steps", "1", "--warmup", "1", "--scale-shapes", "1x32",
           "--scale-dims", "tiny", "--steps", "1", "--record", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    table = run.stdout.split("\n\n")[-2]  # the table, then the notes and the record's path

    trained = row(table, "tiny, train.py", "full_attention")
    bare = row(table, "tiny, bare step", "full_attention")
    assert trained[2] == bare[2] == "8 x 128"  # size=tiny: batch 8 x seq_len 128
    assert re.fullmatch(NUMBER, trained[3]) and re.fullmatch(NUMBER, bare[3])
    ratio = float(trained[6].removesuffix("x the bare step"))
    assert ratio == pytest.approx(float(trained[3].replace(",", "")) / float(bare[3].replace(",", "")), rel=0.02)
    for model in ("ours kda_only", "ours kda_3to1"):
        assert re.fullmatch(NUMBER, row(table, "scale", model)[3]), table
    fla = row(table, "scale", "FLA KDAForCausalLM")[3]
    if importlib.util.find_spec("fla") is None:
        assert fla == "not installed (pip install flash-linear-attention)"
    else:
        assert fla.startswith("fails: RuntimeError: FLA's kernels need CUDA")
    llama = row(table, "scale", "HF LlamaForCausalLM (SDPA)")[3]
    if importlib.util.find_spec("transformers") is None:
        assert llama == "not installed (pip install transformers)"
    else:
        assert re.fullmatch(NUMBER, llama)

    records = list(tmp_path.iterdir())
    assert len(records) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\d_\w+_e2e_cpu\.md", records[0].name)
    assert f"record: {records[0]}" in run.stdout
    text = records[0].read_text()
    assert "- command: `python " in text and "--scale-dims tiny" in text and table in text


def test_malformed_scale_shape_is_a_usage_error() -> None:
    run = subprocess.run([sys.executable, str(BENCHMARKS / "e2e.py"), "--scale-shapes", "8x"], capture_output=True,
                         text=True)
    assert run.returncode == 2 and "BxT" in run.stderr


def test_out_of_memory_is_a_row_that_says_so() -> None:
    e2e = load_benchmark("e2e")

    def oom():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert e2e.attempt(oom) == "OOM"
    assert e2e.attempt(lambda: 1 / 0) == "fails: ZeroDivisionError: division by zero"


def test_ours_is_read_against_fla_and_llama(monkeypatch) -> None:
    e2e = load_benchmark("e2e")
    fake = {"ours kda_only": {"tokens_per_s": 50.0, "mfu": float("nan"), "peak": 40.0},
            "ours kda_3to1": "OOM",
            "FLA KDAForCausalLM": {"tokens_per_s": 100.0, "mfu": float("nan"), "peak": 20.0},
            "HF LlamaForCausalLM (SDPA)": {"tokens_per_s": 80.0, "mfu": float("nan"), "peak": 30.0}}
    monkeypatch.setattr(e2e, "scale_one", lambda name, *args: fake[name])
    args = type("Args", (), {"scale_dims": "tiny", "scale_shapes": [(2, 16384)], "steps": 1, "warmup": 0,
                             "ours_set": [], "scale_models": list(e2e.SHORT_NAMES)})
    rows = {r[1]: r for r in e2e.scale_rows(args, "cuda")}
    assert rows["ours kda_only"] == ["scale", "ours kda_only", "2 x 16384", "50", "-", "40.0",
                                     "0.50x FLA KDA's tokens/s, 2.00x its peak"]
    assert rows["ours kda_3to1"][3:] == ["OOM", "", "", ""]
    assert rows["FLA KDAForCausalLM"][6] == rows["HF LlamaForCausalLM (SDPA)"][6] == ""


def test_scale_models_picks_the_rows(monkeypatch) -> None:
    e2e = load_benchmark("e2e")
    ran = []
    monkeypatch.setattr(e2e, "scale_one", lambda name, *args: ran.append(name) or "OOM")
    args = type("Args", (), {"scale_dims": "tiny", "scale_shapes": [(1, 8)], "steps": 1, "warmup": 0,
                             "ours_set": [], "scale_models": ["kda_only", "llama"]})
    assert [r[1] for r in e2e.scale_rows(args, "cuda")] == ran == ["ours kda_only", "HF LlamaForCausalLM (SDPA)"]


def test_a_typo_in_ours_set_is_a_usage_error_naming_the_key() -> None:
    run = subprocess.run([sys.executable, str(BENCHMARKS / "e2e.py"), "--ours-set", "model.fused_head_los=false"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "--ours-set" in run.stderr and "model.fused_head_loss" in run.stderr, run.stderr
