"""The database source (``custseg.io.database``) on SQLite, DuckDB and a real PostgreSQL."""

from __future__ import annotations

import sqlite3

import numpy as np
import pyarrow as pa
import pytest

from custseg.config import RunConfig
from custseg.engines import open_input
from custseg.exceptions import InputFileError
from custseg.io.database import open_database, rebatch
from custseg.pipeline import segment


def test_whole_and_in_batches_give_the_same_rows(database, mall_df):
    table = database.unique("customers")
    url = database.load(mall_df, table)
    source = open_database(url, table=table)
    assert source.columns == list(mall_df.columns)
    assert source.format == "database"
    whole = source.read_all()
    assert whole.rows.tolist() == list(range(2, 202))
    chunks = list(source.chunks(7, ["CustomerID", "Annual Income (k$)"]))
    assert [c.table.num_rows for c in chunks] == [7] * 28 + [4]
    assert chunks[0].table.column_names == ["CustomerID", "Annual Income (k$)"]
    assert np.concatenate([c.rows for c in chunks]).tolist() == whole.rows.tolist()
    ids = pa.concat_tables([c.table for c in chunks]).column("CustomerID").to_pylist()
    assert [str(i) for i in ids] == [str(i) for i in whole.table.column("CustomerID").to_pylist()]
    assert source.info().name == f"{table} ({url.replace(':s3cret-Pw@', '@')})"  # no password
    assert "s3cret" not in repr(source.url)


def test_postgres_numeric_read_as_exact_text(postgres, tmp_path):
    from tests.database_support import Backend

    pg = Backend("postgresql", tmp_path)
    table = pg.unique("money")
    pg.execute(f'CREATE TABLE {table} (id int, spent numeric(10, 2)); '
               f"INSERT INTO {table} VALUES (1, 12.50), (2, NULL)")
    column = open_database(pg.url, table=table).read_all().table.column("spent")
    assert column.to_pylist() == ["12.50", None]


def test_sqlite_mixed_storage_classes_are_rejected_with_reasons(tmp_path, mall_df):
    """A SQLite column may hold text among numbers: those rows are rejected, not a crash."""
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        mall_df.to_sql("customers", conn, index=False)
        conn.execute('UPDATE customers SET "Annual Income (k$)" = \'12k\' WHERE "CustomerID" = 150')
    result = segment(RunConfig(input=f"sqlite:///{path}", table="customers", k=5))
    assert (result.rows.input, result.rows.rejected) == (200, 1)
    assert result.rows.reasons == {"non-numeric text": 1}


def test_read_from_another_schema(postgres, tmp_path, mall_df):
    from tests.database_support import Backend

    pg = Backend("postgresql", tmp_path)
    schema, table = pg.unique("crm"), pg.unique("only_there")
    pg.execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.{table} AS "
               f"SELECT * FROM (VALUES (1, 10, 20), (2, 30, 40)) AS v(id, a, b)")
    source = open_database(pg.url, table=f"{schema}.{table}")
    assert source.read_all().table.num_rows == 2
    with pytest.raises(InputFileError, match=rf"Table '{table}' not found"):
        open_database(pg.url, table=table)  # only in the other schema, not on the search path


def test_open_input_uses_the_database(tmp_path, mall_df):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        mall_df.to_sql("customers", conn, index=False)
    source = open_input(RunConfig(input=f"sqlite:///{path}", table="customers"))
    assert source.name == f"customers (sqlite:///{path})"


@pytest.mark.parametrize(("sizes", "rows", "expected"), [
    ((3, 0, 4), 2, [2, 2, 2, 1]), ((5,), 10, [5]), ((1, 1, 1), 1, [1, 1, 1]), ((), 3, []),
])
def test_rebatch(sizes, rows, expected):
    batches = [pa.record_batch({"a": list(range(n))}) for n in sizes]
    out = list(rebatch(iter(batches), rows))
    assert [t.num_rows for t in out] == expected
    values = [v for t in out for v in t.column("a").to_pylist()]
    assert values == [v for n in sizes for v in range(n)]


