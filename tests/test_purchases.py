"""Transaction logs aggregated to customers, checked against independent pandas computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from custseg.io.purchases import aggregate_transactions
from custseg.io.rejects import RejectStore
from custseg.io.sources import FrameSource, open_source
from custseg.io.transactions import find_transaction_columns
from tests.conftest import shared_dataset


def aggregate(source, tmp_path: Path, **options):
    columns = find_transaction_columns(source.columns, source.name,
                                       options.pop("given", None))
    rejects = RejectStore(tmp_path / "rejects.arrows")
    features = aggregate_transactions(source, columns, tmp_path / "customers.parquet", rejects,
                                      work_dir=tmp_path / "spill", **options)
    rejects.close()
    return features, pq.read_table(features.path).to_pandas(), rejects


@pytest.fixture(scope="module")
def cdnow_path() -> Path:
    return shared_dataset("cdnow", "CDNOW_master.txt")


@pytest.mark.parametrize("batch_lines", [1_000_000, 4_999])
def test_cdnow_matches_pandas(cdnow_path: Path, tmp_path: Path, batch_lines: int) -> None:
    features, table, rejects = aggregate(open_source(cdnow_path), tmp_path, batch_lines=batch_lines)
    # The independent computation: pandas reads the log its own way.
    log = pd.read_csv(cdnow_path, sep=r"\s+", dtype={"customer_id": str})
    log["day"] = pd.to_datetime(log["date"].astype(str), format="%Y%m%d")
    counts = features.counts
    assert (counts.lines_read, counts.lines_used, counts.lines_rejected) == (69_659, 69_659, 0)
    assert (counts.customers, counts.customers_rejected) == (23_570, 0)
    assert counts.zero_amount_lines == (log["dollar_value"] == 0).sum() == 80
    assert counts.as_of == "1998-07-01"
    assert counts.date_format == "YYYYMMDD"
    assert rejects.count == 0
    by = log.groupby("customer_id")
    expected = pd.DataFrame({
        "frequency": by["day"].nunique(),
        "net_spend": by["dollar_value"].sum(),
        "lines": by.size(),
        "units": by["number_of_cds"].sum(),
        "last": by["day"].max(), "first": by["day"].min(),
    })
    table = table.set_index("customer_id")
    assert list(table.index) == sorted(expected.index)
    expected = expected.loc[table.index]
    assert np.array_equal(table["frequency"], expected["frequency"])
    assert np.array_equal(table["lines"], expected["lines"])
    assert np.allclose(table["monetary_total"], expected["net_spend"], rtol=0, atol=1e-6)
    assert np.allclose(table["monetary_mean"], expected["net_spend"] / expected["frequency"])
    assert np.array_equal(table["units"], expected["units"])
    as_of = pd.Timestamp("1998-07-01")
    assert np.array_equal(table["recency_days"], (as_of - expected["last"]).dt.days)
    assert np.array_equal(table["tenure_days"], (as_of - expected["first"]).dt.days)
    assert table["monetary_total"].sum() == pytest.approx(2_500_315.63, abs=1e-4)


@pytest.mark.parametrize(("customer", "recency", "frequency", "total"), [
    # By hand from the log: 00001 bought once, 1997-01-01, $11.77; 00002 twice on 1997-01-12
    # (one purchase, $12 + $77); 00003 on six days, the last 1998-05-28.
    ("00001", (pd.Timestamp("1998-07-01") - pd.Timestamp("1997-01-01")).days, 1, 11.77),
    ("00002", (pd.Timestamp("1998-07-01") - pd.Timestamp("1997-01-12")).days, 1, 89.0),
    ("00003", (pd.Timestamp("1998-07-01") - pd.Timestamp("1998-05-28")).days, 6, 156.46),
])
def test_cdnow_customers_by_hand(cdnow_path: Path, tmp_path: Path, customer: str, recency: int,
                                 frequency: int, total: float) -> None:
    table = aggregate(open_source(cdnow_path), tmp_path)[1].set_index("customer_id")
    row = table.loc[customer]
    assert (row["recency_days"], row["frequency"]) == (recency, frequency)
    assert row["monetary_total"] == pytest.approx(total, abs=1e-9)


LOG = pd.DataFrame({
    "Customer": ["a", "a", "a", "b", "b", "", "c", "c", "d", "a", "e"],
    "OrderDate": ["2024-01-01", "2024-01-01", "2024-02-01", "2024-01-10", "2024-01-15",
                  "2024-01-02", "not a date", "2024-03-01", "2024-01-05", "2024-05-01",
                  "2024-01-03"],
    "Revenue": ["10", "5", "-3", "0", "20", "7", "4", "x", "-50", "9", "1.5"],
    "Invoice": ["o1", "o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", "o10"],
})


def test_every_line_and_customer_accounted_for(tmp_path: Path) -> None:
    as_of = int((pd.Timestamp("2024-04-01") - pd.Timestamp("1970-01-01")).days)
    features, table, rejects = aggregate(FrameSource(LOG), tmp_path, as_of=as_of)
    c = features.counts
    assert c.lines_read == len(LOG) == c.lines_used + c.lines_rejected
    assert c.lines_rejected == 4
    assert rejects.preview[["row", "customer_id", "reason"]].fillna("").values.tolist() == [
        [7, "", "missing customer id"],
        [8, "c", "unparseable date"],
        [9, "c", "non-numeric text"],
        [11, "a", "date after --as-of 2024-04-01"],
    ]
    # c has no usable line: rejected as a customer; everyone else is in the table.
    assert c.customers == 5 == c.customers_segmentable + c.customers_rejected
    assert features.rejected_customers.to_pylist() == [
        {"customer_id": "c", "lines": 2, "reason": "no usable transaction line (2 lines rejected)"}]
    table = table.set_index("customer_id")
    assert sorted(table.index) == ["a", "b", "d", "e"]
    # Orders: a's two o1 lines are one purchase; returns net against spend.
    assert table.loc["a", "frequency"] == 2
    assert table.loc["a", "monetary_total"] == 12
    assert table.loc["a", "returns"] == 1
    assert table.loc["b", "zero_amount_lines"] == 1
    assert table.loc["b", "frequency"] == 2
    # d's net spend is below zero: kept in net_spend, counted as 0 in monetary_total.
    assert table.loc["d", "net_spend"] == -50
    assert table.loc["d", "monetary_total"] == 0
    assert c.negative_net_customers == 1
    assert c.returns == 2
    assert c.zero_amount_lines == 1
    assert table.loc["a", "recency_days"] == (pd.Timestamp("2024-04-01") - pd.Timestamp("2024-02-01")).days
    assert features.columns.order == "Invoice"


def test_same_log_same_bytes(tmp_path: Path) -> None:
    one = aggregate(FrameSource(LOG), tmp_path / "1")[1]
    two = aggregate(FrameSource(LOG.sample(frac=1, random_state=3)), tmp_path / "2")[1]
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.parametrize("kind", ["csv", "parquet", "excel", "dataframe"])
def test_any_input_gives_the_same_table(tmp_path: Path, kind: str) -> None:
    log = LOG[LOG["OrderDate"] != "not a date"].copy()
    path = tmp_path / f"log.{ {'csv': 'csv', 'parquet': 'parquet', 'excel': 'xlsx'}.get(kind, 'x') }"
    if kind == "csv":
        log.to_csv(path, index=False)
    elif kind == "parquet":
        # Typed columns: dates as dates, amounts as numbers.
        typed = log.assign(OrderDate=pd.to_datetime(log["OrderDate"]).dt.date,
                           Revenue=pd.to_numeric(log["Revenue"], errors="coerce"))
        typed.to_parquet(path)
    elif kind == "excel":
        log.to_excel(path, index=False)
    source = FrameSource(log) if kind == "dataframe" else open_source(path)
    features, table, _ = aggregate(source, tmp_path / "w")
    reference = aggregate(FrameSource(log), tmp_path / "ref")[1]
    # No customer id, and an amount that is not a number (in Parquet: a null, a missing value).
    assert features.counts.lines_rejected == 2
    pd.testing.assert_frame_equal(table, reference)
