"""``custseg predict``, ``choose-k`` and ``run --output-db`` with databases, through the CLI:
the password never shows, errors are one line and an exit code."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg.cli import app
from custseg.dboptions import split_password
from tests import postgres_server
from tests.database_support import Backend, every_file_text, password_ways
from tests.predict_support import read_scored, run_folder

runner = CliRunner()
PASSWORD = postgres_server.PASSWORD


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def pg(postgres, tmp_path_factory, mall_df: pd.DataFrame) -> Backend:
    backend = Backend("postgresql", tmp_path_factory.mktemp("pg"))
    backend.load(mall_df, "customers")
    return backend


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return run_folder(tmp_path_factory.mktemp("model") / "run")


@pytest.mark.parametrize("how", ["url", "password-env", "PGPASSWORD"])
def test_predict_password_never_printed_or_written(pg, model_dir, tmp_path, how):
    url, extra, env = password_ways(pg.server, how)
    target = pg.unique("scored")
    out = tmp_path / "out" / "scored.csv"
    result = invoke("predict", "--model", model_dir, url, "--table", "customers", "--out", out,
                    "--output-table", target, *extra, env=env)
    assert result.exit_code == 0, result.output
    assert "Rows: 200 read = 200 scored + 0 rejected" in result.output
    assert f"Table: {target} (postgresql://custseg@127.0.0.1" in result.output
    assert PASSWORD not in result.output
    assert PASSWORD not in every_file_text(tmp_path / "out")
    assert pg.read(target)["Cluster"].tolist() == read_scored(out)["Cluster"].tolist()
    # the same table again: --if-exists fail, one line, masked, nothing scored
    again = invoke("predict", "--model", model_dir, url, "--table", "customers",
                   "--out", tmp_path / "again.csv", "--output-table", target, *extra, env=env)
    assert again.exit_code == 5
    assert again.output.count("\n") == 1
    assert f"Table {target} already exists in postgresql://custseg@127.0.0.1" in again.output
    assert PASSWORD not in again.output
    assert not (tmp_path / "again.csv").exists()
    missing = invoke("predict", "--model", model_dir, url, "--table", "nope",
                     "--out", tmp_path / "x.csv", *extra, env=env)
    assert missing.exit_code == 3
    assert "Table 'nope' not found" in missing.output
    assert PASSWORD not in missing.output


def test_run_output_db_password_in_url_never_shown(pg, tmp_path, mall_path):
    target = pg.unique("segments")
    result = invoke("run", mall_path, "--k", "5", "--out", tmp_path / "run",
                    "--output-db", pg.server.url(), "--output-table", target)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert PASSWORD not in every_file_text(tmp_path / "run")
    clustered = pd.read_csv(tmp_path / "run" / "mall_customers_clustered.csv")
    written = pg.read(target)
    assert written["customer_id"].tolist() == clustered["CustomerID"].astype(str).tolist()
    assert written["Cluster"].tolist() == clustered["Cluster"].tolist()
    assert len(pg.read(target + "_segments")) == 5


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_run_csv_input_output_db(kind, tmp_path, mall_path):
    db = Backend(kind, tmp_path)  # the file does not exist yet: the run creates it
    result = invoke("run", mall_path, "--k", "5", "--out", tmp_path / "run",
                    "--output-db", db.url, "--output-table", "segments")
    assert result.exit_code == 0, result.output
    clustered = pd.read_csv(tmp_path / "run" / "mall_customers_clustered.csv")
    assert db.read("segments")["Cluster"].tolist() == clustered["Cluster"].tolist()
    assert db.read("segments_segments")["size"].sum() == 200


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_predict_csv_input_output_db(kind, tmp_path, model_dir, mall_path):
    db = Backend(kind, tmp_path)
    out = tmp_path / "scored.csv"
    for if_exists in ("fail", "append"):
        result = invoke("predict", "--model", model_dir, mall_path, "--out", out,
                        "--output-db", db.url, "--output-table", "scored", "--if-exists", if_exists)
        assert result.exit_code == 0, result.output
    written = db.read("scored")
    assert len(written) == 400
    assert written["Cluster"].tolist()[:200] == read_scored(out)["Cluster"].tolist()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_choose_k_from_a_table(kind, tmp_path, mall_df, mall_path):
    db = Backend(kind, tmp_path)
    table = db.unique("customers")
    url = db.load(mall_df, table)
    from_db = invoke("choose-k", url, "--table", table, "--k-max", "6", "--out", tmp_path / "db",
                     "--quiet")
    assert from_db.exit_code == 0, from_db.output
    from_csv = invoke("choose-k", mall_path, "--k-max", "6", "--out", tmp_path / "csv", "--quiet")
    assert from_csv.exit_code == 0, from_csv.output
    db_k = json.loads((tmp_path / "db" / "k_selection.json").read_text())
    csv_k = json.loads((tmp_path / "csv" / "k_selection.json").read_text())
    assert db_k["rows"] == {"clustered": 200, "input": 200, "reject_reasons": {}, "rejected": 0}
    assert db_k["k_selection"]["chosen_k"] == 5
    assert db_k["k_selection"] == csv_k["k_selection"]  # the same rows: the same scores
    assert db_k["run"]["input"]["name"] == f"{table} ({split_password(url)[0]})"
    assert PASSWORD not in (tmp_path / "db" / "k_selection.json").read_text()
    query = invoke("choose-k", url, "--query", f'SELECT * FROM "{table}" ORDER BY "CustomerID"',
                   "--k-max", "6", "--out", tmp_path / "q", "--quiet")
    assert query.exit_code == 0, query.output


@pytest.mark.parametrize(("args", "message"), [
    (["--output-table", "t"], "--output-table needs a database to write to: add --output-db URL"),
    (["--output-db", "sqlite:///x.db"], "--output-db names where --output-table goes"),
    (["--output-db", "shop.db", "--output-table", "t"], "is not a database URL"),
    (["--table", "customers"], "--table goes with a database URL as INPUT"),
    (["--query", "SELECT 1"], "--query goes with a database URL as INPUT"),
    (["--password-env", "PW"], "--password-env goes with a database URL"),
    (["--output-db", "sqlite:///x.db", "--output-table", "t", "--if-exists", "merge"],
     "--if-exists must be one of fail, replace, append"),
])
def test_predict_database_options_without_a_database(model_dir, tmp_path, mall_path, args,
                                                     message):
    result = invoke("predict", "--model", model_dir, mall_path, "--out", tmp_path / "s.csv",
                    *args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert message in result.output
    assert not (tmp_path / "s.csv").exists()


def test_predict_database_needs_table_or_query(model_dir, tmp_path):
    result = invoke("predict", "--model", model_dir, f"sqlite:///{tmp_path}/shop.db",
                    "--out", tmp_path / "s.csv")
    assert result.exit_code == 2
    assert "--table NAME or --query" in result.output


def test_run_output_db_with_spark_refused(tmp_path):
    result = invoke("run", "--engine", "spark", "--out", tmp_path / "o", "--output-db",
                    "sqlite:///x.db", "--output-table", "t")
    assert result.exit_code == 2
    assert "--output-db works on the memory and batches engines" in result.output
