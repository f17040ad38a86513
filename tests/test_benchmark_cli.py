"""benchmarks/kernels.py's command line: --shapes picks (B, T) pairs, and a malformed one is a one-line usage error;
and its host-issue timer."""
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
