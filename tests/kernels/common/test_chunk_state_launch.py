"""Launch configurations picked on the host side: the chunk-state walk's value-block widths and software pipelining
follow how many walks there are per SM (measured on an H200, see `chunk_state._launch`)."""
from __future__ import annotations

import pytest

from kernels.common.chunk_state import WalkLaunch, _launch, split_output

H200_SMS = 132


@pytest.mark.parametrize("batch, expected", [
    (1, WalkLaunch(16, 3, 16, 2, 4)),  # 128 programs at BV=16: one per SM, both directions pipelined
    (2, WalkLaunch(32, 3, 32, 2, 4)),  # 256 at BV=16 would be two per SM: BV=32, 128 programs
    (4, WalkLaunch(64, 2, 32, 1, 4)),  # more walks: wide forward blocks, two stages up to two programs per SM
    (8, WalkLaunch(64, 2, 32, 1, 4)),
    (16, WalkLaunch(64, 1, 32, 1, 4)),
])
def test_walk_narrows_value_blocks_and_pipelines_when_walks_are_few(batch: int, expected: WalkLaunch) -> None:
    # H = 16 heads, K = V = 128, float16 chunk tensors (the 16-bit products)
    assert _launch(128, 128, True, batch * 16, H200_SMS) == expected


def test_float32_chunk_tensors_and_wide_keys_keep_their_blocks() -> None:
    # float32: BV=64 at 8 warps whatever the count, one stage (two of its fp32 tiles would not fit shared memory)
    assert _launch(128, 128, False, 16, H200_SMS) == WalkLaunch(64, 1, 64, 1, 8)
    assert _launch(256, 256, True, 64, H200_SMS) == WalkLaunch(16, 1, 16, 1, 4)  # K > 128: registers cap BV at 16
    # never wider than the padded value dim (16 at least)
    assert _launch(64, 8, True, 1, H200_SMS) == WalkLaunch(16, 3, 16, 2, 4)
    assert _launch(64, 8, True, 200, H200_SMS) == WalkLaunch(16, 2, 16, 1, 4)


@pytest.mark.parametrize("batch, split", [(1, True), (2, False), (4, False), (8, False)])
def test_output_leaves_the_walk_only_for_one_sequence_of_16_heads(batch: int, split: bool) -> None:
    # 16 walks x 8 value blocks of 16 fill 128 of 132 SMs; two sequences would need two programs per SM
    assert split_output(batch * 16, 128, H200_SMS) is split


def test_host_cdiv_is_the_ceiling_of_the_division() -> None:
    # the launch grids' plain-Python ceil(a / b), in place of Triton's constexpr `triton.cdiv` (same values)
    import triton

    from kernels.utils.triton_support import cdiv
    for a in (0, 1, 15, 16, 17, 4095, 4096, 32768 + 5):
        for b in (1, 16, 64):
            assert cdiv(a, b) == triton.cdiv(a, b) == -(-a // b)
