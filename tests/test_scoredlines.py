"""Scored rows written as compiled lines: the bytes of Arrow's CSV writer, or its path."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.io.csvsafe import TableWriter
from custseg.outputs import scoredlines
from custseg.outputs.scoredlines import ScoredRows

NAMES = ["Careful · low", "Target", "A segment name longer than thirty-two bytes"]
#: Distances whose shortest text takes every form Arrow writes (exponents, integers, 17 digits).
SPECIAL = [0.0, 5e-324, 1e-7, 0.1, 1.0, 2.5, 1e16, 1e21, 123456789.125, 1 / 3, 2.0 ** 60]


def _ids(kind: str, n: int, rng: np.random.Generator) -> pa.Array | pa.ChunkedArray:
    numbers = rng.permutation(n).astype(np.int64) + 10 ** 6
    if kind == "int64":
        return pa.array(numbers)
    if kind == "int32 negative":
        return pa.array((numbers - 2 * 10 ** 6).astype(np.int32))
    if kind == "text":
        return pa.array([f"C{v}" for v in numbers])
    if kind == "large text":
        return pa.array([f"C{v}" for v in numbers], pa.large_string())
    if kind == "chunked":
        text = pa.array([f"C{v}" for v in numbers])
        return pa.chunked_array([text.slice(0, n // 3), text.slice(n // 3)])
    if kind == "comma":
        return pa.array([f"C{v}" if v % 7 else f"C,{v}" for v in numbers])
    if kind == "formula":
        return pa.array([f"C{v}" if v % 5 else f"=C{v}" for v in numbers])
    if kind == "negative text":
        return pa.array([str(-v) for v in numbers])
    if kind == "float":
        return pa.array(numbers.astype(np.float64) / 4)
    raise AssertionError(kind)


def _chunk(rng: np.random.Generator, n: int, kind: str) -> tuple:
    distance = rng.random(n) * 4
    distance[:len(SPECIAL)] = SPECIAL[:n]
    return _ids(kind, n, rng), rng.integers(0, 3, n), distance, rng.random(n) < 0.1


def _file(path, rows: ScoredRows, chunks: list[tuple]) -> bytes:
    with TableWriter(path) as writer:
        for chunk in chunks:
            rows.write(writer, *chunk)
    return path.read_bytes()


@pytest.fixture
def compiled(monkeypatch):
    """Every chunk of at least 1 row may take the compiled lines."""
    monkeypatch.setattr(scoredlines, "COMPILED_MIN_ROWS", 1)


@pytest.mark.parametrize(("kind", "as_lines"), [
    ("int64", True), ("int32 negative", True), ("text", True), ("large text", True),
    ("chunked", True), ("comma", False), ("formula", False), ("negative text", False),
    ("float", False)])
def test_the_lines_are_the_bytes_of_the_table_path(tmp_path, compiled, kind, as_lines):
    rng = np.random.default_rng(3)
    chunks = [_chunk(rng, n, kind) for n in (1000, 7, 2500)]
    rows = ScoredRows("CustomerID", np.array([2, 0, 1]), NAMES)
    assert (rows.lines(*chunks[0]) is not None) == as_lines
    expected = _table_file(tmp_path / "table.csv", rows, chunks)
    assert _file(tmp_path / "lines.csv", rows, chunks) == expected


def _table_file(path, rows: ScoredRows, chunks: list[tuple]) -> bytes:
    with TableWriter(path) as writer:
        for chunk in chunks:
            writer.write(rows.table(*chunk))
    return path.read_bytes()


def test_the_file_reads_as_expected(tmp_path, compiled):
    rows = ScoredRows("id", np.array([4, 7]), ["Careful", "Target"])
    chunk = (pa.array(["a", "b"]), np.array([1, 0]), np.array([0.5, 1e-7]), np.array([False, True]))
    assert rows.lines(*chunk) is not None
    assert _file(tmp_path / "s.csv", rows, [chunk]) == (
        b"id,Cluster,Segment,distance,atypical\na,7,Target,0.5,false\nb,4,Careful,1e-7,true\n")


@pytest.mark.parametrize("names", [["A, B", "C"], ["=cmd", "C"], ['Say "hi"', "C"]])
def test_names_needing_quotes_or_a_guard_take_the_table_path(tmp_path, compiled, names):
    rng = np.random.default_rng(5)
    rows = ScoredRows("CustomerID", np.array([0, 1]), names)
    chunk = (_ids("int64", 50, rng), rng.integers(0, 2, 50), rng.random(50), rng.random(50) < 0.5)
    assert rows.lines(*chunk) is None
    assert _file(tmp_path / "a.csv", rows, [chunk]) == _table_file(tmp_path / "b.csv", rows, [chunk])


def test_small_chunks_and_missing_ids_take_the_table_path():
    rows = ScoredRows("CustomerID", np.array([0]), ["All"])
    assert rows.lines(pa.array(np.arange(10)), np.zeros(10, np.int64), np.ones(10),
                      np.zeros(10, bool)) is None  # below COMPILED_MIN_ROWS
    n = scoredlines.COMPILED_MIN_ROWS
    ids = pa.array([None, *range(n - 1)], pa.int64())
    assert rows.lines(ids, np.zeros(n, np.int64), np.ones(n), np.zeros(n, bool)) is None
    assert rows.lines(pa.array(np.arange(n)), np.zeros(n, np.int64), np.ones(n),
                      np.zeros(n, bool)) is not None
