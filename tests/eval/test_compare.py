"""The study comparison on made-up results: t-intervals, ratios with intervals, verdicts that name a deficit only
where the interval excludes parity, and the files (report.md, self-contained report.html, PNGs)."""
from __future__ import annotations

import json
import math

import pytest

from eval.compare.__main__ import main
from eval.compare.stats import estimate, ratio, t975


def test_t_interval_matches_the_textbook():
    e = estimate([1.0, 2.0, 3.0])
    assert e.mean == 2.0 and e.sd == 1.0 and e.n == 3
    assert e.half == pytest.approx(4.303 / math.sqrt(3))
    assert estimate([0.5]).lo is None and estimate([]) is None
    assert t975(1) == 12.706 and t975(1000) == 1.96


def test_ratio_interval_and_verdict():
    a, b = estimate([0.40, 0.42, 0.41]), estimate([0.80, 0.82, 0.81])
    r = ratio(a, b)
    assert r.value == pytest.approx(0.41 / 0.81) and r.hi < 1 and r.verdict == "worse"
    assert ratio(b, a).verdict == "better"
    noisy = ratio(estimate([0.2, 0.8, 0.5]), estimate([0.5, 0.52, 0.51]))
    assert noisy.lo < 1 < noisy.hi and noisy.verdict == "parity"
    loss = ratio(estimate([2.0, 2.1, 2.05]), estimate([1.0, 1.05, 1.02]), lower_is_better=True)
    assert loss.value < 0.6 and loss.verdict == "worse"  # twice the baseline's loss reads as 0.5x
    assert ratio(estimate([0.3]), estimate([0.5])).verdict == "n/a"
    assert ratio(estimate([0.3, 0.4]), estimate([0.0, 0.0])) is None


def _probes(loss: float, acc: float, heldout: float) -> dict:
    curve = {"x": "num_hops", "series": None, "lines": {"all": [[1, acc, 4, 0.0], [2, heldout, 4, 1.0]]}}
    return {"regular": {"loss": loss}, "config": {"state_dtype": "fp32"}, "meta": {"device": "cpu", "torch": "x",
                                                                                  "step": 10},
            "probes": {"multihop": {"slices": {"train": {"n": 4, "accuracy": acc},
                                               "heldout": {"n": 4, "accuracy": heldout}},
                                    "headlines": {}, "curves": [curve]}}}


def _study(tmp_path, values: dict[str, list[tuple[float, float, float]]], failed: str | None = None):
    d = tmp_path / "demo"
    cells = []
    for group, seeds in values.items():
        for seed, (loss, acc, held) in enumerate(seeds):
            name = f"{group}-s{seed}"
            cells.append({"name": name, "group": group, "seed": seed, "axes": {"recipe": group}, "argv": []})
            run = d / name
            run.mkdir(parents=True)
            ok = name != failed
            (run / "cell.json").write_text(json.dumps({
                "state": "done" if ok else "failed", "error": None if ok else "data.paths: 'x' does not exist",
                "wall_s_total": 10.0, "started": "2026-01-01 10:00:00", "finished": "2026-01-01 10:05:00"}))
            if ok:
                (run / "probes.json").write_text(json.dumps(_probes(loss, acc, held)))
    (d / "study.json").write_text(json.dumps({"name": "demo", "description": "A made-up study.",
                                              "baseline": "full", "axes": {"recipe": list(values)},
                                              "cells": cells, "launcher": {"kind": "local"}}))
    return d


def test_report_names_only_deficits_whose_interval_excludes_parity(tmp_path, capsys):
    d = _study(tmp_path, {
        "full": [(3.00, 0.80, 0.60), (3.02, 0.82, 0.62), (2.98, 0.81, 0.61)],
        "gappy": [(3.01, 0.40, 0.58), (2.99, 0.42, 0.66), (3.00, 0.41, 0.57)],  # regular at parity, train acc half
        "noisy": [(3.00, 0.20, 0.60), (3.01, 0.95, 0.61), (2.99, 0.60, 0.62)],  # wide interval: no verdict on acc
        "broken": [(3.0, 0.5, 0.5), (3.0, 0.5, 0.5)],
    }, failed="broken-s1")
    assert main([str(d)]) == 0
    printed = capsys.readouterr().out
    assert "gappy: MiniMax gap: at parity on regular prompts (1.00 [" in printed
    assert "behind the baseline on 1: multihop train-length 0.51 [" in printed
    assert "noisy: at parity on regular prompts" in printed and "no probe deficit" in printed
    assert "broken: no verdict: fewer than two seeds give no interval" in printed
    md = (d / "report.md").read_text()
    assert "| multihop train-length | 81.0% ± 2.5 | 41.0% ± 2.5 |" in md
    assert "▼" in md and "| broken-s1 | failed |  | 10s | data.paths: 'x' does not exist |" in md
    page = (d / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<img" in page and "src=\"plots/" not in page
    assert (d / "plots" / "headlines.png").stat().st_size > 10_000
    assert (d / "plots" / "curves" / "multihop_num_hops.png").is_file()
    rows = json.loads((d / "report.json").read_text())["rows"]
    assert rows[1]["ratios"]["gappy"]["verdict"] == "worse" and rows[1]["ratios"]["noisy"]["verdict"] == "parity"


def test_compare_of_a_folder_that_is_no_study_is_a_one_line_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}: no study.json")


