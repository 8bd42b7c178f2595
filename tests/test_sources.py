"""Sources: encodings, delimiters, line endings, formats, row numbers, and reading in chunks."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custseg.exceptions import ConfigError, DataValidationError, InputFileError
from custseg.io.csvsource import CSV_BLOCK
from custseg.io.formats import detect_format
from custseg.io.rejects import REJECT_SCHEMA, as_frame
from custseg.io.sources import Chunk, FrameSource, Source, open_source
from tests.conftest import write_csv_text

ROWS = [["1", "Zoë", "15", "39"], ["2", "José", "16", "81"], ["3", "Ana", "17", "6"]]
HEADER = ["CustomerID", "Name", "Annual Income (k$)", "Spending Score (1-100)"]
#: Chunk sizes every chunked read is checked at: one row, a prime, more rows than the file.
CHUNK_ROWS = [1, 7, 1_000_000]
#: A CSV with malformed records (too few, too many fields; at the start, in a run, at the end).
MALFORMED = ("a,b,c\n"
             "1\n"
             "2,3,4\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n16,17\n18,19\n20,21,22\n"
             + "".join(f"{i},{i + 1},{i + 2}\n" for i in range(30, 60))
             + "70,71,72,73,74\n")


def _text(delimiter: str = ",", newline: str = "\n") -> str:
    return newline.join(delimiter.join(r) for r in [HEADER, *ROWS]) + newline


def _joined(chunks: list[Chunk]) -> tuple[pa.Table, list[int], pa.Table]:
    """The chunks put back together: parsed rows, their row numbers, the parse rejects."""
    assert chunks, "no chunk at all"
    table = pa.concat_tables([c.table for c in chunks])
    rows = np.concatenate([c.rows for c in chunks]).tolist()
    rejects = pa.concat_tables([c.parse_rejects for c in chunks])
    return table, rows, rejects


def _assert_chunks_match_whole(source: Source, rows: int) -> list[Chunk]:
    """``source.chunks(rows)`` hands out exactly ``source.read_all()``, in order, each record once."""
    whole = source.read_all()
    chunks = list(source.chunks(rows))
    table, numbers, rejects = _joined(chunks)
    assert table.column_names == whole.table.column_names
    assert table.to_pylist() == whole.table.to_pylist()
    assert numbers == whole.rows.tolist()
    assert len(set(numbers)) == len(numbers)  # no record handed out twice
    assert as_frame(rejects).to_dict("records") == as_frame(whole.parse_rejects).to_dict("records")
    assert sum(c.n_records for c in chunks) == whole.n_records
    for chunk in chunks:
        assert chunk.table.num_rows <= rows
        assert len(chunk.rows) == chunk.table.num_rows
        assert chunk.parse_rejects.schema.equals(REJECT_SCHEMA)
        # Rejects travel with the chunk whose rows surround them: row order holds across chunks.
        assert chunk.n_records > 0
    order = [r for c in chunks for r in sorted([*c.rows.tolist(),
                                                *c.parse_rejects.column("row").to_pylist()])]
    assert order == sorted(order)
    assert order == list(range(2, 2 + whole.n_records))
    return chunks


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_dialects_read_the_same(tmp_path, encoding, delimiter, newline):
    path = write_csv_text(tmp_path / "c.csv", _text(delimiter, newline), encoding)
    source = open_source(path)
    whole = source.read_all()
    assert source.columns == HEADER
    assert whole.table.column_names == HEADER
    assert whole.table.to_pylist() == [dict(zip(HEADER, r, strict=True)) for r in ROWS]
    assert source.info().delimiter == delimiter
    assert source.info().decimal_comma == (delimiter in (";", "\t"))
    assert whole.rows.tolist() == [2, 3, 4]
    assert whole.parse_rejects.num_rows == 0
    # The chunked reader decodes the same dialect the same way.
    _assert_chunks_match_whole(source, 2)


def test_cells_are_kept_as_text(tmp_path):
    path = write_csv_text(tmp_path / "c.csv", "CustomerID,x\n0001,1.50\n0002,2\n")
    for chunk in (open_source(path).read_all(), next(open_source(path).chunks(10))):
        assert chunk.table.column("CustomerID").to_pylist() == ["0001", "0002"]
        assert chunk.table.column("x").to_pylist() == ["1.50", "2"]
        assert chunk.table.schema.field("x").type == pa.string()


def test_malformed_rows_are_reported_with_their_row(tmp_path):
    path = write_csv_text(tmp_path / "c.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n")
    whole = open_source(path).read_all()
    assert whole.table.column("a").to_pylist() == ["1", "6", "13"]
    assert whole.rows.tolist() == [2, 4, 6]
    rejects = as_frame(whole.parse_rejects)
    assert rejects["row"].tolist() == [3, 5]
    assert rejects["reason"].tolist() == [
        "wrong number of fields: expected 3, found 2", "wrong number of fields: expected 3, found 4"]
    assert rejects["value"].tolist() == ["4,5", "9,10,11,12"]
    assert whole.n_records == 5


@pytest.mark.parametrize("rows", [*CHUNK_ROWS, 2, 3])
def test_chunks_give_the_rows_and_rejects_of_read_all(tmp_path, rows):
    source = open_source(write_csv_text(tmp_path / "c.csv", MALFORMED))
    whole = source.read_all()
    assert as_frame(whole.parse_rejects)["row"].tolist() == [2, 4, 6, 8, 9, 41]
    assert whole.n_records == 40
    chunks = _assert_chunks_match_whole(source, rows)
    if rows == 1_000_000:
        assert len(chunks) == 1
    if rows == 1:
        assert all(c.table.num_rows <= 1 for c in chunks)
        assert sum(c.table.num_rows == 1 for c in chunks) == whole.table.num_rows


def test_chunks_can_be_read_again_and_select_columns(tmp_path):
    source = open_source(write_csv_text(tmp_path / "c.csv", MALFORMED))
    first = _joined(list(source.chunks(7)))
    again = _joined(list(source.chunks(7)))
    assert first[0].equals(again[0])
    assert first[1] == again[1]
    table, rows, rejects = _joined(list(source.chunks(7, columns=["c", "a"])))
    assert table.column_names == ["c", "a"]
    assert table.column("c").to_pylist() == first[0].column("c").to_pylist()
    assert rows == first[1]
    assert rejects.column("row").to_pylist() == first[2].column("row").to_pylist()


def _long_record_csv(kind: str, where: str) -> tuple[str, str]:
    """A CSV with one record longer than the chunked reader's first block, and malformed ones."""
    big = "x\n" * 600_000 if kind == "newlines" else "y" * 2_500_000
    rows = [f"{i},n{i},{i}" for i in range(1, 40)]
    rows[5], rows[30] = "7,8", "1,2,3,4"
    at = {"start": 0, "middle": 20, "end": len(rows)}[where]
    # The long record once valid, once malformed (two fields): both must come back once.
    rows[at:at] = [f'98,"{big}"', f'99,"{big}",99', "short"]
    return "id,note,v\n" + "\n".join(rows) + "\n", big


