"""Plain CSV lines joined by one kernel: the same bytes as Arrow's CSV writer, regrouped by code."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from custseg.io.csvlines import joinable, line_tails, lines_body, lines_by_code, plain_lines


def _arrow_csv(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return sink.getvalue().to_pybytes()


def _random_table(rng: np.random.Generator, n: int, chunks: int = 1) -> pa.Table:
    alphabet = np.array(list("abcXYZ019 .-+=@·é€"))
    def cells() -> list[str]:
        return ["".join(rng.choice(alphabet, rng.integers(0, 8))) for _ in range(n)]
    table = pa.table({f"c{j}": pa.array(cells(), pa.string()) for j in range(3)})
    if chunks > 1 and n:
        cuts = sorted(rng.choice(np.arange(1, n), min(chunks - 1, n - 1), replace=False).tolist())
        pieces = [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
        table = pa.concat_tables(pieces)
    return table


@pytest.mark.parametrize(("n", "chunks"), [(0, 1), (1, 1), (57, 1), (1000, 4)])
def test_lines_are_the_bytes_arrows_csv_writer_writes(n, chunks):
    rng = np.random.default_rng(n)
    table = _random_table(rng, n, chunks)
    labels = rng.integers(0, 3, n)
    names = ["Careful · low", "Target", "'=risky"]
    tails = line_tails([[str(j + 10), names[j]] for j in range(3)])
    assert joinable(table, tails)
    lines = plain_lines(table, tails, labels)
    expected = table.append_column("Cluster", pa.array(labels + 10)).append_column(
        "Segment", pa.DictionaryArray.from_arrays(pa.array(labels.astype(np.int32)),
                                                  pa.array(names)))
    assert lines_body(lines).to_pybytes() == _arrow_csv(expected)
    assert len(lines) == n


def test_a_slice_of_the_lines_is_a_slice_of_the_body():
    table = pa.table({"a": ["1", "22", "333"], "b": ["x", "", "z"]})
    lines = plain_lines(table, line_tails([["0"]]), np.zeros(3, dtype=np.int64))
    assert lines_body(lines, 1, 3).to_pybytes() == b"22,,0\n333,z,0\n"
    assert lines_body(lines, 2, 2).to_pybytes() == b""


def test_lines_by_code_is_a_stable_grouping():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 5, 500)
    lines = pa.array([f"{i}\n" for i in range(500)])
    grouped, bounds = lines_by_code(lines, codes, 5)
    order = np.argsort(codes, kind="stable")
    assert grouped.to_pylist() == [f"{i}\n" for i in order]
    assert bounds.tolist() == [0, *np.cumsum(np.bincount(codes, minlength=5)).tolist()]
    one, bounds = lines_by_code(lines, np.zeros(500, dtype=np.int64), 1)
    assert one is lines
    assert bounds.tolist() == [0, 500]


@pytest.mark.parametrize("table", [
    pa.table({"a": pa.array(["1", None])}),          # a missing cell: Arrow writes it empty
    pa.table({"a": pa.array([1, 2])}),               # not text
    pa.table({"a": pa.array(["1", "2"], pa.large_string())}),
])
def test_tables_the_kernel_cannot_write_fall_back(table):
    assert not joinable(table, line_tails([["0"]]))
