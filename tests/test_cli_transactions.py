"""Transaction logs end to end: `custseg run LOG --transactions` and `custseg rfm LOG`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg.cli import app
from tests.conftest import ROOT, shared_dataset

runner = CliRunner()
SCHEMA = ROOT / "src" / "custseg" / "schemas" / "segments.schema.json"


def make_log(n_customers: int = 240, seed: int = 0, end: str = "2024-06-30") -> pd.DataFrame:
    """A purchase log with regulars, lapsed big spenders and one-off buyers (day-first dates)."""
    rng = np.random.default_rng(seed)
    rows = []
    last = pd.Timestamp(end)
    for i in range(n_customers):
        kind = i % 3
        n = [12, 4, 1][kind]
        start = last - pd.Timedelta(days=[150, 300, 60][kind])
        stop = last - pd.Timedelta(days=[0, 200, 0][kind])
        days = rng.integers(0, max(1, (stop - start).days), size=n)
        for j, d in enumerate(sorted(days)):
            amount = rng.gamma(2.0, [30, 120, 15][kind])
            rows.append((f"C{i:04d}", (start + pd.Timedelta(days=int(d))).strftime("%d/%m/%Y"),
                         f"{amount:.2f}", f"O{i}-{j}"))
    return pd.DataFrame(rows, columns=["Customer ID", "Order Date", "Sales", "Order ID"])


@pytest.fixture
def log_csv(tmp_path: Path) -> Path:
    log = make_log()
    # Bad lines: no customer, a date that does not exist, a non-numeric amount; C9999's only line
    # is bad, so C9999 is rejected as a customer.
    bad = pd.DataFrame([("", "01/02/2024", "5", "X1"), ("C0001", "30/02/2024", "5", "X2"),
                        ("C0002", "03/02/2024", "12k", "X3"), ("C9999", "31/04/2024", "1", "X4")],
                       columns=log.columns)
    path = tmp_path / "sales.csv"
    pd.concat([log, bad], ignore_index=True).to_csv(path, index=False)
    return path


def test_run_accounts_for_every_line_and_customer(tmp_path: Path, log_csv: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(log_csv), "--transactions", "--k", "3", "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    n_lines = len(pd.read_csv(log_csv))
    assert f"{n_lines:,} lines read = {n_lines - 4:,} used + 4 rejected" in result.stdout
    assert "Customers: 241 = 240 segmented + 1 rejected" in result.stdout
    rejected = pd.read_csv(out / "rejected_rows.csv", dtype=str, keep_default_na=False)
    assert rejected["row"].astype(int).tolist() == [n_lines - 2, n_lines - 1, n_lines, n_lines + 1]
    assert rejected["reason"].tolist() == ["missing customer id", "unparseable date",
                                           "non-numeric text", "unparseable date"]
    customers = pd.read_csv(out / "rejected_customers.csv", dtype=str)
    assert customers["customer_id"].tolist() == ["C9999"]
    clustered = pd.read_csv(out / "sales_clustered.csv", dtype={"customer_id": str})
    assert len(clustered) == 240
    for column in ["recency_days", "frequency", "monetary_total", "tenure_days", "R", "F", "M",
                   "RFM_group", "Cluster", "Segment"]:
        assert column in clustered.columns
    summary = json.loads((out / "segments.json").read_text())
    jsonschema.validate(summary, json.loads(SCHEMA.read_text()))
    tx = summary["transactions"]
    assert tx["columns"]["order"] == "Order ID"
    assert tx["purchase"] == "order"
    assert tx["counts"]["date_format"] == "day-first"
    dates = pd.to_datetime(make_log()["Order Date"], format="%d/%m/%Y")
    assert tx["counts"]["as_of"] == str((dates.max() + pd.Timedelta(days=1)).date())
    assert tx["counts"]["first_date"] == str(dates.min().date())
    assert sum(tx["rfm"]["customers"].values()) == 240
    # The cross-table segment x RFM group: exact counts, in segments.json and the report.
    by_segment = tx["rfm"]["by_segment"]
    expected = clustered.groupby(["Cluster", "RFM_group"]).size()
    assert {(int(c), g): n for c, groups in by_segment.items() for g, n in groups.items()} == \
        expected.to_dict()
    report = (out / "report.html").read_text()
    assert "Segments and RFM groups" in report
    assert "Can&#39;t lose them" in report
    assert summary["features"] == ["recency_days", "frequency", "monetary_total"]
    assert "recency_days" in tx["features"]
    # Regulars and one-off buyers are told apart, in words that read on these features.
    names = " ".join(s["name"] for s in summary["segments"])
    assert "Recent" in names or "recent" in names
    assert "Lapsed" in names or "Lapsing" in names


def test_same_log_same_outputs_on_every_engine(tmp_path: Path, log_csv: Path) -> None:
    files = {}
    for name, engine in [("memory", ["--engine", "memory"]),
                         ("batches", ["--engine", "batches", "--batch-rows", "7"])]:
        out = tmp_path / name
        result = runner.invoke(app, ["run", str(log_csv), "--transactions", "--k", "3", "--out",
                                     str(out), "--quiet", *engine])
        assert result.exit_code == 0, result.output
        files[name] = [(out / f).read_bytes() for f in ("sales_clustered.csv",
                                                        "segment_profiles.csv",
                                                        "rejected_rows.csv")]
    assert files["memory"] == files["batches"]


def test_previous_month_gives_migration(tmp_path: Path, log_csv: Path) -> None:
    jan = tmp_path / "may"
    result = runner.invoke(app, ["run", str(log_csv), "--transactions", "--k", "3", "--as-of",
                                 "2024-05-31", "--out", str(jan), "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((jan / "segments.json").read_text())
    # Lines after --as-of are rejected with that reason, and recency counts to it.
    assert summary["transactions"]["counts"]["as_of"] == "2024-05-31"
    assert summary["transactions"]["counts"]["reasons"]["date after --as-of 2024-05-31"] > 0
    feb = tmp_path / "june"
    result = runner.invoke(app, ["run", str(log_csv), "--transactions", "--k", "3", "--previous",
                                 str(jan), "--out", str(feb)])
    assert result.exit_code == 0, result.output
    migration = pd.read_csv(feb / "migration.csv", dtype=str)
    assert len(migration) > 0
    assert {"customer_id", "previous_segment", "new_segment"} <= set(migration.columns)
    summary = json.loads((feb / "segments.json").read_text())
    assert "changes" in summary
    # RFM groups month to month: every customer of both runs counted once.
    moves = pd.read_csv(feb / "rfm_migration.csv")
    may = pd.read_csv(jan / "sales_clustered.csv", dtype={"customer_id": str})
    june = pd.read_csv(feb / "sales_clustered.csv", dtype={"customer_id": str})
    both = may.merge(june, on="customer_id", suffixes=("_may", "_june"))
    assert moves["customers"].sum() == len(both)
    expected = both.groupby(["RFM_group_may", "RFM_group_june"]).size()
    got = moves.set_index(["previous_group", "new_group"])["customers"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    assert summary["transactions"]["rfm_moves"]["biggest"]
    assert "RFM groups since may:" in result.stdout


def test_rfm_writes_the_customer_table(tmp_path: Path, log_csv: Path) -> None:
    out = tmp_path / "customers.parquet"
    result = runner.invoke(app, ["rfm", str(log_csv), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) == 240
    assert table["customer_id"].is_monotonic_increasing
    assert set(table["R"]) <= {1, 2, 3, 4, 5}
    assert (tmp_path / "customers_rejected_rows.csv").exists()
    assert (tmp_path / "customers_rejected_customers.csv").exists()


def test_rfm_on_cdnow(tmp_path: Path) -> None:
    log = shared_dataset("cdnow", "CDNOW_master.txt")
    out = tmp_path / "cdnow.csv"
    result = runner.invoke(app, ["rfm", str(log), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "69,659 lines read = 69,659 used + 0 rejected" in result.stdout
    assert "Customers: 23,570 = 23,570 in the table + 0 rejected" in result.stdout
    table = pd.read_csv(out, dtype={"customer_id": str})
    assert len(table) == 23_570
    assert table["customer_id"].iloc[0] == "00001"


@pytest.mark.slow
def test_cdnow_end_to_end(tmp_path: Path) -> None:
    log = shared_dataset("cdnow", "CDNOW_master.txt")
    result = runner.invoke(app, ["run", str(log), "--transactions", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    clustered = pd.read_csv(tmp_path / "o" / "cdnow_master_clustered.csv",
                            dtype={"customer_id": str})
    assert len(clustered) == 23_570
    # The clustered file carries the same features an independent pandas computation gives.
    raw = pd.read_csv(log, sep=r"\s+", dtype={"customer_id": str})
    spend = raw.groupby("customer_id")["dollar_value"].sum()
    assert np.allclose(clustered.set_index("customer_id")["monetary_total"], spend.loc[
        clustered["customer_id"]].to_numpy(), atol=1e-6)
    assert "Recent" in result.stdout
    # Heavy-tailed RFM features go through --transform auto like any customer table's.
    transforms = {t["feature"]: t["transform"] for t in json.loads(
        (tmp_path / "o" / "segments.json").read_text())["preparation"]["transforms"]}
    assert transforms == {"recency_days": "none", "frequency": "log1p",
                          "monetary_total": "log1p"}


@pytest.mark.parametrize(("args", "code", "text"), [
    (["--engine", "spark"], 2, "--transactions does not run on --engine spark"),
    (["--as-of", "yesterday"], 2, "--as-of 'yesterday' is not a date"),
    (["--amount-column", "Price"], 4, "Column 'Price' not found"),
])
def test_errors_are_one_line(tmp_path: Path, log_csv: Path, args: list[str], code: int,
                             text: str) -> None:
    result = runner.invoke(app, ["run", str(log_csv), "--transactions", *args, "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == code
    assert text in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_ambiguous_dates_name_date_format(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("customer,date,amount\n1,01/02/2024,5\n2,03/04/2024,6\n", encoding="utf-8")
    result = runner.invoke(app, ["rfm", str(path), "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 4
    assert "--date-format" in result.stderr
    result = runner.invoke(app, ["rfm", str(path), "--out", str(tmp_path / "c.csv"),
                                 "--date-format", "%m/%d/%Y", "--as-of", "2024-04-01"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "c.csv")
    assert table["recency_days"].tolist() == [90, 28]   # Jan 2 and Mar 4 (2024) to Apr 1


def test_transaction_options_need_transactions(tmp_path: Path, log_csv: Path) -> None:
    result = runner.invoke(app, ["run", str(log_csv), "--as-of", "2024-01-01"])
    assert result.exit_code == 2
    assert "add --transactions" in result.stderr


def test_predict_on_the_rfm_table_gives_the_run_segments(tmp_path: Path, log_csv: Path) -> None:
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["run", str(log_csv), "--transactions", "--k", "3", "--out",
                               str(run_dir), "--quiet"]).exit_code == 0
    table = tmp_path / "customers.csv"
    assert runner.invoke(app, ["rfm", str(log_csv), "--out", str(table), "--quiet"]).exit_code == 0
    scored = tmp_path / "scored.csv"
    result = runner.invoke(app, ["predict", "--model", str(run_dir), str(table), "--out",
                                 str(scored), "--quiet"])
    assert result.exit_code == 0, result.output
    clustered = pd.read_csv(run_dir / "sales_clustered.csv", dtype={"customer_id": str})
    assert pd.read_csv(scored, dtype={"customer_id": str})["Cluster"].tolist() == \
        clustered["Cluster"].tolist()


@pytest.mark.parametrize("log_name", ["synthetic", "cdnow"])
def test_choose_k_on_a_log_agrees_with_run(tmp_path: Path, log_csv: Path, log_name: str) -> None:
    """`choose-k LOG --transactions` scores K on the RFM features, as `run --transactions`."""
    if log_name == "cdnow":
        log, options = shared_dataset("cdnow", "CDNOW_master.txt"), []
    else:  # named columns and --as-of, as run takes them
        log, options = log_csv, ["--customer-column", "Customer ID", "--date-column",
                                 "Order Date", "--amount-column", "Sales", "--as-of", "2024-07-01"]
    chose = runner.invoke(app, ["choose-k", str(log), "--transactions", *options, "--out",
                                str(tmp_path / "k")])
    assert chose.exit_code == 0, chose.output
    ran = runner.invoke(app, ["run", str(log), "--transactions", *options, "--out",
                              str(tmp_path / "run"), "--quiet"])
    assert ran.exit_code == 0, ran.output
    evidence = json.loads((tmp_path / "k" / "k_selection.json").read_text())
    summary = json.loads((tmp_path / "run" / "segments.json").read_text())
    assert evidence["features"] == ["recency_days", "frequency", "monetary_total"]
    assert evidence["k_selection"] == summary["k_selection"]
    assert evidence["transactions"]["counts"] == summary["transactions"]["counts"]
    assert evidence["rows"]["clustered"] == summary["rows"]["clustered"]
    k = summary["k_selection"]["chosen_k"]
    assert f"K = {k} (" in chose.stdout
    counts = summary["transactions"]["counts"]
    assert (f"Customers: {counts['customers']:,} = {counts['customers_segmentable']:,} scored + "
            f"{counts['customers_rejected']:,} rejected") in chose.stdout
    written = sorted(p.name for p in (tmp_path / "k").iterdir() if not p.name.startswith("."))
    assert written == ["figures", "k_selection.json"]
    assert not list(tmp_path.glob(".custseg-transactions-*"))  # the customer table removed


@pytest.mark.parametrize(("args", "code", "text"), [
    (["--transactions", "--as-of", "yesterday"], 2, "--as-of 'yesterday' is not a date"),
    (["--transactions", "--amount-column", "Price"], 4, "Column 'Price' not found"),
    (["--transactions", "--date-format", "%Y"], 4, "No usable transaction line in sales.csv"),
    (["--customer-column", "Customer ID"], 2, "--customer-column reads a transaction log: add "
                                              "--transactions."),
])
def test_choose_k_errors_are_one_line_as_run_gives(tmp_path: Path, log_csv: Path,
                                                     args: list[str], code: int, text: str) -> None:
    outputs = []
    for command in ("choose-k", "run"):
        result = runner.invoke(app, [command, str(log_csv), *args, "--quiet", "--out",
                                     str(tmp_path / command)])
        assert result.exit_code == code, result.output
        assert text in result.stderr
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1
        outputs.append(result.stderr)
        assert not (tmp_path / command).exists()
    assert outputs[0] == outputs[1]
