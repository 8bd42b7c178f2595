"""Sizing a database input without reading it (``custseg.io.dbsize``), and ``--engine auto`` on
it: SQLite, DuckDB and a real PostgreSQL."""

from __future__ import annotations

import json

import pytest

from custseg.config import RunConfig
from custseg.engines import BatchEngine, MemoryEngine, choose_engine, open_engine, open_input
from custseg.io.database import open_database
from custseg.pipeline import run
from tests.engine_support import assert_same_outputs

#: Mall customers: an integer id, text gender, three integer features (DuckDB and PostgreSQL
#: keep the types: 4 × 8 + 32 bytes; SQLite is read as text: 5 × 32).
MALL_ROW_BYTES = {"sqlite": 160, "duckdb": 64, "postgresql": 64}
#: Rows of the query below (customers over 30).
OVER_30 = 138
QUERY = 'SELECT * FROM {table} WHERE "Age" > 30 ORDER BY "CustomerID"'


def _read(database, mall_df, how: str) -> dict:
    table = database.unique("customers")
    database.load(mall_df, table)
    return {"table": table} if how == "table" else {"query": QUERY.format(table=f'"{table}"')}


@pytest.mark.parametrize("how", ["table", "query"])
def test_auto_sizes_a_database_input_and_both_engines_agree(database, mall_df, tmp_path, how):
    read = _read(database, mall_df, how)
    runs = {}
    for budget, expected in (("2GB", MemoryEngine), ("64MB", BatchEngine)):
        config = RunConfig(input=database.url, out=tmp_path / budget, k=5, memory_budget=budget,
                           **read)
        assert isinstance(open_engine(config, open_input(config)), expected)
        runs[budget] = run(config)
    memory, batches = runs["2GB"], runs["64MB"]
    assert (memory.engine["name"], batches.engine["name"]) == ("memory", "batches")
    rows = 200 if how == "table" else OVER_30
    assert memory.n_input == rows
    assert_same_outputs(memory, batches)  # the clustered file, model, profiles: the same bytes
    choice = json.loads((tmp_path / "64MB" / "segments.json").read_text())["run"]["engine"]["choice"]
    assert choice["by"] == "--engine auto"
    assert choice["memory_budget"] == 64 * 1024**2 < choice["estimated_peak_bytes"]
    assert choice["basis"]["row_bytes"] == MALL_ROW_BYTES[database.kind]
    assert "exceeds --memory-budget 64 MB" in choice["reason"]
    assert memory.engine["choice"]["reason"].endswith("fits --memory-budget 2.0 GB")
    assert "s3cret" not in json.dumps(choice)


@pytest.mark.parametrize(("kind", "analyzed", "method"), [
    ("sqlite", False, "count(*)"),
    ("sqlite", True, "sqlite_stat1"),
    ("duckdb", False, "duckdb_tables().estimated_size"),
    ("postgresql", False, "EXPLAIN plan rows"),
    ("postgresql", True, "pg_class.reltuples"),
])
def test_rows_of_a_table_are_estimated_without_reading_it(tmp_path, mall_df, kind, analyzed,
                                                          method):
    from tests.database_support import Backend

    database = Backend(kind, tmp_path)
    table = database.unique('odd "name" ')  # quoted as an identifier, never pasted
    url = database.load(mall_df, table)
    if analyzed:
        quoted = '"' + table.replace('"', '""') + '"'
        database.execute(f"ANALYZE {quoted}")
    size = open_database(url, table=f'"{table.replace(chr(34), chr(34) * 2)}"').size()
    assert size.method == method
    if method == "EXPLAIN plan rows":  # the planner's guess from the table's pages
        assert size.rows > 0
    else:
        assert size.rows == 200
    assert size.bytes == size.rows * MALL_ROW_BYTES[kind]


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_a_query_is_sized_without_running_it_where_the_database_can(tmp_path, mall_df, kind):
    from tests.database_support import Backend

    database = Backend(kind, tmp_path)
    table = database.unique("customers")
    url = database.load(mall_df, table)
    source = open_database(url, query=QUERY.format(table=table))
    size = source.size()
    expected = "EXPLAIN plan rows" if kind == "postgresql" else "count(*)"
    assert size.method == expected
    if kind != "postgresql":
        assert size.rows == OVER_30
    kind_chosen, choice = choose_engine(RunConfig(input=url, query=QUERY.format(table=table)),
                                        source)
    assert kind_chosen == "memory"
    assert choice["basis"] == {"from": expected, "rows": size.rows, "row_bytes": size.row_bytes,
                               "bytes": size.bytes}


@pytest.mark.parametrize(("engine", "by"), [("memory", "--engine memory"),
                                            ("batches", "--engine batches")])
def test_a_named_engine_is_recorded_as_named(database, mall_df, engine, by):
    read = _read(database, mall_df, "table")
    config = RunConfig(input=database.url, engine=engine, **read)
    assert choose_engine(config, open_input(config)) == (engine, {"by": by})
