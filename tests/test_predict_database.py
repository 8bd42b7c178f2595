"""``custseg predict`` from and to real SQLite, DuckDB and PostgreSQL databases: every row
accounted for, the written table equal to the scored file, one transaction (all or nothing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.dboptions import split_password
from custseg.exceptions import OutputError
from custseg.io.dbconnect import Database
from custseg.modelfile import load_model
from custseg.outputs.database import ScoredTable
from custseg.scoring import predict_file
from tests.database_support import messy_customers
from tests.predict_support import read_scored, run_clusters, run_folder

SCORED_COLUMNS = ["customer_id", "Cluster", "Segment", "distance", "atypical", "scored_date"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(run_folder(tmp_path_factory.mktemp("model") / "run"))


@pytest.fixture(scope="module")
def messy(mall_df: pd.DataFrame) -> pd.DataFrame:
    return messy_customers(mall_df)


def test_round_trip_every_row_accounted_for(database, tmp_path, model, messy):
    table, target = database.unique("customers"), database.unique("scored")
    url = database.load(messy, table)
    result = predict_file(model, url, tmp_path / "scored.csv", table=table, output_table=target,
                          chunk_rows=64)
    assert (result.n_input, result.n_scored, result.n_rejected) == (203, 200, 3)
    assert result.table == f"{target} ({split_password(url)[0]})"  # the password masked
    rejected = pd.read_csv(tmp_path / "scored_rejected_rows.csv")
    assert rejected["row"].tolist() == [202, 203, 204]

    written = database.read(target)
    scored = read_scored(tmp_path / "scored.csv")
    assert list(written.columns) == SCORED_COLUMNS
    assert written["customer_id"].tolist() == scored["CustomerID"].astype(str).tolist()
    assert written["Cluster"].tolist() == scored["Cluster"].tolist()
    assert written["Segment"].tolist() == scored["Segment"].tolist()
    assert written["atypical"].astype(bool).tolist() == scored["atypical"].tolist()
    assert np.allclose(written["distance"], scored["distance"], rtol=0, atol=1e-12)
    assert written["Cluster"].tolist() == run_clusters("mall").tolist()  # the training run's

    csv = tmp_path / "messy.csv"
    messy.to_csv(csv, index=False)
    predict_file(model, csv, tmp_path / "from_csv.csv")
    assert read_scored(tmp_path / "from_csv.csv")["Cluster"].tolist() == written["Cluster"].tolist()


def test_query_input_default_file_name(database, tmp_path, model, mall_df, monkeypatch):
    table = database.unique("customers")
    url = database.load(mall_df, table)
    monkeypatch.chdir(tmp_path)
    result = predict_file(model, url, query=f'SELECT * FROM "{table}" WHERE "Gender" = \'Male\' '
                                            'ORDER BY "CustomerID"')
    assert result.out.name == "query_scored.csv"
    assert result.n_scored == int((mall_df["Gender"] == "Male").sum())
    assert predict_file(model, url, table=table).out.name == f"{table}_scored.csv"


def test_if_exists(database, tmp_path, model, mall_df):
    table, target = database.unique("customers"), database.unique("scored")
    url = database.load(mall_df, table)

    def go(name: str, if_exists: str) -> None:
        predict_file(model, url, tmp_path / f"{name}.csv", table=table, output_table=target,
                     if_exists=if_exists)

    go("first", "fail")
    with pytest.raises(OutputError, match=r"Table .* already exists .*--if-exists replace"):
        go("second", "fail")
    assert not (tmp_path / "second.csv").exists()  # refused before scoring
    assert len(database.read(target)) == 200
    go("third", "append")
    assert len(database.read(target)) == 400
    go("fourth", "replace")
    assert len(database.read(target)) == 200


def test_failed_commit_writes_nothing(database, tmp_path, model, mall_df, monkeypatch):
    """The table is created and filled, then the commit fails: it must not exist afterwards, and
    the scored file is not put in place."""
    table, target = database.unique("customers"), database.unique("scored")
    url = database.load(mall_df, table)

    def fail(self):
        raise OutputError("commit failed (test)")

    monkeypatch.setattr(Database, "commit", fail)
    with pytest.raises(OutputError, match="commit failed"):
        predict_file(model, url, tmp_path / "scored.csv", table=table, output_table=target)
    monkeypatch.undo()
    assert database.read(target) is None
    assert not (tmp_path / "scored.csv").exists()
    assert not list(tmp_path.glob(".custseg-table-*"))  # the spill removed


def test_failure_while_scoring_writes_nothing(database, tmp_path, model, mall_df, monkeypatch):
    table, target = database.unique("customers"), database.unique("scored")
    url = database.load(mall_df, table)
    database.load(pd.DataFrame({"x": [1]}), target + "_before")
    original, calls = ScoredTable.write, []

    def write_then_fail(self, scored):
        calls.append(scored.num_rows)
        if len(calls) == 3:
            raise OSError("spill failed (test)")
        original(self, scored)

    monkeypatch.setattr(ScoredTable, "write", write_then_fail)
    with pytest.raises(OSError, match="spill failed"):
        predict_file(model, url, tmp_path / "scored.csv", table=table, output_table=target,
                     chunk_rows=50)
    assert database.read(target) is None
    assert not (tmp_path / "scored.csv").exists()


def test_cannot_append_to_other_columns(database, tmp_path, model, mall_df):
    table, target = database.unique("customers"), database.unique("scored")
    url = database.load(mall_df, table)
    database.load(pd.DataFrame({"other": [1]}), target)
    with pytest.raises(OutputError, match="cannot append"):
        predict_file(model, url, tmp_path / "scored.csv", table=table, output_table=target,
                     if_exists="append")
    assert database.read(target)["other"].tolist() == [1]
    assert not (tmp_path / "scored.csv").exists()


def test_output_db_with_a_file_input(database, tmp_path, model, mall_path):
    target = database.unique("scored")
    result = predict_file(model, mall_path, tmp_path / "scored.csv", output_db=database.url,
                          output_table=target)
    written = database.read(target)
    assert len(written) == result.n_scored == 200
    assert written["Cluster"].tolist() == read_scored(tmp_path / "scored.csv")["Cluster"].tolist()
