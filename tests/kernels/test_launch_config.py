"""Launch configurations picked on the host side: the chunk-state walk's value-block width and its forward's
software pipelining follow how many walks there are per SM (measured on an H200, see `triton_chunk_state._launch`)."""
from __future__ import annotations

import pytest

from kernels.triton_chunk_state import _launch

H200_SMS = 132


@pytest.mark.parametrize("batch, expected_bv, expected_stages", [(1, 16, 2), (2, 16, 2), (4, 32, 2), (8, 32, 1)])
def test_walk_narrows_value_blocks_and_pipelines_when_walks_are_few(batch: int, expected_bv: int,
                                                                   expected_stages: int) -> None:
    # H = 16 heads, K = V = 128, 16-bit chunk tensors: BV = 32 gives batch * 16 * 4 programs; two stages up to two
    # programs per SM
    assert _launch(128, 128, True, batch * 16, H200_SMS) == (expected_bv, 4, expected_stages)


def test_float32_chunk_tensors_and_wide_keys_keep_their_blocks() -> None:
    # float32: BV=64 at 8 warps whatever the count, one stage (two of its fp32 tiles would not fit shared memory)
    assert _launch(128, 128, False, 16, H200_SMS) == (64, 8, 1)
    assert _launch(256, 256, True, 64, H200_SMS) == (16, 4, 1)  # K > 128: the state's registers cap BV at 16
    assert _launch(64, 8, True, 1, H200_SMS) == (16, 4, 2)  # never wider than the padded value dim (16 at least)
