"""A customer table (or a transaction log) in a database, as a :class:`~custseg.io.chunks.Source`.

``custseg run postgresql://analyst@db/shop --table customers`` or ``--query "SELECT ..."``:
:func:`open_database` checks the connection, finds the table (its name quoted as an identifier,
never pasted as text) or the query's columns, and hands out the rows like a file source: whole
(``read_all``) or in batches of a fixed number of rows (``chunks``, a stream from the server:
never the whole table at once), each row numbered as a spreadsheet would show it (the first row
read is row 2). Every read opens its own read-only connection (:mod:`custseg.io.dbconnect`) and
closes it at the end, so nothing stays open between the engine's passes.

Cells keep their database types (integers, floats, text; PostgreSQL ``numeric`` as its exact
text, which validation parses), except SQLite's, read as text: a SQLite column may hold numbers
and text side by side, and validation then rejects the text cells with a reason as it does a
CSV's. A table is read in its stored order; a query in its ``ORDER BY`` (give one, so that the
row numbers, the sample and so the outputs are the same on every run).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from custseg.exceptions import InputFileError
from custseg.io.chunks import Chunk, Source
from custseg.io.dbconnect import Database
from custseg.io.dbsize import SizeEstimate, arrow_row_bytes, estimate_rows
from custseg.io.dburl import DatabaseUrl, TableName, parse_url, quote_identifier
from custseg.io.formats import FIRST_DATA_ROW, SourceInfo, check_header, sequential_rows
from custseg.io.rejects import NO_REJECTS

__all__ = ["DatabaseSource", "open_database"]

#: Alias of a query read as a sub-query.
_QUERY_ALIAS = "custseg_query"


def open_database(url: str, *, table: str | None = None, query: str | None = None,
                  password: str | None = None, password_env: str | None = None) -> DatabaseSource:
    """Open a table or a query of a database as a source (connects once to check it).

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``postgresql://user@host:5432/db``, ``sqlite:///shop.db``,
        ``duckdb:///shop.duckdb``.
    table : str, optional
        ``NAME`` or ``SCHEMA.NAME`` (matched exactly, case included).
    query : str, optional
        A ``SELECT`` (run in a read-only transaction).
    password, password_env : str, optional
        The password, or the environment variable holding it (``--password-env``).

    Raises
    ------
    MissingDependencyError
        The driver is not installed (``pip install 'custseg[sql]'``).
    InputFileError
        The server cannot be reached, the login fails, the database, file or table is missing,
        or the query fails.
    """
    return DatabaseSource(parse_url(url, password, password_env), table=table, query=query)


class DatabaseSource(Source):
    """Rows of a database table or query (see the module notes).

    Attributes
    ----------
    url : DatabaseUrl
        The database (its ``display`` form never holds the password).
    table : TableName or None
        The table read, or None for a query.
    """

    format = "database"

    def __init__(self, url: DatabaseUrl, *, table: str | None = None, query: str | None = None
                 ) -> None:
        if (table is None) == (query is None):
            raise InputFileError("Name a table or give a query to read from the database.")
        self.url, self.query, self.table = url, None, None
        with Database(url, read_only=True) as db:
            if table is not None:
                self.table = self._find(db, TableName.parse(table))
                self.select = f"SELECT * FROM {self.table.sql}"
                what = self.table.text
            else:
                self.query = query.strip().rstrip(";").strip()
                self.select = f"SELECT * FROM ({self.query}) AS {_QUERY_ALIAS}"
                what = "query"
            try:
                schema = db.stream(f"{self.select} LIMIT 0").schema
            except InputFileError as exc:
                if query is None:
                    raise
                raise InputFileError(f"--query cannot be read (it must be one SELECT): {exc}"
                                     ) from None
        self.name = f"{what} ({url.display})"
        self.columns = [str(c) for c in schema.names]
        check_header(self.columns, self.name)
        self.size_bytes = Path(url.database).stat().st_size if url.backend != "postgresql" else 0
        self.schema, self._size = schema, None
        self.total_rows = None
        self.done = 0

    def _find(self, db: Database, wanted: TableName) -> TableName:
        found = db.find(wanted)
        if found is not None:
            return found
        # Names in the default schema as a user writes them: without it.
        tables = [t.name if t.schema in (None, "public", "main") else t.text for t in db.tables()]
        close = [t for t in tables if t.lower() == wanted.text.lower()]
        hint = (f"Did you mean {close[0]!r}? Names are matched exactly, case included."
                if close else "Tables present: " + (", ".join(sorted(tables)[:20]) or "none") + ".")
        raise InputFileError(f"Table {wanted.text!r} not found in {self.url.display}. {hint}")

    def _select(self, columns: list[str] | None) -> str:
        names = self.columns if columns is None else columns
        if self.url.backend == "sqlite":  # text, whatever each cell's storage class
            cells = [f"CAST({quote_identifier(c)} AS TEXT) AS {quote_identifier(c)}" for c in names]
        else:
            cells = [quote_identifier(c) for c in names]
        source = self.table.sql if self.table is not None else f"({self.query}) AS {_QUERY_ALIAS}"
        return f"SELECT {', '.join(cells)} FROM {source}"

    def _batches(self, columns: list[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
        with Database(self.url, read_only=True) as db:
            for batch in db.batches(self._select(columns), rows):
                yield plain_types(batch)

    def read_all(self) -> Chunk:
        batches = list(self._batches(None, 1 << 20))
        schema = batches[0].schema if batches else None
        table = (pa.Table.from_batches(batches, schema) if batches
                 else pa.table({c: pa.array([], pa.string()) for c in self.columns}))
        self.done = table.num_rows
        return Chunk(table, sequential_rows(table.num_rows), NO_REJECTS)

    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:
        start = FIRST_DATA_ROW
        self.done = 0
        for table in rebatch(self._batches(columns, rows), rows):
            self.done += table.num_rows
            yield Chunk(table, sequential_rows(table.num_rows, start), NO_REJECTS)
            start += table.num_rows

    def info(self) -> SourceInfo:
        # No fingerprint: hashing would read every row once more.
        return SourceInfo(self.name, None, self.format, None, None, "", self.size_bytes)

    def row_bytes(self) -> float:
        return max(64.0, 16.0 * len(self.columns))

    def size(self) -> SizeEstimate:
        """Estimated rows and bytes of the table or query, without reading it (asked once)."""
        if self._size is None:
            with Database(self.url, read_only=True) as db:
                rows, method = estimate_rows(db, self.table, self.select)
            self._size = SizeEstimate(max(0, rows), arrow_row_bytes(self.schema,
                                                              self.url.backend == "sqlite"), method)
        return self._size

    def memory_basis(self) -> tuple[int, dict]:
        size = self.size()
        return size.bytes, {"from": size.method, "rows": size.rows, "row_bytes": size.row_bytes,
                            "bytes": size.bytes}


def plain_types(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Extension columns (PostgreSQL ``numeric``: exact decimal text) as their storage type.

    Examples
    --------
    >>> plain_types(pa.record_batch({"a": [1]})).schema.types
    [DataType(int64)]
    """
    if not any(isinstance(t, pa.ExtensionType) for t in batch.schema.types):
        return batch
    arrays = [c.storage if isinstance(c.type, pa.ExtensionType) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last may hold fewer) from batches of any size.

    Examples
    --------
    >>> parts = [pa.record_batch({"a": list(range(n))}) for n in (3, 0, 4)]
    >>> [t.num_rows for t in rebatch(iter(parts), 2)]
    [2, 2, 2, 1]
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)
