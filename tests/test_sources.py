"""Readers: encodings, delimiters, line endings, formats, and row numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custseg.data.readers import detect_format, from_dataframe, read_table
from custseg.exceptions import ConfigError, InputFileError

ROWS = [["1", "Zoë", "15", "39"], ["2", "José", "16", "81"], ["3", "Ana", "17", "6"]]
HEADER = ["CustomerID", "Name", "Annual Income (k$)", "Spending Score (1-100)"]


def _text(delimiter: str = ",", newline: str = "\n") -> str:
    return newline.join(delimiter.join(r) for r in [HEADER, *ROWS]) + newline


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_dialects_read_the_same(tmp_path, encoding, delimiter, newline):
    path = tmp_path / "c.csv"
    path.write_bytes(_text(delimiter, newline).encode(encoding))
    raw = read_table(path)
    assert raw.table.column_names == HEADER
    assert raw.table.to_pylist() == [dict(zip(HEADER, r, strict=True)) for r in ROWS]
    assert raw.source.delimiter == delimiter
    assert raw.row_numbers.tolist() == [2, 3, 4]


def test_cells_are_kept_as_text(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("CustomerID,x\n0001,1.50\n0002,2\n")
    raw = read_table(path)
    assert raw.table.column("CustomerID").to_pylist() == ["0001", "0002"]
    assert raw.table.column("x").to_pylist() == ["1.50", "2"]


def test_malformed_rows_are_reported_with_their_row(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n")
    raw = read_table(path)
    assert raw.table.column("a").to_pylist() == ["1", "6", "13"]
    assert raw.row_numbers.tolist() == [2, 4, 6]
    assert raw.parse_rejects["row"].tolist() == [3, 5]
    assert raw.parse_rejects["reason"].tolist() == [
        "wrong number of fields: expected 3, found 2", "wrong number of fields: expected 3, found 4"]
    assert raw.n_input == 5


def test_quoted_newlines_and_delimiters_inside_fields(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,note,v\n1,"two\nlines",3\n2,"a,b",4\n')
    raw = read_table(path)
    assert raw.table.column("note").to_pylist() == ["two\nlines", "a,b"]


def test_trailing_delimiter_makes_an_unnamed_column(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a,b,\n1,2,\n")
    assert read_table(path).table.column_names == ["a", "b", "Unnamed: 2"]


def test_parquet_keeps_types(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [1, 2], "x": [1.5, 2.5]}), path)
    raw = read_table(path)
    assert raw.table.schema.field("x").type == pa.float64()
    assert raw.source.format == "parquet"
    assert raw.row_numbers.tolist() == [2, 3]


def test_excel_reads_cells_as_text(tmp_path):
    path = tmp_path / "c.xlsx"
    pd.DataFrame({"id": ["0001", "0002"], "x": [15, 16.5]}).to_excel(path, index=False)
    raw = read_table(path)
    assert raw.table.column("id").to_pylist() == ["0001", "0002"]
    assert raw.table.column("x").to_pylist() == ["15", "16.5"]


def test_format_option_overrides_extension(tmp_path):
    path = tmp_path / "customers.data"
    path.write_text("a,b\n1,2\n")
    assert read_table(path, "csv").table.num_rows == 1
    with pytest.raises(InputFileError, match="Cannot tell the format"):
        read_table(path)


@pytest.mark.parametrize(("name", "fmt"), [("a.CSV", "csv"), ("a.tsv", "csv"), ("a.pq", "parquet"),
                                           ("a.xlsx", "excel")])
def test_detect_format(tmp_path, name, fmt):
    assert detect_format(tmp_path / name) == fmt


def test_unknown_format_option():
    with pytest.raises(ConfigError, match="Unknown --format 'json'"):
        detect_format(__import__("pathlib").Path("a.csv"), "json")


def test_fingerprint_is_sha256_of_the_bytes(tmp_path):
    import hashlib

    path = tmp_path / "c.csv"
    path.write_text(_text())
    assert read_table(path).source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_from_dataframe_with_mixed_object_column():
    raw = from_dataframe(pd.DataFrame({"a": [1, "x", None], "b": [1.0, 2.0, np.nan]}))
    assert raw.table.column("a").to_pylist() == ["1", "x", None]
    assert raw.n_input == 3