@pytest.mark.parametrize("kind", ["newlines", "one line"])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("rows", CHUNK_ROWS)
def test_a_record_longer_than_the_block_is_read_once(tmp_path, kind, where, rows):
    text, big = _long_record_csv(kind, where)
    source = open_source(write_csv_text(tmp_path / "long.csv", text))
    whole = source.read_all()
    notes = whole.table.column("note").to_pylist()
    assert notes.count(big) == 1
    assert whole.table.num_rows == 38
    assert whole.n_records == 42
    long_rejects = [v for v in whole.parse_rejects.column("value").to_pylist() if big in v]
    assert len(long_rejects) == 1
    # Longer than the largest block the chunked reader starts with: it has to retry.
    assert len(big) > CSV_BLOCK
    chunks = _assert_chunks_match_whole(source, rows)
    table, numbers, rejects = _joined(chunks)
    assert table.column("note").to_pylist().count(big) == 1
    assert sum(big in v for v in rejects.column("value").to_pylist()) == 1
    assert table.column("id").to_pylist().count("99") == 1
    assert numbers == whole.rows.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("rows", [1, 7, 1000, 1_000_000])
def test_chunks_across_many_reader_blocks(tmp_path, rows):
    """A file of many reader blocks: malformed, multi-line and long records fall on block ends."""
    rng = np.random.default_rng(7)
    lines, bad = ["a,b,c"], []
    for i in range(30_000):
        kind = rng.random()
        if kind < 0.01:
            lines.append(f"{i},{i}")
            bad.append(i + 2)
        elif kind < 0.02:
            lines.append(f'{i},"multi\nline\n{i}",x')
        elif kind < 0.021:
            lines.append(f'{i},"' + "L" * int(rng.integers(5_000, 300_000)) + '",y')
        else:
            lines.append(f"{i},{2 * i},{'q' * int(rng.integers(0, 40))}")
    source = open_source(write_csv_text(tmp_path / "big.csv", "\n".join(lines) + "\n"))
    whole = source.read_all()
    assert whole.parse_rejects.column("row").to_pylist() == bad
    assert whole.rows.tolist() == sorted(set(range(2, 30_002)) - set(bad))
    assert whole.table.column("a").to_pylist() == [str(r - 2) for r in whole.rows.tolist()]
    _assert_chunks_match_whole(source, rows)


