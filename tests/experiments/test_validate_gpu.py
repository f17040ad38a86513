"""The GPU validation script end to end on the CPU at a toy setting: runs, comparison plots, table, README block."""
from __future__ import annotations

import json

import pytest

from experiments.minimax_gap_validation.validate_gpu import MARK_END, MARK_START, RECIPES, main, parse_args, run_argv


def test_two_recipes_compared_and_written_into_a_readme(tmp_path):
    readme = tmp_path / "docs" / "README.md"
    readme.parent.mkdir()
    readme.write_text(f"# Probes\n\nintro\n\n{MARK_START}\nold table\n{MARK_END}\n\ntail\n")
    out = tmp_path / "val"
    rc = main([str(out), "--size", "tiny", "--steps", "2", "--recipes", "full_attention,linear_3to1",
               "--examples", "1", "--probes", "multihop", "--workers", "0", "--readme", str(readme),
               "--extra", "data.val_batches=1", "--extra", "eval.regular_docs=4"])
    assert rc == 0
    data = json.loads((out / "validation.json").read_text())
    assert list(data["runs"]) == ["full_attention", "linear_3to1"]
    assert all(r["steps"] == 2 and r["tokens"] == 2 * 8 * 128 for r in data["runs"].values())  # same tokens for all
    linear = {r["metric"]: r for r in data["summary"]["linear_3to1"]}
    assert linear["regular-prompt LM loss"]["baseline"] is not None  # compared with the first recipe
    text = readme.read_text()
    assert text.startswith("# Probes\n\nintro\n\n" + MARK_START) and text.endswith(MARK_END + "\n\ntail\n")
    assert "old table" not in text and "| multihop held-out |" in text and "`L L L A \\| L L L A`" in text
    assert "python -m experiments.minimax_gap_validation.validate_gpu" in text
    assert (readme.parent / "validation" / "multihop_num_hops_by_num_distractors.png").stat().st_size > 0
    assert (out / "compare" / "multihop_num_hops_by_num_distractors.png").is_file()
    # --apply writes the same block from the finished directory alone (what comes back from the GPU machine).
    other = tmp_path / "elsewhere" / "README.md"
    other.parent.mkdir()
    assert main([str(out), "--apply", "--readme", str(other)]) == 0
    def block(t: str) -> str:
        return t.split(MARK_START)[1].split(MARK_END)[0]

    assert block(other.read_text()) == block(text)
    assert (other.parent / "validation" / "multihop_num_hops_by_num_distractors.png").is_file()
    assert main([str(tmp_path / "nothing"), "--apply", "--readme", str(other)]) == 2


def test_a_rerun_reuses_finished_recipes_and_retrains_changed_ones(tmp_path, capsys):
    out = tmp_path / "val"
    argv = [str(out), "--size", "tiny", "--steps", "2", "--recipes", "full_attention,linear_3to1", "--examples", "1",
            "--probes", "multihop", "--workers", "0", "--extra", "data.val_batches=1", "--extra", "eval.regular_docs=4"]
    assert main(argv) == 0
    first = json.loads((out / "validation.json").read_text())["runs"]
    capsys.readouterr()
    (out / "linear_3to1" / "probes.json").unlink()  # an unfinished run is trained again
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "--- full_attention: 2 steps" in printed and printed.count("reused from an earlier run") == 1
    again = json.loads((out / "validation.json").read_text())["runs"]
    assert again["full_attention"] == first["full_attention"]  # same timings: not trained again
    assert (out / "linear_3to1" / "probes.json").is_file()
    assert main([*argv[:4], "3", *argv[5:]]) == 0  # other --steps: nothing reused
    assert "reused" not in capsys.readouterr().out


def test_recipes_after_the_baseline_train_in_parallel_processes(tmp_path):
    out = tmp_path / "val"
    rc = main([str(out), "--size", "tiny", "--steps", "2", "--recipes", "full_attention,linear_3to1,gdn_only",
               "--jobs", "2", "--examples", "1", "--probes", "multihop", "--workers", "0",
               "--extra", "data.val_batches=1", "--extra", "eval.regular_docs=4"])
    assert rc == 0
    data = json.loads((out / "validation.json").read_text())
    assert list(data["runs"]) == ["full_attention", "linear_3to1", "gdn_only"]  # recipe order, whatever finished first
    assert all(r["steps"] == 2 for r in data["runs"].values())
    for name in ("linear_3to1", "gdn_only"):  # each parallel run was compared with the baseline's probes
        rows = {r["metric"]: r for r in data["summary"][name]}
        assert rows["regular-prompt LM loss"]["baseline"] is not None
    assert data["runs"]["gdn_only"]["layout"] != data["runs"]["linear_3to1"]["layout"]
    assert data["jobs"] == 2 and "trained 2 at a time" in (out / "table.md").read_text()
    assert data["regular_kinds"] == ["filler", "single_turn"]  # data.loss_on=all scores both kinds


def test_defaults_and_arguments():
    args = parse_args(["out"])
    assert args.recipes.split(",") == list(RECIPES) and RECIPES[0] == "full_attention"
    argv = run_argv(args, "gdn_3to1")
    assert "recipe=gdn_3to1" in argv and "trainer.max_steps=250" in argv and "eval.every=0" in argv
    assert "optim.warmup_steps=25" in argv
    assert {a.split("=")[0] for a in argv if a.startswith("data.mixture.")} >= {
        f"data.mixture.{t}" for t in ("mqar", "copy", "state", "carryover", "niah", "filler")}
    with pytest.raises(SystemExit) as e:
        parse_args(["out", "--steps", "0"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        parse_args(["out", "--jobs", "0"])
    assert e.value.code == 2
