"""The MiniMax-gap summary (values, ratios to a baseline, verdict) and the written report (json + plots)."""
from __future__ import annotations

import json
import math

import pytest

from eval.report.summary import format_summary, gap_rows, load_results, markdown_table
from eval.report.write import write_report
from eval.scoring.slices import summarize
from tests.eval.fakes import TOY_PROBE, toy_rows


def _results(loss: float, acc_train: float, acc_held: float) -> dict:
    return {"regular": {"loss": loss}, "probes": {"toy": {
        "slices": {"all": {"accuracy": (acc_train + acc_held) / 2, "n": 8}, "train": {"accuracy": acc_train, "n": 4},
                   "heldout": {"accuracy": acc_held, "n": 4}},
        "headlines": {"kept": {"accuracy": acc_train, "n": 4}}, "curves": []}},
        "config": {"state_dtype": "fp32"}}


def test_gap_rows_ratios_say_fine_on_regular_poor_on_probes():
    run, base = _results(2.2, 0.9, 0.2), _results(2.0, 1.0, 0.8)
    rows = {r["metric"]: r for r in gap_rows(run, base)}
    assert rows["regular-prompt LM loss"]["ratio"] == pytest.approx(2.0 / 2.2)  # lower loss is better: base / run
    assert rows["toy train-length"]["ratio"] == pytest.approx(0.9)
    assert rows["toy held-out"]["ratio"] == pytest.approx(0.25)
    assert rows["toy: kept"]["baseline"] == 1.0
    text = format_summary(gap_rows(run, base))
    assert "regular prompts at 0.91x the baseline" in text and "toy held-out 0.25" in text
    assert "toy train-length" not in text.splitlines()[-1]  # 0.9 is not flagged
    alone = gap_rows(run)
    assert all(r["ratio"] is None and r["baseline"] is None for r in alone)
    assert "no baseline" in format_summary(alone)
    table = markdown_table({"a": gap_rows(run, base), "b": gap_rows(base, base)})
    assert "| toy held-out | 20.0% (0.25) | 80.0% (1.00) |" in table


def test_write_report_round_trips_and_serves_as_a_baseline(tmp_path):
    report = summarize(TOY_PROBE, toy_rows())
    results = {"probes": {"toy": report}, "regular": {"loss": 2.0, "filler": math.nan},
               "config": {"state_dtype": "fp32"}}
    path, plots, _ = write_report(results, tmp_path, meta={"step": 7})
    data = json.loads(path.read_text())  # strict JSON: NaN became null
    assert data["regular"]["filler"] is None and data["meta"]["step"] == 7
    assert path.name == "probes.json" and plots and all(p.suffix == ".png" and p.stat().st_size > 0 for p in plots)
    again = gap_rows(load_results(tmp_path), load_results(path))  # a run against itself: ratios of 1
    assert all(r["ratio"] in (None, pytest.approx(1.0)) for r in again)
    assert again[0]["ratio"] == pytest.approx(1.0)
    bf16 = {**results, "config": {"state_dtype": "bf16"}}
    path16, _, text16 = write_report(bf16, tmp_path)
    assert path16.name == "probes-state_bf16.json" and "state in bf16" in text16
    with pytest.raises(ValueError, match="nowhere"):
        load_results(tmp_path / "nowhere")
