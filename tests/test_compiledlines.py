"""Compiled plain lines: the bytes of the Arrow kernels' lines and of their regrouping."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.io.compiledlines import SLACK, LineFormatter
from custseg.io.csvlines import line_tails, lines_body, lines_by_code, plain_lines

_ALPHABET = np.array(list("abcXYZ019 .-+=@·é€"))


def _cells(rng: np.random.Generator, n: int, longest: int) -> list[str]:
    return ["".join(rng.choice(_ALPHABET, rng.integers(0, longest + 1))) for _ in range(n)]


def _exact(cells: list[str]) -> pa.Array:
    """A string array whose data buffer ends with its last cell (no spare bytes after it)."""
    data = "".join(cells).encode()
    offsets = np.concatenate([[0], np.cumsum([len(c.encode()) for c in cells])]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(cells),
                                 [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


def _table(rng: np.random.Generator, n: int, layout: str) -> pa.Table:
    """Cells of 0 to 40 bytes (copies of one, two and three vectors), in several layouts."""
    columns = {f"c{j}": _cells(rng, n, longest) for j, longest in enumerate([3, 17, 40])}
    if layout == "exact":  # every buffer ends at its last cell: the last rows read past it
        return pa.table({name: _exact(cells) for name, cells in columns.items()})
    table = pa.table({name: pa.array(cells, pa.string()) for name, cells in columns.items()})
    if layout == "chunked":  # columns chunked differently, slices with offsets
        cut = n // 3
        return pa.table({
            "c0": pa.chunked_array([table["c0"].chunk(0).slice(0, cut),
                                    table["c0"].chunk(0).slice(cut)]),
            "c1": table["c1"].chunk(0),
            "c2": pa.chunked_array([_exact(columns["c2"][:n - 5]), _exact(columns["c2"][n - 5:])]),
        })
    if layout == "sliced":
        return pa.concat_tables([table, table]).slice(n // 2, n)
    return table


def _reference(table: pa.Table, tails: pa.Array, codes: np.ndarray, groups: np.ndarray, k: int
               ) -> tuple[bytes, list[bytes]]:
    lines = plain_lines(table, tails, codes)
    grouped, bounds = lines_by_code(lines, groups, k)
    return (lines_body(lines).to_pybytes(),
            [lines_body(grouped, bounds[j], bounds[j + 1]).to_pybytes() for j in range(k)])


@pytest.fixture
def tails() -> pa.Array:
    names = ["Careful · low", "Target", "A segment name longer than thirty-two bytes", ""]
    return line_tails([[str(3 * j + 1), names[j], flag] for j in range(4) for flag in "01"])


@pytest.mark.parametrize("layout", ["plain", "exact", "chunked", "sliced"])
@pytest.mark.parametrize("n", [1, 2, 40, 3000])
def test_the_bytes_are_the_arrow_kernels(tails, layout, n):
    rng = np.random.default_rng(n)
    table = _table(rng, n, layout)
    groups = rng.integers(0, 4, n)
    groups[groups == 3] = 0 if n > 2 else 3  # an empty group
    codes = groups * 2 + rng.integers(0, 2, n)  # tails by segment and outlier flag
    body, grouped = LineFormatter(tails, 4).format(table, codes, groups)
    expected_body, expected_groups = _reference(table, tails, codes, groups, 4)
    assert body.tobytes() == expected_body
    assert [g.tobytes() for g in grouped] == expected_groups


@pytest.mark.parametrize("layout", ["plain", "exact", "chunked"])
def test_without_groups_only_the_body_is_written(tails, layout):
    rng = np.random.default_rng(11)
    table = _table(rng, 700, layout)
    codes = rng.integers(0, len(tails), 700)
    body, grouped = LineFormatter(tails, 0).format(table, codes)
    assert grouped == []
    assert body.tobytes() == lines_body(plain_lines(table, tails, codes)).to_pybytes()


def test_one_group_and_codes_as_groups():
    table = pa.table({"id": ["1", "22", "333"], "empty": ["", "", ""]})
    tails = line_tails([["0", "Everyone"]])
    body, grouped = LineFormatter(tails, 1).format(table, np.zeros(3, dtype=np.int64))
    assert body.tobytes() == b"1,,0,Everyone\n22,,0,Everyone\n333,,0,Everyone\n"
    assert [g.tobytes() for g in grouped] == [body.tobytes()]


def test_a_result_stays_valid_while_the_next_batch_is_formatted(tails):
    rng = np.random.default_rng(7)
    formatter = LineFormatter(tails, 4)
    tables = [_table(rng, 500, "plain") for _ in range(3)]
    groups = [rng.integers(0, 4, 500) for _ in range(3)]
    results = []
    for table, g in zip(tables, groups, strict=True):
        results.append(formatter.format(table, g * 2, g))
        if len(results) > 1:  # the previous result, after this call
            body, grouped = results[-2]
            expected = _reference(tables[len(results) - 2], tails, groups[len(results) - 2] * 2,
                                  groups[len(results) - 2], 4)
            assert (body.tobytes(), [x.tobytes() for x in grouped]) == (expected[0], expected[1])


def test_buffers_keep_room_for_the_last_copy(tails):
    table = pa.table({"a": _exact(["x" * 33])})
    formatter = LineFormatter(tails, 4)
    body, grouped = formatter.format(table, np.array([2]), np.array([1]))
    assert body.base is not None
    assert body.base.size >= body.size + SLACK
    assert grouped[1].tobytes() == body.tobytes() == b"x" * 33 + b",4,Target,0\n"


def test_a_table_without_columns_gives_the_tails_alone():
    body, grouped = LineFormatter(line_tails([["0"], ["1"]]), 2).format(
        pa.table({"a": ["x", "y"]}).drop_columns(["a"]), np.array([1, 0]))
    assert body.tobytes() == b"1\n0\n"
    assert [g.tobytes() for g in grouped] == [b"0\n", b"1\n"]


@pytest.mark.parametrize(("codes", "groups"), [([0, 2], [0, 0]), ([0, 1], [0, 2]), ([-1, 0], None),
                                               ([0], [0])])
def test_codes_and_groups_out_of_range_are_refused(codes, groups):
    formatter = LineFormatter(line_tails([["0"], ["1"]]), 2)
    with pytest.raises(ValueError, match=r"outside|one code"):
        formatter.format(pa.table({"a": ["x", "y"]}), np.array(codes),
                         None if groups is None else np.array(groups))
