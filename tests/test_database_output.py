"""``--output-table`` on the local engines, against real SQLite, DuckDB and PostgreSQL databases:
every row accounted for, the written table equal to the CSV output, one transaction."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from custseg.config import RunConfig
from custseg.exceptions import OutputError
from custseg.pipeline import run
from tests.conftest import MALL_SILHOUETTE
from tests.database_support import messy_customers

pytestmark = pytest.mark.slow  # whole runs, figures and report included

RUN_ENGINES = {"memory": {"engine": "memory"}, "batches-7": {"engine": "batches", "batch_rows": 7}}


@pytest.fixture(scope="module")
def messy(mall_df: pd.DataFrame) -> pd.DataFrame:
    return messy_customers(mall_df)


@pytest.mark.parametrize("engine", list(RUN_ENGINES))
def test_round_trip_every_row_accounted_for(database, tmp_path, messy, engine):
    table, target = database.unique("customers"), database.unique("segments")
    url = database.load(messy, table)
    result = run(RunConfig(input=url, table=table, out=tmp_path / "2026-03", k=5,
                           output_table=target, **RUN_ENGINES[engine]))
    assert (result.rows.input, result.rows.clustered, result.rows.rejected) == (203, 200, 3)
    assert sorted(result.sizes.tolist()) == [22, 23, 35, 39, 81]
    assert round(result.silhouette, 4) == MALL_SILHOUETTE
    rejected = pd.read_csv(tmp_path / "2026-03" / "rejected_rows.csv")
    assert rejected["reason"].tolist() == ["missing value", "outside 1..100",
                                           "duplicate customer id (first seen in row 6)"]
    assert rejected["row"].tolist() == [202, 203, 204]

    written = database.read(target)
    clustered = pd.read_csv(tmp_path / "2026-03" / "customers_clustered.csv")
    assert list(written.columns) == ["customer_id", "Cluster", "Segment", "run_id", "run_date"]
    assert written["customer_id"].tolist() == clustered["CustomerID"].astype(str).tolist()
    assert written["Cluster"].tolist() == clustered["Cluster"].tolist()
    assert written["Segment"].tolist() == clustered["Segment"].tolist()
    assert set(written["run_id"]) == {"2026-03"}

    segments = database.read(target + "_segments")
    assert list(segments.columns) == ["run_id", "run_date", "id", "name", "action", "centroid",
                                      "size"]
    assert segments["size"].tolist() == result.sizes.tolist()
    assert segments["name"].tolist() == result.names
    centroid = json.loads(segments["centroid"].iloc[0])
    assert list(centroid) == ["Annual Income (k$)", "Spending Score (1-100)"]
    assert [round(v, 1) for v in centroid.values()] == [55.3, 49.5]


def test_same_clusters_as_the_csv_run(database, tmp_path, messy):
    table = database.unique("customers")
    url = database.load(messy, table)
    csv = tmp_path / "customers.csv"
    messy.to_csv(csv, index=False)
    from_csv = run(RunConfig(input=csv, out=tmp_path / "csv", k=5))
    from_db = run(RunConfig(input=url, table=table, out=tmp_path / "db", k=5))
    a = pd.read_csv(tmp_path / "csv" / "customers_clustered.csv")
    b = pd.read_csv(tmp_path / "db" / "customers_clustered.csv")
    assert a["CustomerID"].tolist() == b["CustomerID"].tolist()
    assert a["Cluster"].tolist() == b["Cluster"].tolist()
    assert from_csv.names == from_db.names


def test_deterministic(database, tmp_path, messy):
    table = database.unique("customers")
    url = database.load(messy, table)
    for name in ("a", "b"):
        run(RunConfig(input=url, table=table, out=tmp_path / name, seed=7, engine="batches",
                      batch_rows=50))
    for file in ("customers_clustered.csv", "segments.json", "rejected_rows.csv",
                 "segments_model.custseg.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_if_exists(database, tmp_path, mall_df):
    table, target = database.unique("customers"), database.unique("segments")
    url = database.load(mall_df, table)

    def go(name: str, if_exists: str) -> None:
        run(RunConfig(input=url, table=table, out=tmp_path / name, k=5, output_table=target,
                      if_exists=if_exists))

    go("2026-01", "fail")
    with pytest.raises(OutputError, match=r"already exists.*--if-exists replace"):
        go("2026-02", "fail")
    assert not (tmp_path / "2026-02").exists()  # refused before the run
    go("2026-02", "append")
    written = database.read(target)
    assert written["run_id"].value_counts().to_dict() == {"2026-01": 200, "2026-02": 200}
    assert database.read(target + "_segments")["run_id"].tolist() == ["2026-01"] * 5 + ["2026-02"] * 5
    go("2026-03", "replace")
    assert set(database.read(target)["run_id"]) == {"2026-03"}
    assert len(database.read(target + "_segments")) == 5


def test_failed_write_leaves_tables_and_folder_as_they_were(database, tmp_path, mall_df):
    """The customer table is written first, then the segments table fails: neither remains,
    and the run folder is not created."""
    table, target = database.unique("customers"), database.unique("segments")
    url = database.load(mall_df, table)
    database.load(pd.DataFrame({"other": [1]}), target + "_segments")
    with pytest.raises(OutputError, match="cannot append"):
        run(RunConfig(input=url, table=table, out=tmp_path / "run", k=5, output_table=target,
                      if_exists="append"))
    assert database.read(target) is None
    assert database.read(target + "_segments")["other"].tolist() == [1]
    assert not (tmp_path / "run").exists()


def test_query_input_and_quoted_names(database, tmp_path, mall_df):
    odd = database.unique('we"ird; DROP TABLE x')
    url = database.load(mall_df, odd)
    quoted = '"' + odd.replace('"', '""') + '"'  # as SQL, and as --table / --output-table take it
    result = run(RunConfig(input=url, query=f"SELECT * FROM {quoted} WHERE \"Gender\" = 'Female' "
                                            'ORDER BY "CustomerID"',
                           out=tmp_path / "q", k=3, output_table=quoted[:-1] + ' out"'))
    assert result.rows.input == int((mall_df["Gender"] == "Female").sum())
    assert len(database.read(odd + " out")) == result.rows.clustered
    assert len(database.read(odd)) == 200


def test_odd_table_name_read_with_table(database, tmp_path, mall_df):
    odd = database.unique('Mixed.Case "x"')
    url = database.load(mall_df, odd)
    result = run(RunConfig(input=url, table='"' + odd.replace('"', '""') + '"', out=tmp_path / "t",
                           k=5))
    assert result.rows.clustered == 200
