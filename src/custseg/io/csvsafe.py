"""Spreadsheet-safe CSV and the table writers every output goes through.

Text cells and header cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``,
tab, carriage return first; OWASP "CSV injection") get a leading ``'``; numbers such as ``-5``
stay as they are. Cells are quoted only when some cell needs it, so an output reads like its
input (``1,Male,19,...``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import OutputError

#: Text cells starting with one of these are formulas to a spreadsheet (OWASP CSV injection).
_FORMULA_CHARS = pa.array(["=", "+", "-", "@", "\t", "\r"])
_STRUCTURAL = r'[",\r\n]'
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Prefix text cells a spreadsheet would run as a formula with ``'``; numbers stay as they are.

    Examples
    --------
    >>> t = pa.table({"a": ["=1+1", "-5", "@x", "ok"], "b": [-1, 2, 3, 4]})
    >>> neutralise_formulas(t).column("a").to_pylist()
    ["'=1+1", '-5', "'@x", 'ok']
    """
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            # Neutralise the (few) dictionary values, keep the codes: no per-row text.
            chunks = [pa.DictionaryArray.from_arrays(
                chunk.indices, neutralise_formulas(pa.table({"v": chunk.dictionary})).column("v")
                .combine_chunks()) for chunk in column.chunks]
            columns.append(pa.chunked_array(chunks, type=chunks[0].type) if chunks else column)
            continue
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # Cheap test first (first character), the number regex only when something starts
            # like a formula: most columns of most files have no such cell at all.
            first = pc.utf8_slice_codeunits(column, 0, 1)
            starts = pc.fill_null(pc.is_in(first, value_set=_FORMULA_CHARS), False)
            if pc.any(starts).as_py():
                risky = pc.and_(starts, pc.invert(pc.match_substring_regex(column, _PLAIN_NUMBER)))
                if pc.any(risky).as_py():
                    column = pc.if_else(risky, pc.utf8_replace_slice(column, 0, 0, "'"), column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def safe_names(names: list[str]) -> list[str]:
    """Column names as a CSV header a spreadsheet will not run: a name starting like a formula
    gets a leading ``'``, as text cells do (a column named ``=cmd|calc`` in the input, or a
    profile column derived from it).

    Examples
    --------
    >>> safe_names(["=cmd|calc", "Age", "-5", "@x Female %"])
    ["'=cmd|calc", 'Age', '-5', "'@x Female %"]
    """
    return [f"'{name}" if name[:1] in _FORMULA_START and not re.match(_PLAIN_NUMBER, name)
            else name for name in names]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A data frame as an Arrow table, without its index."""
    return pa.Table.from_pandas(frame, preserve_index=False)


def plain_header(names: list[str]) -> bool:
    """Whether no column name needs quotes in a CSV header."""
    return not any(re.search(_STRUCTURAL, name) for name in names)


def any_structural(table: pa.Table) -> bool:
    """Whether some text cell of ``table`` needs quotes in a CSV (a quote, a comma, a line break)."""
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = pa.chunked_array([c.dictionary for c in column.chunks], column.type.value_type)
        is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if is_text and any(pc.any(pc.match_substring(column, ch)).as_py() for ch in '",\r\n'):
            return True
    return False


#: Rows per Parquet row group.
PARQUET_ROW_GROUP = 1 << 17
#: Bytes per write of lines formatted ahead (:meth:`TableWriter.write_body`).
WRITE_BYTES = 1 << 20

_STRUCTURAL_CHARS = (b'"', b",", b"\r", b"\n")
_FORMULA_CHARS_BYTES = tuple(c.encode() for c in "=+-@\t\r")
_FORMULA_CODES = np.array([ord(c) for c in "=+-@\t\r"], dtype=np.uint8)


def text_flags(table: pa.Table) -> tuple[bool, bool]:
    """Whether any text cell may start like a formula, and whether any may need quotes.

    A quick look at the raw Arrow buffers (first bytes, any byte) decides for almost every
    batch; only when it says "maybe" do the exact checks (:func:`neutralise_formulas`,
    :func:`any_structural`) have to run.

    Examples
    --------
    >>> text_flags(pa.table({"a": ["x", "=1"], "b": [1, 2]}))
    (True, False)
    """
    formula = structural = False
    for column in table.columns:
        for chunk in column.chunks:
            kind = chunk.type
            if pa.types.is_dictionary(kind):
                # A few values (segment names) behind many codes: look at the values.
                f, s = text_flags(pa.table({"v": chunk.dictionary}))
                formula, structural = formula or f, structural or s
                continue
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                if pa.types.is_string_view(kind):
                    return True, True
                continue
            if len(chunk) == 0:
                continue
            _, offsets_buffer, data_buffer = chunk.buffers()
            offset_type = np.int32 if pa.types.is_string(kind) else np.int64
            offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
                chunk.offset:chunk.offset + len(chunk) + 1]
            if data_buffer is None or offsets[-1] == offsets[0]:
                continue
            # bytes.find is a memchr: most columns hold none of these bytes anywhere, and then
            # no cell can start with one either.
            text = data_buffer[int(offsets[0]):int(offsets[-1])].to_pybytes()
            if not formula and any(ch in text for ch in _FORMULA_CHARS_BYTES):
                data = np.frombuffer(data_buffer, dtype=np.uint8)
                first = data[offsets[:-1][offsets[1:] > offsets[:-1]]]
                formula = bool(np.isin(first, _FORMULA_CODES).any())
            structural = structural or any(ch in text for ch in _STRUCTURAL_CHARS)
            if formula and structural:
                return True, True
    return formula, structural


def safe_for_spreadsheets(table: pa.Table) -> pa.Table:
    """``table`` with formulas neutralised, looking at every cell only when some might be one."""
    return neutralise_formulas(table) if text_flags(table)[0] else table


def write_csv(data: pa.Table | pd.DataFrame, path: Path) -> Path:
    """Write a (small) table as UTF-8 CSV (LF, quoted only where needed), formulas neutralised."""
    with TableWriter(path) as writer:
        writer.write(to_arrow(data) if isinstance(data, pd.DataFrame) else data)
    return path


class TableWriter:
    """Appends record batches to one CSV or Parquet file (by ``path``'s suffix).

    CSV is spreadsheet-safe (:func:`neutralise_formulas`). Quoting: with ``plain`` given, the
    whole file uses one style (``True``: no quotes; ``False``: text cells quoted), so the same
    rows give the same bytes however they are batched; with ``plain=None`` it is decided per batch
    (quotes only where a batch needs them). Parquet keeps the columns' types.

    Parameters
    ----------
    path : pathlib.Path
        The file to write (its folder is created).
    plain : bool or None, default None
        Whether no cell of the whole file needs quotes; None: decide batch by batch.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> with TableWriter(path, plain=True) as w:
    ...     w.write(pa.table({"a": [1, 2]}))
    ...     w.write(pa.table({"a": [3]}))
    >>> path.read_text().splitlines()
    ['a', '1', '2', '3']
    """

    def __init__(self, path: Path, plain: bool | None = None) -> None:
        self.path = Path(path)
        self.parquet = self.path.suffix == ".parquet"
        self.plain = plain
        self.rows = 0
        self._sink: object | None = None
        self._header_done = False
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, table: pa.Table, neutralised: bool = False) -> None:
        """Append the rows of ``table`` (every call with the same columns). ``neutralised``:
        the caller already made formulas safe (:func:`neutralise_formulas`)."""
        try:
            if self.parquet:
                self._write_parquet(table)
            else:
                self._write_csv(table, neutralised)
        except OSError as exc:
            raise OutputError(f"Cannot write {self.path}: {exc.strerror or exc}. Choose another "
                              "place for the outputs.") from exc
        self.rows += table.num_rows

    def write_body(self, body: pa.Buffer, rows: int, schema: pa.Schema) -> None:
        """Append CSV lines already formatted (:func:`custseg.io.csvlines.plain_lines`) for
        ``rows`` rows with the columns of ``schema``; the header first, as :meth:`write`
        writes it, if no call wrote it yet."""
        if self.parquet:
            raise ValueError("write_body writes CSV lines; a Parquet file takes tables")
        if not self._header_done:
            self.write_header(schema)
        try:
            # In pieces: one write of tens of MB costs the kernel several times more than the
            # same bytes written a MB at a time (measured on ext4).
            for start in range(0, body.size, WRITE_BYTES):
                self._sink.write(body.slice(start, min(WRITE_BYTES, body.size - start)))
        except OSError as exc:
            raise OutputError(f"Cannot write {self.path}: {exc.strerror or exc}. Choose another "
                              "place for the outputs.") from exc
        self.rows += rows

    def write_header(self, schema: pa.Schema) -> None:
        """Write a file with no rows (the header of a CSV, the schema of a Parquet file)."""
        self.write(schema.empty_table())

    def _write_parquet(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._sink is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pq.ParquetWriter(self.path, table.schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= PARQUET_ROW_GROUP:
            self._flush_parquet(final=False)

    def _flush_parquet(self, final: bool) -> None:
        """Write the pending rows as whole row groups (and, when ``final``, the rest)."""
        pending = pa.concat_tables(self._pending)
        whole = pending.num_rows - pending.num_rows % PARQUET_ROW_GROUP
        cut = pending.num_rows if final else whole
        for start in range(0, cut, PARQUET_ROW_GROUP):
            self._sink.write_table(pending.slice(start, min(PARQUET_ROW_GROUP, cut - start)))
        rest = pending.slice(cut)
        self._pending, self._pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)

    def _write_csv(self, table: pa.Table, neutralised: bool) -> None:
        import pyarrow.csv as pacsv

        if self._sink is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(self.path), "wb")
        if not neutralised:
            table = safe_for_spreadsheets(table)
        names = safe_names(table.column_names)
        if names != table.column_names:
            table = table.rename_columns(names)
        header = plain_header(table.column_names)
        plain = self.plain
        if plain is None:
            plain = not (text_flags(table)[1] and any_structural(table))
        # Arrow's "needed" quotes every text cell; when no cell needs quotes, write none, so the
        # output reads like the input (1,Male,19,...). Otherwise quote text cells (valid CSV).
        options = pacsv.WriteOptions(include_header=not self._header_done,
                                     quoting_style="none" if plain and header else "needed",
                                     quoting_header="none" if header else "needed")
        if table.num_rows or not self._header_done:
            pacsv.write_csv(table, self._sink, options)
        self._header_done = True

    def close(self) -> None:
        """Finish the file."""
        if self._sink is not None:
            if self.parquet and self._pending:
                self._flush_parquet(final=True)
            self._sink.close()
            self._sink = None


def write_json(data: object, path: Path) -> Path:
    """Write ``data`` as indented UTF-8 JSON with sorted keys (byte-stable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


