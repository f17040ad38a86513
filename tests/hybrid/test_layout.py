"""Layer layout from ratio / pattern, and its errors."""
from __future__ import annotations

import pytest

from hybrid.layout import build_layout, format_layout


@pytest.mark.parametrize("n, ratio, expected", [
    (8, "3:1", "LLLALLLA"),
    (8, "7:1", "LLLLLLLA"),
    (4, "1:0", "LLLL"),
    (4, "0:1", "AAAA"),
    (6, "2:1", "LLALLA"),
])
def test_ratio_lays_out_linear_blocks_then_attention(n, ratio, expected):
    assert "".join(build_layout(n, ratio)) == expected


def test_pattern_string_repeats_and_list_is_explicit():
    assert "".join(build_layout(6, "3:1", "LA")) == "LALALA"
    assert build_layout(3, "3:1", ["A", "L", "l"]) == ["A", "L", "L"]


@pytest.mark.parametrize("n, ratio, pattern, match", [
    (6, "3:1", None, "not a multiple"),
    (8, "3:2", None, "N:1"),
    (8, "three", None, "two integers"),
    (8, "0:0", None, "not both zero"),
    (4, "3:1", "LXA", "only contain"),
    (4, "3:1", ["L", "A"], "lists 2 layers"),
    (0, "3:1", None, ">= 1"),
])
def test_layout_errors(n, ratio, pattern, match):
    with pytest.raises(ValueError, match=match):
        build_layout(n, ratio, pattern)


def test_format_groups_by_unit():
    assert format_layout(build_layout(8, "3:1")) == "L L L A | L L L A"
    assert format_layout(build_layout(4, "1:0")) == "L L L L"
