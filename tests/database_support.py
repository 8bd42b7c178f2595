"""Databases for the tests: SQLite and DuckDB files, and a real PostgreSQL server.

:func:`require_postgres` starts one throwaway server per test process (:mod:`tests.postgres_server`)
or skips when the binaries are missing; with ``CUSTSEG_REQUIRE_POSTGRES=1`` (CI) a missing
server fails instead. A :class:`Backend` loads a data frame into a table and reads one back.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import postgres_server

_SERVER: list = []
_COUNTER = itertools.count()


def require_postgres() -> postgres_server.Server:
    """The process's PostgreSQL server (started on first use), or skip/fail without binaries."""
    if _SERVER:
        return _SERVER[0]
    missing = None
    try:
        import adbc_driver_postgresql  # noqa: F401
    except ImportError:
        missing = "adbc-driver-postgresql not installed (pip install -e '.[sql]')"
    if missing is None and postgres_server.find_binaries() is None:
        missing = "PostgreSQL binaries (initdb, pg_ctl) not found; apt-get install postgresql"
    if missing is not None:
        if os.environ.get("CUSTSEG_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CUSTSEG_REQUIRE_POSTGRES=1 but {missing}")
        pytest.skip(missing)
    server = postgres_server.start()
    atexit.register(server.stop)
    _SERVER.append(server)
    return server


class Backend:
    """One database to test against: ``load`` a frame as a table, ``read`` a table back."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind, self.folder = kind, folder
        self.server = require_postgres() if kind == "postgresql" else None
        if kind == "sqlite":
            self.path = folder / "shop.db"
            self.url = f"sqlite:///{self.path}"
        elif kind == "duckdb":
            self.path = folder / "shop.duckdb"
            self.url = f"duckdb:///{self.path}"
        else:
            self.url = self.server.url()

    def unique(self, stem: str) -> str:
        """A table name no other test of this process uses (the server is shared)."""
        return f"{stem}_{os.getpid()}_{next(_COUNTER)}"

    def execute(self, sql: str) -> None:
        if self.kind == "postgresql":
            self.server.psql(sql)
        elif self.kind == "sqlite":
            with sqlite3.connect(self.path) as conn:
                conn.executescript(sql)
        else:
            import duckdb

            with duckdb.connect(str(self.path)) as conn:
                conn.execute(sql)

    def load(self, frame: pd.DataFrame, table: str) -> str:
        """Write ``frame`` as ``table`` (replacing it); return the URL."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as conn:
                frame.to_sql(table, conn, index=False, if_exists="replace")
        elif self.kind == "duckdb":
            import duckdb

            with duckdb.connect(str(self.path)) as conn:
                conn.register("frame", frame)
                quoted = '"' + table.replace('"', '""') + '"'
                conn.execute(f"CREATE OR REPLACE TABLE {quoted} AS SELECT * FROM frame")
        else:
            import adbc_driver_postgresql.dbapi as pg
            import pyarrow as pa

            with pg.connect(self.server.url()) as conn, conn.cursor() as cur:
                cur.adbc_ingest(table, pa.Table.from_pandas(frame, preserve_index=False),
                                mode="replace")
                conn.commit()
        return self.url

    def read(self, table: str) -> pd.DataFrame | None:
        """The table as a data frame in its stored order, or None when it does not exist."""
        quoted = '"' + table.replace('"', '""') + '"'
        try:
            if self.kind == "sqlite":
                with sqlite3.connect(self.path) as conn:
                    return pd.read_sql(f"SELECT * FROM {quoted}", conn)
            if self.kind == "duckdb":
                import duckdb

                with duckdb.connect(str(self.path), read_only=True) as conn:
                    return conn.sql(f"SELECT * FROM {quoted}").df()
            import adbc_driver_postgresql.dbapi as pg

            with pg.connect(self.server.url()) as conn, conn.cursor() as cur:
                cur.execute(f"SELECT * FROM {quoted}")
                return cur.fetch_arrow_table().to_pandas()
        except Exception as exc:
            if any(s in str(exc).lower() for s in ("no such table", "does not exist")):
                return None
            raise


def messy_customers(mall_df: pd.DataFrame) -> pd.DataFrame:
    """The Mall customers and three bad rows: a missing income, a score of 150, a repeated id."""
    bad = pd.DataFrame({"CustomerID": [201, 202, 5], "Gender": ["Male", "Female", "Male"],
                        "Age": [30, 31, 32], "Annual Income (k$)": [np.nan, 40.0, 50.0],
                        "Spending Score (1-100)": [50, 150, 60]})
    return pd.concat([mall_df, bad], ignore_index=True)


def password_ways(server: postgres_server.Server, how: str) -> tuple[str, list[str], dict]:
    """URL, extra options and environment giving the password ``how``: in the ``url``, through
    ``password-env`` (``--password-env SHOP_PW``) or ``PGPASSWORD``."""
    if how == "url":
        return server.url(), [], {}
    if how == "password-env":
        return server.url(password=None), ["--password-env", "SHOP_PW"], {
            "SHOP_PW": postgres_server.PASSWORD}
    return server.url(password=None), [], {"PGPASSWORD": postgres_server.PASSWORD}


def every_file_text(folder: Path) -> str:
    """Every file under ``folder`` as text (to look for a password in)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*")
                     if p.is_file())
