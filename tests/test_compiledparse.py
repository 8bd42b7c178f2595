"""Compiled parsing of plain numbers: Arrow's values, bit for bit, or a fall-back to Arrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from custseg.io import ids, numbers
from custseg.io.compiledparse import plain_decimals, plain_integers
from custseg.optional import mark_compiled_code_loaded


def _plain_cells(rng: np.random.Generator, n: int) -> list[str]:
    cells = []
    for _ in range(n):
        whole = str(rng.integers(0, 10 ** rng.integers(1, 10)))
        cell = whole if rng.random() < 0.5 else f"{whole}.{rng.integers(0, 10 ** 5):0{rng.integers(1, 6)}d}"
        cells.append(("-" if rng.random() < 0.3 else "") + cell[:15 + cell.count(".")])
    return cells


def test_plain_decimals_are_arrows_values_bit_for_bit():
    rng = np.random.default_rng(5)
    cells = [*_plain_cells(rng, 20_000), "0", "-0", "0.1", "0.3", "2.675", "999999999999999",
             "99999999999999.9", "0.00000000000001", "007", "1.10"]
    parsed = plain_decimals(pa.array(cells))
    expected = pc.cast(pa.array(cells), pa.float64()).to_numpy()
    assert parsed is not None
    assert np.array_equal(parsed.view(np.int64), expected.view(np.int64))


@pytest.mark.parametrize("cell", ["", "-", " 1", "1 ", "+1", "1.", ".5", "-.5", "1.2.3", "1e5",
                                  "1,5", "inf", "nan", "NA", "1234567890123456", "0.1234567890123456", "0.000000000000001",
                                  "١٢"])
def test_anything_else_leaves_the_column_to_arrow(cell):
    assert plain_decimals(pa.array(["1", cell, "2"])) is None


def test_missing_cells_and_other_types_are_left_to_arrow():
    assert plain_decimals(pa.array(["1", None])) is None
    assert plain_decimals(pa.array(["1"], pa.large_string())) is None
    assert plain_integers(pa.array(["1", None])) is None


@pytest.mark.parametrize("cells", [["0", "17", "999999999999999999"], ["1", "007"], ["1", "+7"],
                                   ["1", "-7"], ["1", " 7"], ["1", "1000000000000000000"],
                                   ["1", ""], ["1", "7a"], ["12", "3.0"]])
def test_plain_integers_are_the_arrow_paths_keys(cells):
    compiled = plain_integers(pa.array(cells))
    reference = ids.plain_integer_keys(pa.array(cells))  # small: Arrow's cast and checks
    assert (compiled is None) == (reference is None)
    if reference is not None:
        assert compiled.tolist() == reference.tolist()


@pytest.mark.parametrize("spoil", [None, "12k", " 7", "1e3"])
def test_parse_numbers_gives_the_same_on_large_columns_either_way(monkeypatch, spoil):
    plain_decimals(pa.array(["1"]))
    mark_compiled_code_loaded()  # as the first compiled call of a run does
    rng = np.random.default_rng(8)
    cells = _plain_cells(rng, numbers.COMPILED_MIN_CELLS)
    if spoil is not None:
        cells[-3] = spoil
    column = pa.chunked_array([pa.array(cells[:1000]), pa.array(cells[1000:])])
    fast = numbers.parse_numbers(column)
    monkeypatch.setenv("CUSTSEG_NO_JIT", "1")
    slow = numbers.parse_numbers(column)
    assert np.array_equal(fast[0], slow[0], equal_nan=True)
    assert np.array_equal(fast[1], slow[1])
    assert np.array_equal(fast[0].view(np.int64)[:10], slow[0].view(np.int64)[:10])