def test_no_ratio_where_the_baseline_has_not_learned_the_probe(tmp_path, capsys):
    """A baseline near 0 on a probe gives ratios of noise (0.3% vs 0.6% reads as 2x): the row says why it has none,
    and the verdict counts such rows instead of calling the design at parity there."""
    d = _study(tmp_path, {
        "full": [(3.00, 0.003, 0.60), (3.02, 0.004, 0.62), (2.98, 0.002, 0.61)],
        "twice": [(3.01, 0.006, 0.58), (2.99, 0.007, 0.60), (3.00, 0.006, 0.57)],
    })
    assert main([str(d)]) == 0
    printed = capsys.readouterr().out
    assert "the baseline is below 10% on 1 of 2 probe metrics, where no gap can show" in printed
    md = (d / "report.md").read_text()
    assert "| multihop train-length | n/a (baseline < 10%) |" in md
    rows = json.loads((d / "report.json").read_text())["rows"]
    assert rows[1]["ratios"]["twice"] is None and rows[2]["ratios"]["twice"]["verdict"] == "parity"


def test_headline_panels_name_their_unit():
    from eval.compare.plots import _ylabel
    from eval.compare.table import Row

    assert _ylabel(Row("regular-prompt LM loss", "loss", {}, {})) == "loss (nats/token)"
    assert _ylabel(Row("regular-prompt perplexity", "loss", {}, {})) == "perplexity"
    assert _ylabel(Row("mqar train-length", "accuracy", {}, {})) == "accuracy (%)"


def test_a_design_with_no_finished_cell_keeps_the_headline_figure_its_size(tmp_path):
    """A study still running has designs without results: their "n/a" marks stay inside the panels (on a loss
    panel, a mark at y=0 once stretched the figure to 60,000 pixels)."""
    import struct

    d = _study(tmp_path, {"full": [(3.00, 0.8, 0.6), (3.02, 0.82, 0.62)], "pending": [(3.0, 0.5, 0.5)]},
               failed="pending-s0")
    assert main([str(d)]) == 0
    width, height = struct.unpack(">II", (d / "plots" / "headlines.png").read_bytes()[16:24])
    assert width < 2000 and height < 600, (width, height)


def test_wall_time_counts_only_the_sittings_in_which_cells_ran(tmp_path):
    from eval.compare.report import busy_seconds

    assert busy_seconds([(0, 10), (5, 12), (100, 110), (101, 102)]) == 22.0
    assert busy_seconds([]) == 0.0
    d = _study(tmp_path, {"full": [(3.0, 0.8, 0.6), (3.0, 0.8, 0.6)], "other": [(3.0, 0.5, 0.5), (3.0, 0.5, 0.5)]})
    sittings = [["2026-01-01 10:00:00", "2026-01-01 10:04:00"], ["2026-01-02 09:00:00", "2026-01-02 09:06:00"]]
    for i, cell in enumerate(sorted(p for p in d.iterdir() if p.is_dir())):  # first attempts overlap, then resumes
        status = json.loads((cell / "cell.json").read_text())
        status.update(spans=[[sittings[0][0], f"2026-01-01 10:0{i}:30"], sittings[1]], commit=f"c{i % 2}")
        (cell / "cell.json").write_text(json.dumps(status))
    assert main([str(d)]) == 0
    md = (d / "report.md").read_text()
    assert "(cells trained at c0, c1); wall time 9.5 min (" in md  # 3.5 min of the first sitting + 6 of the second
