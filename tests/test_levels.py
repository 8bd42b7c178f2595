"""Category cells as level codes (custseg.io.levels)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.io.levels import level_code, level_codes, level_text


def test_codes_depend_on_the_text_only():
    first, _ = level_codes(pa.chunked_array([["Male", "Female"], [" Male"]]))
    second, _ = level_codes(pa.array(["Female", "Male"]))
    assert first[0] == first[2] == second[1] == level_code("Male")
    assert first[1] == second[0] == level_code("Female")


@pytest.mark.parametrize("cells", [["", None, "  "], [None]])
def test_empty_cells_are_nan(cells):
    codes, texts = level_codes(pa.array(cells, pa.string()))
    assert np.isnan(codes).all()
    assert texts == {}


def test_codes_are_exact_floats():
    code = level_code("Female")
    assert code == int(code)
    assert 0 <= code < 2 ** 52


def test_numbers_as_categories_read_as_their_text():
    codes, texts = level_codes(pa.array([1, 2, None, 1], pa.int64()))
    assert sorted(texts.values()) == ["1", "2"]
    assert codes[0] == codes[3] == level_code("1")
    assert level_text(pa.array([3], pa.int64())).to_pylist() == ["3"]