def test_quoted_newlines_and_delimiters_inside_fields(tmp_path):
    source = open_source(write_csv_text(tmp_path / "c.csv", 'id,note,v\n1,"two\nlines",3\n2,"a,b",4\n'))
    assert source.read_all().table.column("note").to_pylist() == ["two\nlines", "a,b"]
    assert source.read_all().rows.tolist() == [2, 3]  # records, not lines
    _assert_chunks_match_whole(source, 1)


def test_trailing_delimiter_makes_an_unnamed_column(tmp_path):
    source = open_source(write_csv_text(tmp_path / "c.csv", "a,b,\n1,2,\n"))
    assert source.columns == ["a", "b", "Unnamed: 2"]
    assert source.read_all().table.column_names == ["a", "b", "Unnamed: 2"]


def test_parquet_keeps_types(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [1, 2], "x": [1.5, 2.5]}), path)
    source = open_source(path)
    whole = source.read_all()
    assert whole.table.schema.field("x").type == pa.float64()
    assert whole.table.schema.field("id").type == pa.int64()
    assert source.info().format == "parquet"
    assert source.info().delimiter is None
    assert whole.rows.tolist() == [2, 3]


def test_excel_reads_cells_as_text(tmp_path):
    path = tmp_path / "c.xlsx"
    pd.DataFrame({"id": ["0001", "0002"], "x": [15, 16.5]}).to_excel(path, index=False)
    source = open_source(path)
    whole = source.read_all()
    assert whole.table.column("id").to_pylist() == ["0001", "0002"]
    assert whole.table.column("x").to_pylist() == ["15", "16.5"]
    assert source.info().format == "excel"


