"""Whitespace-separated logs (CDNOW): detected, every line numbered, bad lines rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from custseg.io.sources import CsvSource, open_source
from custseg.io.whitespace import WhitespaceSource, is_whitespace_table
from tests.conftest import shared_dataset


def test_cdnow_is_read_as_whitespace_separated() -> None:
    source = open_source(shared_dataset("cdnow", "CDNOW_master.txt"))
    assert isinstance(source, WhitespaceSource)
    assert source.columns == ["customer_id", "date", "number_of_cds", "dollar_value"]
    chunk = source.read_all()
    assert chunk.table.num_rows == 69_659
    assert chunk.rows[0] == 2
    assert chunk.rows[-1] == 69_660
    assert chunk.table.slice(0, 1).to_pylist() == [
        {"customer_id": "00001", "date": "19970101", "number_of_cds": "1", "dollar_value": "11.77"}]


@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_chunks_keep_line_numbers_and_reject_bad_lines(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"id date amount\r\n1 20240101 5\r\n\r\n2 20240102\r\n3\t20240103   7\r\n"
                     b"4 20240104 8 extra\r\n5 20240105 9\r\n")
    chunks = list(WhitespaceSource(path).chunks(rows, ["id", "amount"]))
    kept = [(int(r), row) for c in chunks for r, row in zip(c.rows, c.table.to_pylist(), strict=True)]
    assert kept == [(2, {"id": "1", "amount": "5"}), (5, {"id": "3", "amount": "7"}),
                    (7, {"id": "5", "amount": "9"})]
    rejected = [r for c in chunks for r in c.parse_rejects.to_pylist()]
    assert [(r["row"], r["reason"]) for r in rejected] == [
        (3, "wrong number of fields: expected 3, found 0"),
        (4, "wrong number of fields: expected 3, found 2"),
        (6, "wrong number of fields: expected 3, found 4")]
    assert sum(c.n_records for c in chunks) == 6


@pytest.mark.parametrize(("text", "expected"), [
    ("a b c\n1 2 3\n4 5 6\n", True),
    ("a,b,c\n1,2,3\n", False),
    ("Customer ID\n1\n2\n", False),
    ("a;b\n1;2\n", False),
    ("Customer ID\n", False),
])
def test_detection(tmp_path: Path, text: str, expected: bool) -> None:
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    assert is_whitespace_table(path) is expected
    assert isinstance(open_source(path), WhitespaceSource if expected else CsvSource)
