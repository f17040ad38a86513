"""benchmarks/kernels.py's command line: --shapes picks (B, T) pairs, and a malformed one is a one-line usage error;
its host-issue timer; and --record of every benchmark: a dated record in benchmarks/results/, never BENCHMARKS.md."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.benchmark_script import BENCHMARKS, load_benchmark

SCRIPT = BENCHMARKS / "kernels.py"


def test_shapes_parse_as_batch_by_length() -> None:
    shape_arg = load_benchmark("kernels").shape_arg
    assert shape_arg("1x32768") == (1, 32768)
    assert shape_arg("8X2048") == (8, 2048)


def test_ratio_shows_which_side_of_a_tie() -> None:
    ratio = load_benchmark("kernels").ratio
    assert ratio(2.0, 1.0) == "2.00x"
    assert ratio(1.94, 1.941) == "0.999x"  # two decimals would print 1.00x
    assert ratio(1.002, 1.0) == "1.002x"
    assert ratio("fails: OOM", 1.0) == "-"


@pytest.mark.parametrize("bad", ["4x", "4x40x6", "0x4096", "four"])
def test_malformed_shape_exits_2_naming_the_format(bad: str) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--shapes", bad], capture_output=True, text=True)
    assert run.returncode == 2
    assert "BxT" in run.stderr and repr(bad) in run.stderr


def test_host_ms_times_issuing_each_call() -> None:
    # a call that keeps the host busy 3 ms takes at least 3 ms to issue; the sync runs once before and once after
    import time
    syncs = []
    per_call = load_benchmark("kernels").host_ms(lambda: time.sleep(0.003), calls=4, sync=lambda: syncs.append(1))
    assert per_call >= 3.0 and len(syncs) == 2


@pytest.mark.parametrize("op", ["gated_delta_rule", "kda"])
def test_intra_ablation_variants_still_patch_the_kernels(op: str) -> None:
    # each variant of benchmarks/kernel_dev/intra_fwd_ablation.py replaces source text that must still be in the
    # kernels: all
    # load as modules (no GPU needed), each with the intra forward's entry point
    modules = load_benchmark("kernel_dev/intra_fwd_ablation").variants_for(op)
    assert "as is" in modules and "no solve" in modules and len(modules) >= 4
    assert all(callable(m.intra_chunk_fwd) for m in modules.values())


def test_intra_ablation_names_a_patch_that_no_longer_matches() -> None:
    tool = load_benchmark("kernel_dev/intra_fwd_ablation")
    expected = r"variant 'x' expects 'no such line' once in kernels/delta_rule/intra_wy_fwd.py"
    with pytest.raises(SystemExit, match=expected):
        tool.patched_modules("x", [(tool.FWD, "no such line", "")])


def test_stream_table_prints_each_row_as_it_arrives(capsys) -> None:
    stream_table = load_benchmark("common").stream_table
    table = stream_table(["op", "ms"], iter([["GDN", "0.39"], ["KDA", "0.60"]]))
    assert table == "| op | ms |\n|---|---|\n| GDN | 0.39 |\n| KDA | 0.60 |"
    assert capsys.readouterr().out == "| GDN | 0.39 |\n| KDA | 0.60 |\n"


def test_stream_table_keeps_the_rows_measured_before_an_interrupt(capsys) -> None:
    common = load_benchmark("common")

    def rows():
        yield ["GDN", "0.39"]
        raise KeyboardInterrupt  # what `timeout -s INT` delivers mid-run

    table = common.stream_table(["op", "ms"], rows())
    assert table.splitlines()[2:] == ["| GDN | 0.39 |", f"| {common.INTERRUPTED} |  |"]


@pytest.mark.parametrize("name, slug", [("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h200"),
                                        ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA GeForce RTX 4090", "4090"),
                                        ("CPU (x86_64, 2 cores)", "cpu")])
def test_device_slug_names_the_card(name: str, slug: str) -> None:
    assert load_benchmark("common").device_slug(name) == slug


ENV = {"date": "2026-12-06", "commit": "abc1234", "python": "3.12.3", "torch": "2.11.0", "device": "NVIDIA H200",
       "gpus": "1"}


def test_record_is_a_dated_file_with_its_header_and_never_overwrites(tmp_path, capsys) -> None:
    common = load_benchmark("common")
    benchmarks_md = BENCHMARKS.parent / "BENCHMARKS.md"
    before = benchmarks_md.read_text()
    first = common.write_record("e2e", "End to end", "| a |\n|---|\n| 1 |", "a note", tmp_path,
                                command="python benchmarks/e2e.py --steps 3", env=ENV)
    assert first == tmp_path / "2026-12-06_abc1234_e2e_h200.md"
    assert capsys.readouterr().out == f"record: {first}\n"
    text = first.read_text()
    assert text.startswith("# End to end (2026-12-06, abc1234, H200)\n\n- date: 2026-12-06\n- commit: abc1234\n"
                           "- device: NVIDIA H200, 1 GPU\n- versions: python 3.12.3, torch 2.11.0\n"
                           "- command: `python benchmarks/e2e.py --steps 3`\n\n| a |\n|---|\n| 1 |\n\na note\n")
    second = common.write_record("e2e", "End to end", "| b |", folder=tmp_path, env=ENV)
    assert second.name == "2026-12-06_abc1234_e2e_h200-2.md" and first.read_text() == text
    assert {p.name for p in tmp_path.iterdir()} == {first.name, second.name}  # no temp file left
    assert benchmarks_md.read_text() == before


def test_record_topic_must_be_a_slug(tmp_path) -> None:
    with pytest.raises(ValueError, match="lowercase slug such as 'train-throughput'"):
        load_benchmark("common").write_record("Train Throughput", "t", "|", folder=tmp_path, env=ENV)
    assert not list(tmp_path.iterdir())


RECORDING = ["kernels", "train_throughput", "data", "backend_loss_parity", "e2e", "multi_gpu_equality", "dsa_sparse",
             "kernel_dev/launch_variants",
             "kernel_dev/intra_fwd_ablation"]


@pytest.mark.parametrize("name", RECORDING)
def test_every_record_option_writes_a_dated_record(name: str) -> None:
    # the scripts' --record is common.record_arg and their record common.write_record; none writes BENCHMARKS.md
    source = (BENCHMARKS / f"{name}.py").read_text()
    assert "record_arg(" in source and "write_record(" in source
    assert "append_section" not in source and not hasattr(load_benchmark("common"), "append_section")


def test_record_option_takes_an_optional_folder() -> None:
    import argparse
    ap = argparse.ArgumentParser()
    common = load_benchmark("common")
    common.record_arg(ap)
    assert ap.parse_args([]).record is None
    assert ap.parse_args(["--record"]).record == common.RESULTS
    assert str(ap.parse_args(["--record", "/tmp/out"]).record) == "/tmp/out"


def test_dsa_sparse_runs_both_impls_and_records(tmp_path) -> None:
    script = BENCHMARKS / "dsa_sparse.py"
    run = subprocess.run([sys.executable, str(script), "--dims", "tiny", "--shapes", "1x40", "--steps", "1",
                          "--warmup", "0", "--device", "cpu", "--record", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("| 1 x 40 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1]) > 0 and float(cells[3]) > 0 and cells[5].endswith("x")  # both impls ran and timed
    (record,) = tmp_path.glob("*_dsa-sparse_cpu.md")
    assert row in record.read_text()


def test_data_benchmark_measures_the_synthetic_stream_and_records(tmp_path) -> None:
    script = BENCHMARKS / "data.py"
    run = subprocess.run([sys.executable, str(script), "--stream", "synthetic", "--workers", "0", "--seconds", "1",
                          "--seq-len", "128", "--batch-size", "4", "--record", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("| 0 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1].replace(",", "")) > 0 and int(cells[2]) > 0  # tokens were generated and counted
    (record,) = tmp_path.glob("*_data-synthetic_cpu.md")
    assert row in record.read_text()
