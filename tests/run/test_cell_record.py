"""cell.json across attempts: each attempt appends its span and names the commit; an earlier attempt's traceback
does not outlive it."""
from __future__ import annotations

import json

from run.cell import read_status, run_cell


def test_an_attempt_appends_its_span_and_clears_an_earlier_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_COMMIT", "abc1234")
    run = tmp_path / "cell-s0"
    run.mkdir()
    (run / "error.txt").write_text("Traceback: an earlier attempt's failure\n")
    (run / "cell.json").write_text(json.dumps({"state": "failed", "attempts": 1, "wall_s_total": 5.0,
                                               "spans": [["2026-01-01 10:00:00", "2026-01-01 10:00:05"]]}))
    status = run_cell({"name": "cell-s0", "run_dir": str(run), "argv": ["trainer.max_stepz=1"]})  # CLI misuse
    assert status["rc"] == 2 and status["state"] == "failed" and status["attempts"] == 2
    assert "max_stepz" in status["error"]
    recorded = read_status(run)
    assert recorded["commit"] == "abc1234"
    assert len(recorded["spans"]) == 2 and recorded["spans"][0] == ["2026-01-01 10:00:00", "2026-01-01 10:00:05"]
    assert recorded["spans"][1] == [recorded["started"], recorded["finished"]]
    assert not (run / "error.txt").exists()
