"""Customer tables as record batches: CSV, Parquet, Excel files and pandas data frames.

:func:`open_source` checks a file and reads its header (CSV: :mod:`custseg.io.csvsource`);
:class:`FrameSource` wraps a data frame. A :class:`~custseg.io.chunks.Source` then hands out the
table either whole (``read_all``: the fastest reader, Arrow's multi-threaded CSV parser, one
Parquet read) or in :class:`~custseg.io.chunks.Chunk` batches of about ``rows`` rows
(``chunks``: Arrow's streaming CSV reader, Parquet record batches), in file order. Either way each
parsed record comes with its spreadsheet row number (the header is row 1), and the CSV records the
parser cannot split into the header's fields come back as rejects with their row, never dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from custseg.exceptions import ConfigError, DataValidationError, InputFileError
from custseg.io.chunks import Chunk, FileSource, Source
from custseg.io.csvsource import CsvSource
from custseg.io.formats import (
    FIRST_DATA_ROW,
    SourceInfo,
    check_header,
    check_input_file,
    first_line,
    name_unnamed,
    sequential_rows,
)
from custseg.io.rejects import NO_REJECTS
from custseg.io.whitespace import WhitespaceSource, is_whitespace_table

__all__ = ["Chunk", "CsvSource", "DatasetSource", "ExcelSource", "FrameSource", "ParquetSource", "Source",
           "open_source"]


def open_source(path: Path, fmt: str | None = None, *, sheet: str | None = None,
                decimal: str | None = None) -> Source:
    """Check ``path`` and open it (header read, nothing else yet).

    Parameters
    ----------
    path : pathlib.Path
        Customer file: CSV, Parquet or Excel.
    fmt : {"csv", "parquet", "excel"} or None
        Overrides the format the extension names.
    sheet : str or None
        The Excel sheet to read (``--sheet``); None: the first.
    decimal : {".", ","} or None
        The decimal mark of numbers written as text (``--decimal``); None: from the delimiter.

    Raises
    ------
    InputFileError
        Missing, unreadable, or not in the named format.
    DataValidationError
        An empty file.
    """
    path = Path(path)
    if path.is_dir():
        kind = fmt if fmt in ("parquet", "csv") else path.suffix.lower().lstrip(".")
        if kind in ("parquet", "csv") and _has_part_files(path, kind):
            return DatasetSource(path, kind)
    kind = check_input_file(path, fmt)
    if sheet is not None and kind != "excel":
        raise ConfigError(f"--sheet names a sheet of an Excel workbook; {path.name} is read as "
                          f"{kind}. Leave --sheet out, or name the workbook.")
    if kind == "csv" and is_whitespace_table(path):
        source: FileSource = WhitespaceSource(path)
    else:
        try:
            source = (ExcelSource(path, sheet) if kind == "excel" else
                      {"csv": CsvSource, "parquet": ParquetSource}[kind](path))
        except PermissionError as exc:
            raise InputFileError(f"Cannot read {path.name}: permission denied. Check its "
                                 "permissions.") from exc
    source.decimal = decimal
    return source


def _has_part_files(folder: Path, kind: str) -> bool:
    """True when ``folder`` holds at least one visible ``.<kind>`` part file (a dataset folder)."""
    return any(not p.name.startswith((".", "_")) for p in folder.rglob(f"*.{kind}") if p.is_file())


class DatasetSource(FileSource):
    """A folder of Parquet or CSV part files written as one dataset (as Spark writes its
    outputs), read in file order with ``pyarrow.dataset``."""

    def __init__(self, path: Path, fmt: str) -> None:
        import pyarrow.dataset as ds

        self.path, self.name, self.format = path, path.name, fmt
        try:
            self.dataset = ds.dataset(path, format=fmt, exclude_invalid_files=True,
                                      ignore_prefixes=[".", "_"])
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFileError(f"Cannot read {path.name} as a {fmt} dataset "
                                 f"({first_line(exc)}).") from exc
        self.columns = [str(c) for c in self.dataset.schema.names]
        check_header(self.columns, path.name)
        self.size_bytes = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        self.total_rows = None
        self.sha256 = ""

    def read_all(self) -> Chunk:
        table = self.dataset.to_table()
        return Chunk(table, sequential_rows(table.num_rows), NO_REJECTS)

    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:
        start = FIRST_DATA_ROW
        for batch in self.dataset.to_batches(columns=columns, batch_size=rows):
            if batch.num_rows:
                yield Chunk(pa.Table.from_batches([batch]), sequential_rows(batch.num_rows, start),
                            NO_REJECTS)
                start += batch.num_rows


class ParquetSource(FileSource):
    """A Parquet file (columns keep their stored types)."""

    format = "parquet"

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path, self.name = path, path.name
        self.size_bytes = path.stat().st_size
        try:
            # No pre-buffering: with it, iter_batches keeps every row group it has read
            # (memory grows with the file; measured on pyarrow 26).
            self.file = pq.ParquetFile(path, pre_buffer=False)
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._error(exc) from exc
        self.columns = [str(c) for c in self.file.schema_arrow.names]
        check_header(self.columns, path.name)
        self.total_rows = self.file.metadata.num_rows
        self.done = 0

    def _error(self, exc: BaseException) -> InputFileError:
        return InputFileError(f"Cannot read {self.name} as Parquet ({first_line(exc)}). Check the "
                              "file, or name its format with --format.")

    def fraction_done(self) -> float:
        return self.done / self.total_rows if self.total_rows else 1.0

    def row_bytes(self) -> float:
        meta = self.file.metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return max(8.0 * len(self.columns), size / max(1, self.total_rows))

    def read_all(self) -> Chunk:
        try:
            table = self.file.read()
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._error(exc) from exc
        return Chunk(table, sequential_rows(table.num_rows), NO_REJECTS)

    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:
        start = FIRST_DATA_ROW
        self.done = 0
        try:
            for batch in self.file.iter_batches(batch_size=rows, columns=columns):
                n = batch.num_rows
                self.done += n
                yield Chunk(pa.Table.from_batches([batch]), sequential_rows(n, start), NO_REJECTS)
                start += n
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._error(exc) from exc


class _TableSource(Source):
    """A table read whole, handed out in slices (Excel sheets, data frames)."""

    table: pa.Table

    def read_all(self) -> Chunk:
        return Chunk(self.table, sequential_rows(self.table.num_rows), NO_REJECTS)

    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:
        table = self.table if columns is None else self.table.select(columns)
        self.done = 0
        for start in range(0, table.num_rows, rows):
            part = table.slice(start, rows)
            self.done = start + part.num_rows
            yield Chunk(part, sequential_rows(part.num_rows, FIRST_DATA_ROW + start), NO_REJECTS)

    def fraction_done(self) -> float:
        return getattr(self, "done", 0) / max(1, self.table.num_rows)


class ExcelSource(_TableSource, FileSource):
    """A sheet of an ``.xlsx`` workbook (the first, or ``sheet``), cells as text (a sheet holds
    at most about a million rows, so it is read whole).

    Without ``sheet``, a workbook whose first sheet holds no table (a cover sheet: empty, one
    column, or no row under its header) while others exist is an error that lists the sheets.
    """

    format = "excel"

    def __init__(self, path: Path, sheet: str | None = None) -> None:
        self.path, self.name = path, path.name
        self.size_bytes = path.stat().st_size
        try:
            with pd.ExcelFile(path, engine="openpyxl") as book:
                sheets = [str(name) for name in book.sheet_names]
                if sheet is not None and sheet not in sheets:
                    raise ConfigError(f"{path.name} has no sheet {sheet!r}. Its sheets: "
                                      f"{_listed(sheets)}. Choose one with --sheet NAME.")
                frame = pd.read_excel(book, sheet_name=sheet if sheet is not None else 0, dtype=str)
        except ConfigError:
            raise
        except Exception as exc:  # openpyxl raises many unrelated types for a non-xlsx file
            raise InputFileError(
                f"Cannot read {path.name} as an Excel workbook ({first_line(exc)}). "
                "Save it as .xlsx, or export it as CSV.") from exc
        if sheet is None and len(sheets) > 1 and (len(frame.columns) < 2 or frame.empty):
            raise DataValidationError(
                f"The first sheet of {path.name}, {sheets[0]!r}, holds no customer table. Its "
                f"sheets: {_listed(sheets)}. Choose the customers' sheet with --sheet NAME, e.g. "
                f"--sheet {sheets[1]!r}.")
        if frame.columns.empty:
            from custseg.io.formats import empty_file

            raise empty_file(path)
        header = name_unnamed([str(c) for c in frame.columns])
        frame.columns = header
        check_header(header, path.name)
        # pandas reads blank cells as NaN; keep them as empty text, as the CSV reader does.
        table = pa.Table.from_pandas(frame.fillna(""), preserve_index=False)
        self.table = table.cast(pa.schema([pa.field(c, pa.string()) for c in header]))
        self.columns = header
        self.total_rows = self.table.num_rows


def _listed(names: list[str]) -> str:
    """Sheet names, quoted, comma-separated."""
    return ", ".join(repr(n) for n in names)


class FrameSource(_TableSource):
    """A pandas data frame (``custseg.segment(data=df)``); rows numbered as if it were a CSV.

    Examples
    --------
    >>> source = FrameSource(pd.DataFrame({"a": [1, 2]}))
    >>> source.read_all().rows.tolist(), source.info().format
    ([2, 3], 'dataframe')
    """

    format = "dataframe"

    def __init__(self, frame: pd.DataFrame, name: str = "<data frame>") -> None:
        frame = frame.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        check_header(list(frame.columns), name)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed-type object columns (numbers and text): keep them as text, like a CSV would.
            objects = [c for c in frame.columns if frame[c].dtype == object]
            table = pa.Table.from_pandas(frame.astype(dict.fromkeys(objects, "string")),
                                         preserve_index=False)
        self.name, self.table, self.columns = name, table, list(frame.columns)
        self.total_rows = table.num_rows
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        self._info = SourceInfo(name, None, "dataframe", None, None, digest.hexdigest(), 0)

    def info(self) -> SourceInfo:
        return self._info
