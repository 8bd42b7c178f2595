"""Connections to a database that move rows as Arrow record batches, in one transaction.

- PostgreSQL: the ADBC driver (``adbc-driver-postgresql``, libpq inside): a query's rows come as
  ``COPY ... TO STDOUT (FORMAT binary)`` decoded straight into Arrow batches, streamed; writes
  are ``COPY ... FROM STDIN``. A reading connection is read-only
  (``default_transaction_read_only``) and scans tables in their stored order
  (``synchronize_seqscans`` off), so two reads of a table give the same rows in the same order.
- SQLite: the ADBC driver (``adbc-driver-sqlite``); a reading connection opens the file
  read-only (``mode=ro``).
- DuckDB: DuckDB's own Arrow API; a reading connection is ``read_only``.

Driver errors become one-line custseg errors (:func:`database_error`), the password scrubbed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa

from custseg.exceptions import CustsegError, InputFileError, OutputError
from custseg.io.dburl import SQL_EXTRA, DatabaseUrl, TableName, missing_file
from custseg.io.formats import first_line
from custseg.optional import import_optional

#: Server settings of a PostgreSQL connection that reads.
READ_OPTIONS = "-c default_transaction_read_only=on -c synchronize_seqscans=off"
_DRIVERS = {"postgresql": "adbc_driver_postgresql.dbapi", "sqlite": "adbc_driver_sqlite.dbapi",
            "duckdb": "duckdb"}


def database_error(exc: BaseException, url: DatabaseUrl, *, writing: bool = False) -> CustsegError:
    """One line saying what went wrong with ``url``, and what to do (the password scrubbed).

    Reading problems are :class:`InputFileError` (exit 3), writing ones :class:`OutputError`
    (exit 5).
    """
    kind = OutputError if writing else InputFileError
    text = url.scrub(str(exc))
    lower = text.lower()
    line = first_line(Exception(text)).removeprefix("IO: ").removeprefix("[libpq] ")
    where = url.display
    if "password authentication failed" in lower or "authentication failed" in lower \
            or "no password supplied" in lower:
        return kind(f"Cannot log in to {where}: authentication failed. Check the user and the "
                    "password (in the URL, PGPASSWORD or --password-env VAR).")
    if "database" in lower and "does not exist" in lower and "relation" not in lower:
        return kind(f"Database {url.database!r} does not exist on the server of {where}. Check "
                    "the database name in the URL.")
    if any(s in lower for s in ("connection refused", "could not translate host name",
                                "timeout expired", "no route to host", "could not connect",
                                "name or service not known")):
        return kind(f"Cannot reach the database server of {where} ({line.split(': ')[-1].strip()}). "
                    "Check the host and port, and that the server is running.")
    if "read-only transaction" in lower or "readonly database" in lower or "read-only mode" in lower:
        return kind(f"--query must only read: {where} refused it in a read-only transaction "
                    f"({line}).")
    return kind(f"{where}: {line}")


class Database:
    """One connection, one transaction: read batches, write tables, then commit or roll back.

    Parameters
    ----------
    url : DatabaseUrl
        Where.
    read_only : bool
        A reading connection (read-only transaction, stable scan order).

    Raises
    ------
    MissingDependencyError
        The driver is not installed (``pip install 'custseg[sql]'``).
    InputFileError, OutputError
        The database cannot be reached or opened.
    """

    def __init__(self, url: DatabaseUrl, read_only: bool) -> None:
        self.url, self.read_only = url, read_only
        self.cursors: list = []
        driver = import_optional(_DRIVERS[url.backend], SQL_EXTRA,
                                 f"Reading or writing a {url.backend} database")
        if url.backend != "postgresql" and not Path(url.database).is_file():
            if read_only:
                raise missing_file(url)
            Path(url.database).absolute().parent.mkdir(parents=True, exist_ok=True)
        try:
            if url.backend == "postgresql":
                self.conn = driver.connect(url.libpq_uri(READ_OPTIONS if read_only else ""))
            elif url.backend == "sqlite":
                path = quote(str(Path(url.database).absolute()))
                self.conn = driver.connect(f"file:{path}?mode=ro" if read_only else f"file:{path}")
            else:
                self.conn = driver.connect(url.database, read_only=read_only)
                self.conn.begin()
        except Exception as exc:
            raise self.error(exc) from None

    def error(self, exc: BaseException) -> CustsegError:
        """:func:`database_error` for this connection."""
        if isinstance(exc, CustsegError):
            return exc
        return database_error(exc, self.url, writing=not self.read_only)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Roll back whatever was not committed, and close."""
        conn, self.conn = getattr(self, "conn", None), None
        if conn is None:
            return
        # Already closed with its reader, nothing to roll back, or the connection is gone.
        for cursor in self.cursors:
            with contextlib.suppress(Exception):
                cursor.close()
        with contextlib.suppress(Exception):
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.close()

    def stream(self, sql: str, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """The rows of ``sql`` as a stream of record batches (never the whole result at once)."""
        try:
            if self.url.backend == "duckdb":
                return self.conn.sql(sql).to_arrow_reader(batch_rows)
            cursor = self.conn.cursor()
            self.cursors.append(cursor)  # the reader lives as long as its cursor
            cursor.execute(sql)
            return cursor.fetch_record_batch()
        except Exception as exc:
            raise self.error(exc) from None

    def batches(self, sql: str, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """:meth:`stream`'s batches, driver errors raised as custseg errors."""
        reader = self.stream(sql, batch_rows)
        try:
            yield from reader
        except CustsegError:
            raise
        except Exception as exc:
            raise self.error(exc) from None

    def value(self, sql: str, parameters: tuple = ()) -> object:
        """The first cell of ``sql``'s result (None when it has no row); values are bound as
        parameters (``$1`` for PostgreSQL and DuckDB, ``?`` for SQLite), never pasted.

        PostgreSQL runs it as a plain statement, not through ``COPY`` (which cannot wrap
        ``EXPLAIN``)."""
        try:
            if self.url.backend == "duckdb":
                row = self.conn.execute(sql, list(parameters)).fetchone()
            else:
                cursor = self.conn.cursor()
                self.cursors.append(cursor)
                if self.url.backend == "postgresql":
                    cursor.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
                cursor.execute(sql, parameters or None)
                row = cursor.fetchone()
        except Exception as exc:
            raise self.error(exc) from None
        return None if row is None else row[0]

    def execute(self, sql: str) -> None:
        """A statement without results (DDL)."""
        try:
            if self.url.backend == "duckdb":
                self.conn.execute(sql)
            else:
                cursor = self.conn.cursor()
                cursor.execute(sql)
                cursor.close()
        except Exception as exc:
            raise self.error(exc) from None

    def tables(self) -> list[TableName]:
        """The tables and views the connection sees (system catalogs left out)."""
        if self.url.backend == "sqlite":
            sql = "SELECT NULL AS s, name AS t FROM sqlite_master WHERE type IN ('table', 'view')"
        else:
            sql = ("SELECT table_schema AS s, table_name AS t FROM information_schema.tables "
                   "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
        batches = list(self.batches(sql))
        if not batches:  # a new DuckDB file: no batch at all, not even an empty one
            return []
        rows = pa.Table.from_batches(batches)
        return [TableName(s, t) for s, t in zip(rows.column(0).to_pylist(),
                                                 rows.column(1).to_pylist(), strict=True)]

    def find(self, table: TableName) -> TableName | None:
        """``table`` as the database has it (a name without schema found in any schema on the
        search path: ``public`` for PostgreSQL, ``main`` for DuckDB), or None."""
        default = {"postgresql": "public", "duckdb": "main"}.get(self.url.backend)
        for have in self.tables():
            if have.name == table.name and (table.schema in (None, have.schema)) and (
                    table.schema is not None or have.schema in (None, default)):
                return have if table.schema is not None else TableName(None, have.name)
        return None

    def ingest(self, table: TableName, data: pa.RecordBatchReader | pa.Table, create: bool) -> None:
        """Write ``data`` into ``table`` (created first when ``create``), in this transaction."""
        try:
            if self.url.backend == "duckdb":
                self.conn.register("custseg_ingest", data)
                verb = f"CREATE TABLE {table.sql} AS" if create else f"INSERT INTO {table.sql}"
                self.conn.execute(f"{verb} SELECT * FROM custseg_ingest")
                self.conn.unregister("custseg_ingest")
            else:
                cursor = self.conn.cursor()
                cursor.adbc_ingest(table.name, data, mode="create" if create else "append",
                                   db_schema_name=table.schema)
                cursor.close()
        except Exception as exc:
            raise self.error(exc) from None

    def commit(self) -> None:
        """Commit the transaction (everything written, or nothing)."""
        try:
            self.conn.commit()
        except Exception as exc:
            raise self.error(exc) from None
