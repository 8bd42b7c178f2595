"""``custseg run`` with a real PostgreSQL server (and SQLite files): the password never shows,
and each way a database can fail is one line and an exit code."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg.cli import app
from tests import postgres_server
from tests.database_support import Backend, every_file_text, password_ways

runner = CliRunner()
PASSWORD = postgres_server.PASSWORD


@pytest.fixture(scope="module")
def pg(postgres, tmp_path_factory, mall_df: pd.DataFrame) -> Backend:
    """The server with the Mall customers in ``customers`` (and a date column to misuse)."""
    backend = Backend("postgresql", tmp_path_factory.mktemp("pg"))
    backend.load(mall_df.assign(Signup=pd.Timestamp("2024-01-01").date()), "customers")
    return backend


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["url", "password-env", "PGPASSWORD"])
def test_password_never_printed_or_written(pg, tmp_path, how):
    runs = tmp_path / "runs"
    url, extra, env = password_ways(pg.server, how)
    table = pg.unique("out")
    result = invoke("run", url, "--table", "customers", "--k", "5", "--out", str(runs / "2026-03"),
                    "--output-table", table, *extra, env=env)
    assert result.exit_code == 0, result.output
    assert "customers (postgresql://custseg@127.0.0.1" in every_file_text(runs / "2026-03")
    assert PASSWORD not in result.output
    assert PASSWORD not in every_file_text(runs)  # segments.json, model, report, history...
    assert (runs / ".custseg-history.jsonl").exists()
    assert len(pg.read(table)) == 200
    # an error message quoting the URL shows it masked
    failed = invoke("run", url, "--table", "no_such_table", "--out", str(tmp_path / "x"), *extra,
                    env=env)
    assert failed.exit_code == 3
    assert "no_such_table" in failed.output
    assert PASSWORD not in failed.output


def test_wrong_password(pg, tmp_path):
    result = invoke("run", pg.server.url(password="wrong-" + PASSWORD), "--table", "customers",
                    "--out", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert result.output.count("\n") == 1
    assert "authentication failed" in result.output
    assert PASSWORD not in result.output
    assert not (tmp_path / "o").exists()


def test_unreachable_server(pg, tmp_path):
    url = f"postgresql://custseg:{PASSWORD}@127.0.0.1:{postgres_server._free_port()}/shop"
    result = invoke("run", url, "--table", "customers", "--out", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert result.output.startswith("Error: Cannot reach the database server")
    assert result.output.count("\n") == 1
    assert PASSWORD not in result.output


def test_missing_database(pg, tmp_path):
    result = invoke("run", pg.server.url(database="nowhere"), "--table", "customers",
                    "--out", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert "Database 'nowhere' does not exist" in result.output


def test_missing_table_suggests_the_right_case(pg, tmp_path):
    result = invoke("run", pg.server.url(), "--table", "Customers", "--out", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert "Did you mean 'customers'?" in result.output


def test_column_of_wrong_type(pg, tmp_path):
    result = invoke("run", pg.server.url(), "--table", "customers", "--features",
                    "Signup,Spending Score (1-100)", "--out", str(tmp_path / "o"))
    assert result.exit_code == 4
    assert "Column 'Signup' holds date32[day] values, not numbers" in result.output


def test_query_runs_read_only(pg, tmp_path):
    table = pg.unique("victim")
    pg.load(pd.DataFrame({"CustomerID": [1, 2], "Annual Income (k$)": [10, 20],
                          "Spending Score (1-100)": [5, 6]}), table)
    function = pg.unique("wipe")
    pg.execute(f'CREATE FUNCTION {function}() RETURNS int AS $$ DELETE FROM "{table}"; SELECT 1 $$ '
               "LANGUAGE sql")
    result = invoke("run", pg.server.url(), "--query", f'SELECT *, {function}() AS w FROM "{table}"',
                    "--out", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert "--query must only read" in result.output
    assert "read-only transaction" in result.output
    assert len(pg.read(table)) == 2
    result = invoke("run", pg.server.url(), "--query", f'DELETE FROM "{table}" RETURNING *',
                    "--out", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert "--query cannot be read (it must be one SELECT)" in result.output
    assert len(pg.read(table)) == 2


def test_query_selects_rows(pg, tmp_path):
    result = invoke("run", pg.server.url(), "--query",
                    """SELECT * FROM customers WHERE "Gender" = 'Female' ORDER BY "CustomerID";""",
                    "--k", "4", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "Rows: 112 read = 112 segmented + 0 rejected" in result.output


def test_output_table_exists_with_if_exists_fail(pg, tmp_path):
    result = invoke("run", pg.server.url(), "--table", "customers", "--out", str(tmp_path / "o"),
                    "--output-table", "customers")
    assert result.exit_code == 5
    assert "Table customers already exists" in result.output
    assert not (tmp_path / "o").exists()


def test_driver_not_installed(pg, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql.dbapi", None)  # as if not installed
    result = invoke("run", pg.server.url(), "--table", "customers", "--out", str(tmp_path / "o"))
    assert result.exit_code == 7
    assert "pip install 'custseg[sql]'" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--query", "SELECT 1"], "--query goes with a database URL"),
    (["--output-table", "t"], "--output-table needs a database to write to"),
])
def test_database_options_without_a_database(tmp_path, args, message):
    result = invoke("run", "--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_database_url_needs_table_or_query(tmp_path):
    result = invoke("run", f"sqlite:///{tmp_path}/shop.db", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "--table NAME or --query" in result.output


def test_missing_sqlite_file(tmp_path):
    result = invoke("run", f"sqlite:///{tmp_path}/nope.db", "--table", "customers",
                    "--out", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert "Database file" in result.output
    assert "does not exist" in result.output
    assert not (tmp_path / "nope.db").exists()