def _write_format(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=4)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["c.csv", "c.parquet", "c.xlsx", "<data frame>"])
@pytest.mark.parametrize("rows", CHUNK_ROWS)
def test_every_format_chunks_like_it_reads_whole(tmp_path, mall_df, name, rows):
    frame = mall_df.head(23)
    source = FrameSource(frame) if name == "<data frame>" else open_source(
        _write_format(tmp_path / name, frame))
    chunks = _assert_chunks_match_whole(source, rows)
    assert _joined(chunks)[0].num_rows == 23
    assert len(chunks) == -(-23 // rows)
    part = _joined(list(source.chunks(rows, columns=["Age"])))[0]
    assert part.column_names == ["Age"]
    assert part.num_rows == 23


def test_format_option_overrides_extension(tmp_path):
    path = write_csv_text(tmp_path / "customers.data", "a,b\n1,2\n")
    assert open_source(path, "csv").read_all().table.num_rows == 1
    with pytest.raises(InputFileError, match="Cannot tell the format"):
        open_source(path)


@pytest.mark.parametrize(("name", "fmt"), [("a.CSV", "csv"), ("a.tsv", "csv"), ("a.pq", "parquet"),
                                           ("a.xlsx", "excel")])
def test_detect_format(tmp_path, name, fmt):
    assert detect_format(tmp_path / name) == fmt


def test_unknown_format_option():
    with pytest.raises(ConfigError, match="Unknown --format 'json'"):
        detect_format(Path("a.csv"), "json")


def test_fingerprint_is_sha256_of_the_bytes(tmp_path):
    path = write_csv_text(tmp_path / "c.csv", _text())
    info = open_source(path).info()
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.size_bytes == path.stat().st_size
    assert info.name == "c.csv"


def test_frame_source_with_mixed_object_column():
    source = FrameSource(pd.DataFrame({"a": [1, "x", None], "b": [1.0, 2.0, np.nan]}))
    whole = source.read_all()
    assert whole.table.column("a").to_pylist() == ["1", "x", None]
    assert whole.n_records == 3
    assert whole.rows.tolist() == [2, 3, 4]
    assert source.info().format == "dataframe"


def test_frame_source_fingerprint_follows_the_content():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    same = FrameSource(frame.copy()).info().sha256
    assert FrameSource(frame).info().sha256 == same
    assert FrameSource(frame.assign(a=[1, 3])).info().sha256 != same


FIELD = st.one_of(st.integers(0, 999).map(str), st.sampled_from(["", "x", "a,b", 'say "hi"', "two\nlines",
                                                                 "é", " =1 ", "\r\nz"]))
RECORD = st.lists(FIELD, min_size=1, max_size=5)


@st.composite
def messy_records(draw):
    """A CSV of 3 columns whose records have 1..5 fields (some quoted, some over several lines),
    with blank lines here and there."""
    records = draw(st.lists(RECORD, min_size=0, max_size=30))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(["a", "b", "c"])
    for record in records:
        if record == [""]:
            record = ["-"]  # a lone empty field is a blank line: no record
        writer.writerow(record)
        if draw(st.integers(0, 9)) == 0:
            buffer.write(newline)  # a blank line between records
    return buffer.getvalue(), records


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=messy_records(), rows=st.integers(1, 12))
def test_chunks_match_read_all_on_any_csv(tmp_path_factory, data, rows):
    text, records = data
    path = write_csv_text(tmp_path_factory.mktemp("csv") / "m.csv", text)
    source = open_source(path)
    whole = source.read_all()
    # Every record is either parsed (three fields) or a reject, numbered in file order.
    assert whole.n_records == len(records)
    assert whole.table.num_rows == sum(len(r) == 3 for r in records)
    assert whole.table.to_pylist() == [dict(zip("abc", r, strict=True)) for r in records if len(r) == 3]
    assert as_frame(whole.parse_rejects)["row"].tolist() == [
        i + 2 for i, r in enumerate(records) if len(r) != 3]
    if whole.n_records:
        _assert_chunks_match_whole(source, rows)
    else:
        assert list(source.chunks(rows)) == []


@pytest.mark.parametrize("rows", CHUNK_ROWS)
def test_a_dataset_folder_reads_as_one_table(tmp_path, mall_df, rows):
    """A folder of Parquet part files (as Spark writes) is one input, its parts in file order;
    hidden and ``_``-prefixed files (``_SUCCESS``, ``.crc``) are ignored."""
    folder = tmp_path / "customers.parquet"
    folder.mkdir()
    table = pa.Table.from_pandas(mall_df, preserve_index=False)
    for i, start in enumerate(range(0, len(mall_df), 70)):
        pq.write_table(table.slice(start, 70), folder / f"part-{i:05d}.parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-00000.parquet.crc").write_bytes(b"junk")
    source = open_source(folder)
    assert source.columns == list(mall_df.columns)
    whole = source.read_all()
    assert whole.table.equals(table)
    chunks = list(source.chunks(rows))
    assert pa.concat_tables(c.table for c in chunks).equals(table)
    assert np.concatenate([c.rows for c in chunks]).tolist() == whole.rows.tolist()


def test_a_folder_without_part_files_is_not_a_dataset(tmp_path):
    folder = tmp_path / "customers.parquet"
    folder.mkdir()
    (folder / "notes.txt").write_text("not data")
    with pytest.raises(InputFileError, match="is a folder, not a file"):
        open_source(folder)


