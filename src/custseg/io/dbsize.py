"""How big a database table or query is, without reading it: rows × bytes per row.

``--engine auto`` weighs a file by its size on disk; a database input is weighed by an estimate
of its rows, asked cheaply of the database, times the bytes an Arrow row of its columns takes:

- PostgreSQL: ``pg_class.reltuples`` for a table (the planner's count, kept by ``ANALYZE`` and
  autovacuum); for a table never analyzed, and for a query, the top ``Plan Rows`` of
  ``EXPLAIN (FORMAT JSON)`` (run in the read-only transaction; the query is not executed).
- SQLite: ``sqlite_stat1`` (kept by ``ANALYZE``) for a table when present, else ``count(*)``
  (a scan of the table's pages, without reading rows into Python).
- DuckDB: ``duckdb_tables().estimated_size`` for a table, else ``count(*)`` (cheap in DuckDB).

The table is named as a bound parameter (its quoted form), never pasted into the SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from custseg.exceptions import CustsegError
from custseg.io.dbconnect import Database
from custseg.io.dburl import TableName

__all__ = ["SizeEstimate", "arrow_row_bytes", "estimate_rows"]

#: Bytes of a text cell held in Arrow (offset and validity, and a conservative 28 characters).
TEXT_CELL_BYTES = 32
#: Alias of the read counted by ``count(*)``.
_COUNT_ALIAS = "custseg_count"


@dataclass(frozen=True)
class SizeEstimate:
    """Estimated rows of a table or query, and the bytes each takes in memory.

    Examples
    --------
    >>> SizeEstimate(1_000, 40, "count(*)").bytes
    40000
    """

    rows: int
    row_bytes: int
    method: str

    @property
    def bytes(self) -> int:
        return self.rows * self.row_bytes


def cell_bytes(kind: pa.DataType) -> int:
    """Bytes of one cell of type ``kind`` in Arrow (fixed-width types exactly, others as text).

    Examples
    --------
    >>> cell_bytes(pa.int64()), cell_bytes(pa.float32()), cell_bytes(pa.bool_()), cell_bytes(pa.string())
    (8, 4, 1, 32)
    """
    if isinstance(kind, pa.ExtensionType):  # PostgreSQL numeric: its exact text
        kind = kind.storage_type
    try:
        width = kind.bit_width
    except ValueError:  # variable width: text, binary, lists
        return TEXT_CELL_BYTES
    return max(1, width // 8)


def arrow_row_bytes(schema: pa.Schema, as_text: bool = False) -> int:
    """Bytes of one row of ``schema`` in Arrow (``as_text``: every cell read as text, SQLite's).

    Examples
    --------
    >>> arrow_row_bytes(pa.schema({"id": pa.int64(), "name": pa.string()}))
    40
    >>> arrow_row_bytes(pa.schema({"id": pa.int64(), "name": pa.string()}), as_text=True)
    64
    """
    return max(1, sum(TEXT_CELL_BYTES if as_text else cell_bytes(t) for t in schema.types))


def estimate_rows(db: Database, table: TableName | None, select: str) -> tuple[int, str]:
    """Estimated rows of ``table`` (None: of the query) and how they were estimated.

    Parameters
    ----------
    db : Database
        An open reading connection.
    table : TableName or None
        The table as the database has it, or None for a query.
    select : str
        The read's ``SELECT`` (``SELECT * FROM <table>`` or the query as a sub-query).
    """
    backend = db.url.backend
    if backend == "postgresql":
        if table is not None:
            tuples = db.value("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)",
                              (table.sql,))
            if tuples is not None and float(tuples) >= 0:  # -1: never analyzed
                return int(tuples), "pg_class.reltuples"
        plan = db.value(f"EXPLAIN (FORMAT JSON) {select}")
        plan = json.loads(plan) if isinstance(plan, str | bytes) else plan
        return int(plan[0]["Plan"]["Plan Rows"]), "EXPLAIN plan rows"
    if table is not None:
        if backend == "sqlite":
            try:
                stat = db.value("SELECT stat FROM sqlite_stat1 WHERE tbl = ? "
                                "ORDER BY idx IS NOT NULL LIMIT 1", (table.name,))
            except CustsegError:  # no sqlite_stat1: never analyzed
                stat = None
            if stat:
                return int(str(stat).split()[0]), "sqlite_stat1"
        else:
            size = db.value("SELECT estimated_size FROM duckdb_tables() WHERE database_name = "
                            "current_database() AND schema_name = $1 AND table_name = $2",
                            (table.schema or "main", table.name))
            if size is not None:
                return int(size), "duckdb_tables().estimated_size"
    return int(db.value(f"SELECT count(*) FROM ({select}) AS {_COUNT_ALIAS}")), "count(*)"
