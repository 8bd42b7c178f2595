"""Spreadsheet-safe CSV: formula cells neutralised, quotes only when needed, the table writers."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custseg.exceptions import OutputError
from custseg.io.csvsafe import (
    PARQUET_ROW_GROUP,
    TableWriter,
    any_structural,
    neutralise_formulas,
    plain_header,
    text_flags,
    write_csv,
    write_json,
)


@pytest.mark.parametrize(("cell", "expected"), [
    ("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-5", "-5"), ("+3.5", "+3.5"), ("ok", "ok"), ("a=b", "a=b"),
])
def test_formula_cells_are_neutralised(cell, expected):
    table = neutralise_formulas(pa.table({"c": [cell], "n": [-1.5]}))
    assert table.column("c").to_pylist() == [expected]
    assert table.column("n").to_pylist() == [-1.5]


def test_dictionary_columns_are_neutralised_and_stay_dictionaries():
    table = pa.table({"s": pa.array(["=x", "ok", "=x", None]).dictionary_encode()})
    out = neutralise_formulas(table).column("s")
    assert pa.types.is_dictionary(out.type)
    assert out.to_pylist() == ["'=x", "ok", "'=x", None]


def test_nulls_and_large_strings_survive():
    table = pa.table({"s": pa.array(["=1", None, "-7"], pa.large_string())})
    assert neutralise_formulas(table).column("s").to_pylist() == ["'=1", None, "-7"]


@pytest.mark.parametrize(("table", "flags"), [
    (pa.table({"a": ["x", "y"], "n": [1, 2]}), (False, False)),
    (pa.table({"a": ["x", "=1"]}), (True, False)),
    (pa.table({"a": ["x,y"]}), (False, True)),
    (pa.table({"a": ['say "hi"', "-5"]}), (True, True)),
    (pa.table({"a": pa.array(["a\nb"]).dictionary_encode()}), (False, True)),
])
def test_text_flags_never_miss_a_risky_cell(table, flags):
    formula, structural = text_flags(table)
    # The quick look may say "maybe"; it must never say "no" when a cell is risky.
    assert formula >= flags[0]
    assert structural >= flags[1]
    assert structural == any_structural(table)
    if not formula:
        assert neutralise_formulas(table).equals(table)


def test_plain_header():
    assert plain_header(["Annual Income (k$)", "Spending Score (1-100)"])
    assert not plain_header(["a,b"])
    assert not plain_header(['say "x"'])


def test_csv_quotes_only_when_needed(tmp_path):
    plain = write_csv(pa.table({"a": ["x", "y"], "b": [1, 2]}), tmp_path / "p.csv")
    assert plain.read_text() == "a,b\nx,1\ny,2\n"
    quoted = write_csv(pa.table({"a": ["x,1", 'say "hi"']}), tmp_path / "q.csv")
    assert pd.read_csv(quoted)["a"].tolist() == ["x,1", 'say "hi"']
    assert quoted.read_text().splitlines()[1] == '"x,1"'


def test_written_csv_roundtrips_injection_safely(tmp_path):
    path = write_csv(pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "Ann"], "v": [1, -2]}), tmp_path / "f.csv")
    back = pd.read_csv(path)
    assert back["name"].tolist() == ["'=HYPERLINK(\"x\")", "Ann"]
    assert back["v"].tolist() == [1, -2]
    assert path.read_bytes().count(b"\r") == 0  # LF line ends, UTF-8


def test_write_csv_creates_the_folder_and_keeps_empty_cells_empty(tmp_path):
    path = write_csv(pa.table({"s": ["a", None], "f": [1.5, None]}), tmp_path / "new" / "x.csv")
    assert path.read_text() == "s,f\na,1.5\n,\n"


TABLE = pa.table({"name": ["=cmd", "a, b", "ok"], "n": [1, 2, 3]})


def _write_batches(path, plain, batches):
    with TableWriter(path, plain=plain) as writer:
        for batch in batches:
            writer.write(batch)
    return writer


def test_plain_false_quotes_text_the_same_however_the_rows_are_batched(tmp_path):
    whole = _write_batches(tmp_path / "whole.csv", False, [TABLE]).path.read_text()
    assert whole == 'name,n\n"\'=cmd",1\n"a, b",2\n"ok",3\n'
    one_by_one = _write_batches(tmp_path / "rows.csv", False,
                                [TABLE.slice(i, 1) for i in range(3)]).path.read_text()
    assert one_by_one == whole
    # A subset of a table that needs quotes keeps its safety and its quoting style (so the file
    # of one segment reads like the file of all of them).
    part = _write_batches(tmp_path / "part.csv", False, [TABLE.filter(pa.array([True, False, True]))])
    assert part.path.read_text() == 'name,n\n"\'=cmd",1\n"ok",3\n'
    assert part.rows == 2


def test_plain_true_writes_no_quotes(tmp_path):
    table = pa.table({"id": ["0001", "0002", "0003"], "name": ["=x", "ok", "-5"], "n": [1.5, 2.0, -3.0]})
    writer = _write_batches(tmp_path / "p.csv", True, [table.slice(0, 2), table.slice(2)])
    assert writer.path.read_text() == "id,name,n\n0001,'=x,1.5\n0002,ok,2\n0003,-5,-3\n"
    assert writer.rows == 3


def test_plain_none_decides_batch_by_batch(tmp_path):
    text = _write_batches(tmp_path / "n.csv", None,
                          [TABLE.slice(i, 1) for i in range(3)]).path.read_text()
    assert text == 'name,n\n\'=cmd,1\n"a, b",2\nok,3\n'
    assert pd.read_csv(tmp_path / "n.csv")["name"].tolist() == ["'=cmd", "a, b", "ok"]


def test_header_needing_quotes_is_quoted_even_when_plain(tmp_path):
    writer = _write_batches(tmp_path / "h.csv", True, [pa.table({"a,b": ["x"], "c": [1]})])
    assert pd.read_csv(writer.path).columns.tolist() == ["a,b", "c"]
    assert writer.path.read_text().splitlines()[0] == '"a,b","c"'


def test_header_only_and_already_neutralised_batches(tmp_path):
    schema = pa.schema([("a", pa.string()), ("b", pa.int64())])
    with TableWriter(tmp_path / "e.csv") as writer:
        writer.write_header(schema)
    assert (tmp_path / "e.csv").read_text() == "a,b\n"
    with TableWriter(tmp_path / "e2.csv") as writer:
        writer.write_header(schema)
        writer.write(pa.table({"a": ["x"], "b": [1]}, schema=schema))
        writer.write(neutralise_formulas(pa.table({"a": ["=y"], "b": [2]}, schema=schema)),
                     neutralised=True)
    assert (tmp_path / "e2.csv").read_text() == "a,b\nx,1\n'=y,2\n"  # one header, no double '


def test_parquet_keeps_types_and_cells(tmp_path):
    table = pa.table({"id": ["0001", "0002", "0003"], "name": ["=cmd", "a, b", "ok"],
                      "n": pa.array([1, 2, 3], pa.int32()), "x": [1.5, None, -2.0]})
    writer = _write_batches(tmp_path / "t.parquet", None, [table.slice(0, 1), table.slice(1)])
    back = pq.read_table(writer.path)
    assert back.schema.equals(table.schema, check_metadata=False)
    # Cells exactly as given: Parquet is typed data, not a spreadsheet.
    assert back.to_pylist() == table.to_pylist()
    assert writer.rows == 3


def test_parquet_row_groups(tmp_path):
    n = PARQUET_ROW_GROUP + PARQUET_ROW_GROUP // 2
    table = pa.table({"i": pa.array(range(n), pa.int64())})
    batches = [table.slice(start, 10_000) for start in range(0, n, 10_000)]
    writer = _write_batches(tmp_path / "big.parquet", None, batches)
    meta = pq.ParquetFile(writer.path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        PARQUET_ROW_GROUP, n - PARQUET_ROW_GROUP]
    assert pq.read_table(writer.path).column("i").to_pylist() == list(range(n))


def test_parquet_header_only(tmp_path):
    schema = pa.schema([("a", pa.string()), ("b", pa.float64())])
    with TableWriter(tmp_path / "e.parquet") as writer:
        writer.write_header(schema)
    back = pq.read_table(tmp_path / "e.parquet")
    assert back.num_rows == 0
    assert back.schema.equals(schema, check_metadata=False)


def test_unwritable_path_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"Cannot write .*Choose another place for the outputs"):
        write_csv(pa.table({"a": [1]}), tmp_path / "file" / "x.csv")


def test_write_json_is_sorted_and_stable(tmp_path):
    path = write_json({"b": 1, "a": ["é", 2]}, tmp_path / "sub" / "x.json")
    text = path.read_text(encoding="utf-8")
    assert text == '{\n  "a": [\n    "é",\n    2\n  ],\n  "b": 1\n}\n'
    assert json.loads(text) == {"a": ["é", 2], "b": 1}


@pytest.mark.parametrize(("name", "written"), [("=cmd|calc", "'=cmd|calc"), ("@SUM(A1)", "'@SUM(A1)"),
                                               ("+x", "'+x"), ("-5", "-5"), ("Age", "Age")])
def test_header_cells_are_spreadsheet_safe(tmp_path, name, written):
    path = write_csv(pa.table({name: ["a"], "Age": [1]}) if name != "Age" else pa.table({"Age": [1]}),
                     tmp_path / "t.csv")
    assert path.read_text(encoding="utf-8").splitlines()[0].split(",")[0] == written


def test_a_run_writes_safe_headers_everywhere(tmp_path):
    from custseg.config import RunConfig
    from custseg.pipeline import run

    rows = "".join(f"{i},{'ab'[i % 2]},{15 + i},{(i * 37) % 99 + 1}\n" for i in range(1, 21))
    path = tmp_path / "inj.csv"
    path.write_text("CustomerID,=cmd|calc,Annual Income (k$),Spending Score (1-100)\n" + rows)
    result = run(RunConfig(input=path, k=2, out=tmp_path / "out"))
    files = [tmp_path / "out" / "inj_clustered.csv", *sorted((tmp_path / "out" / "segments").glob("*.csv")),
             tmp_path / "out" / "segment_profiles.csv"]
    assert len(files) == 4
    for file in files:
        header = file.read_text(encoding="utf-8").splitlines()[0].split(",")
        assert not [cell for cell in header if cell.startswith("=")], file.name
        assert any(cell.startswith("'=cmd|calc") for cell in header), file.name
    assert result.rows.clustered == 20