def test_a_header_longer_than_the_sniffed_bytes_is_read_whole(tmp_path):
    from custseg.io.formats import SNIFF_BYTES

    extra = [f"extra_column_{i:06d}" for i in range(SNIFF_BYTES // 15)]
    header = [*HEADER, *extra]
    lines = [",".join(header)] + [",".join([*r, *[""] * len(extra)]) for r in ROWS]
    path = write_csv_text(tmp_path / "wide.csv", "\n".join(lines) + "\n")
    assert len(lines[0]) > SNIFF_BYTES
    source = open_source(path)
    assert source.columns == header
    assert source.read_all().table.num_rows == len(ROWS)


def test_a_first_line_beyond_the_header_limit_is_a_clear_error(tmp_path, monkeypatch):
    import custseg.io.formats as formats

    monkeypatch.setattr(formats, "MAX_HEADER_BYTES", 1 << 20)
    path = write_csv_text(tmp_path / "oneline.csv", "a," * (1 << 20))
    with pytest.raises(InputFileError, match=r"^The first line of oneline.csv is longer than 1 MiB, "
                                             "so it is not a header row"):
        open_source(path)


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_huge_cell_in_the_sniffed_lines_keeps_the_delimiter(tmp_path, delimiter):
    huge = "x" * 200_000  # over the csv module's 128 KiB field limit, inside the sniffed bytes
    rows = [ROWS[0], (ROWS[1][0], huge, *ROWS[1][2:]), ROWS[2]]
    text = "\n".join(delimiter.join(r) for r in [HEADER, *rows]) + "\n"
    source = open_source(write_csv_text(tmp_path / "c.csv", text))
    assert source.info().delimiter == delimiter
    table = source.read_all().table
    assert table.column(HEADER[1]).to_pylist()[1] == huge


def test_a_header_cell_over_the_csv_field_limit_is_a_clear_error(tmp_path):
    path = write_csv_text(tmp_path / "c.csv", '"' + "x" * 200_000 + '",b\n1,2\n')
    with pytest.raises(InputFileError, match=r"^Cannot read the header of c.csv: .*check the first line"):
        open_source(path)


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


CUSTOMERS = [["CustomerID", "Annual Income (k$)"], [1, 15], [2, 16]]


@pytest.mark.parametrize("cover", [[], [["Customer export, March 2024"], ["Prepared by CRM"]],
                                   [["CustomerID", "Annual Income (k$)"]]],
                         ids=["empty", "one column", "header only"])
def test_excel_cover_sheet_names_the_sheets(tmp_path, cover):
    path = _workbook(tmp_path / "book.xlsx", {"Cover": cover, "Customers": CUSTOMERS})
    with pytest.raises(DataValidationError) as info:
        open_source(path)
    assert str(info.value) == (
        "The first sheet of book.xlsx, 'Cover', holds no customer table. Its sheets: 'Cover', "
        "'Customers'. Choose the customers' sheet with --sheet NAME, e.g. --sheet 'Customers'.")
    table = open_source(path, sheet="Customers").read_all().table
    assert table.column("Annual Income (k$)").to_pylist() == ["15", "16"]


def test_excel_unknown_sheet_and_sheet_of_a_csv(tmp_path):
    path = _workbook(tmp_path / "book.xlsx", {"Customers": CUSTOMERS})
    with pytest.raises(ConfigError, match=r"book\.xlsx has no sheet 'Nope'\. Its sheets: 'Customers'"):
        open_source(path, sheet="Nope")
    assert open_source(path).read_all().table.num_rows == 2  # one sheet: read as before
    csv = write_csv_text(tmp_path / "c.csv", "a,b\n1,2\n")
    with pytest.raises(ConfigError, match="--sheet names a sheet of an Excel workbook"):
        open_source(csv, sheet="Customers")


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    ("a,b\n1,é\n2,x\n" * 3, "utf-8", "utf-8"),  # 'é' split across chunks, ASCII after it
    ("a,b\n1,€\n" * 5, "cp1252", "cp1252"),
    ("a,b\n1,é\n", "latin-1", "cp1252"),  # every byte defined in cp1252 too
    ("a,b\n1,\x81\n" + "2,x\n" * 4, "latin-1", "latin-1"),  # 0x81: not a cp1252 character
])
@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_encoding_is_found_whatever_the_chunks(tmp_path, monkeypatch, text, encoding, expected,
                                               chunk):
    import hashlib

    from custseg.io import formats

    monkeypatch.setattr(formats, "_HASH_CHUNK", chunk)
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode(encoding))
    assert formats.sha256_and_encoding(path) == (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                 expected)


def test_utf8_cut_short_at_the_end_is_not_utf8(tmp_path):
    from custseg.io.formats import sha256_and_encoding

    path = tmp_path / "t.csv"
    path.write_bytes("a,b\n1,é\n".encode() + b"2,\xc3")  # a character's first byte, then EOF
    assert sha256_and_encoding(path)[1] == "cp1252"
