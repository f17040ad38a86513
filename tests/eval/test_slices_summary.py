"""Slicing, the MiniMax-gap summary (values, ratios to a baseline, verdict) and the plots."""
from __future__ import annotations

import json
import math

import pytest

from eval.probes.base import Plot, Probe, log2_bucket
from eval.report import write_report
from eval.score import Scored
from eval.slices import summarize
from eval.summary import format_summary, gap_rows, load_results, markdown_table

PROBE = Probe(name="toy", task="multihop", grid=[{"num_hops": 1}], plots=[Plot("num_hops", "num_distractors")],
              slice_by=("num_hops", "gap"), buckets={"gap": log2_bucket},
              headlines={"no distractors": {"num_distractors": 0}})


def _rows() -> list[Scored]:
    rows = []
    for hops, held in [(1, False), (2, False), (6, True)]:
        for i in range(4):
            correct = i < (4 if hops == 1 else 2 if hops == 2 else 1)
            rows.append(Scored({"num_hops": hops, "num_distractors": i % 2, "gap": 3 + i, "heldout": held}, correct))
    return rows


def test_slices_train_heldout_buckets_and_headlines():
    report = summarize(PROBE, _rows())
    s = report["slices"]
    assert s["all"] == {"accuracy": 7 / 12, "n": 12}
    assert s["train"] == {"accuracy": 6 / 8, "n": 8} and s["heldout"] == {"accuracy": 1 / 4, "n": 4}
    assert s["num_hops=1"]["accuracy"] == 1.0 and s["num_hops=6"]["accuracy"] == 0.25
    assert [k for k in s if k.startswith("gap=")] == ["gap=2-3", "gap=4-7"]  # log2 bins, in numeric order
    assert s["gap=2-3"]["n"] == 3 and s["gap=4-7"]["n"] == 9
    assert report["headlines"]["no distractors"]["n"] == 6
    (curve,) = report["curves"]
    assert set(curve["lines"]) == {"0", "1"}
    xs = [p[0] for p in curve["lines"]["0"]]
    assert xs == [1, 2, 6] and curve["lines"]["0"][-1][3] == 1.0  # the 6-hop point is all held out


def test_log2_bucket():
    assert [log2_bucket(v) for v in (1, 2, 3, 4, 7, 8, 100)] == ["1", "2-3", "2-3", "4-7", "4-7", "8-15", "64-127"]


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
    report = summarize(PROBE, _rows())
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
