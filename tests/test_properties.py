"""Property-based: messy CSV exports never crash the tool and never lose a row.

Each generated file either runs, with clustered rows + rejected rows = input rows, or exits
with one clear error line and a documented exit code. Never a traceback (exit 70). Every engine
(in memory, in batches of any size) accounts for the rows, and they agree with each other.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from custseg.cli import app
from custseg.config import RunConfig
from custseg.exceptions import CustsegError
from custseg.pipeline import RunResult, segment
from custseg.runfolder import REJECTS_FILE, SUMMARY_FILE, clustered_file_name

runner = CliRunner()
HEADERS = [
    ["CustomerID", "Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"],
    ["CustomerID", "Genre", "Age", "AnnualIncome", "SpendingScore"],
    ["customer_id", "Gender", "Age", "annual_income_thousands", "spending_score"],
]
JUNK = st.sampled_from(["", " ", "NA", "n/a", "abc", "12k", "inf", "-inf", "nan", "-5", "1e400",
                        "=1+1", "@x", "é", "1,5", "\"q\"", "0x10", "  7  ", "3.", "-"])
NUMBER = st.one_of(st.integers(1, 100).map(str), st.floats(1, 100, allow_nan=False).map(lambda f: f"{f:.2f}"),
                   st.integers(-5, 150).map(str))
# Mostly plausible numbers, some junk: both the success and the rejection paths get exercised.
CELL = st.one_of(*[NUMBER] * 6, JUNK)
ID = st.one_of(*[st.integers(1, 60).map(str)] * 4, st.just(""),
               st.integers(1, 60).map(lambda i: f"{i:04d}"))
ROW = st.tuples(ID, st.sampled_from(["Male", "Female", ""]), CELL, CELL, CELL)
#: Run options of an engine: in memory, or in batches of 1..50 rows.
ENGINE = st.one_of(st.just({"engine": "memory"}),
                   st.integers(1, 50).map(lambda n: {"engine": "batches", "batch_rows": n}))


@st.composite
def messy_csv(draw):
    header = draw(st.sampled_from(HEADERS))
    rows = [list(r) for r in draw(st.lists(ROW, min_size=0, max_size=40))]
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    records = 0
    for row in rows:
        if draw(st.integers(0, 19)) == 0:
            row = row[: draw(st.integers(1, 4))]  # a truncated line: wrong number of fields
        if all(cell == "" for cell in row) and len(row) == 1:
            row = ["x"]  # a blank line is not a record
        writer.writerow(row)
        records += 1
    return buffer.getvalue().encode(encoding), records


def _count_rows(path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=messy_csv(), k=st.one_of(st.integers(1, 5), st.just("auto")), engine=ENGINE)
def test_cli_never_crashes_and_never_loses_a_row(tmp_path_factory, data, k, engine):
    content, records = data
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "export.csv"
    path.write_bytes(content)
    out = folder / "out"
    options = ["--engine", engine["engine"]]
    if "batch_rows" in engine:
        options += ["--batch-rows", str(engine["batch_rows"])]
    result = runner.invoke(app, ["run", str(path), "--k", str(k), "--k-max", "4", "--out", str(out), "-q",
                                 *options])
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        clustered = _count_rows(out / clustered_file_name("export.csv", "csv"))
        rejects = out / REJECTS_FILE
        rejected = _count_rows(rejects) if rejects.exists() else 0
        assert clustered + rejected == records
        summary = json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))
        assert summary["rows"]["input"] == records
        assert summary["rows"]["clustered"] == clustered
        assert summary["rows"]["rejected"] == rejected
    else:
        assert result.exit_code in (2, 3, 4), result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("Error: ")
        assert not out.exists()


def _check_accounting(result: RunResult, records: int) -> None:
    rows = result.rows
    assert rows.clustered + rows.rejected == rows.input == records
    assert (result.n_input, result.n_clustered, result.n_rejected) == (rows.input, rows.clustered,
                                                                        rows.rejected)
    assert sum(rows.reasons.values()) == rows.rejected
    assert all(count > 0 for count in rows.reasons.values())
    assert len(result.rejects) == rows.rejected  # fewer than REJECTS_KEPT: every one is kept
    assert sorted(result.rejects["row"]) == result.rejects["row"].tolist()
    assert result.rejects["row"].between(2, records + 1).all()
    assert result.rejects["row"].is_unique
    assert result.sizes.sum() == rows.clustered
    assert (result.sizes > 0).all()
    assert result.sample.size == rows.clustered  # tiny inputs: the sample is every customer
    assert len(result.sample_labels) == rows.clustered


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=messy_csv(), k=st.one_of(st.integers(1, 5), st.just("auto")), engine=ENGINE)
def test_library_accounts_for_every_row(tmp_path_factory, data, k, engine):
    content, records = data
    path = tmp_path_factory.mktemp("prop") / "export.csv"
    path.write_bytes(content)
    try:
        result = segment(RunConfig(input=path, k=k, n_init=2, k_max=3, **engine))
    except CustsegError as exc:
        event(f"error: {type(exc).__name__}")
        assert "\n" not in str(exc)
        return
    event("segmented")
    _check_accounting(result, records)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=messy_csv(), k=st.one_of(st.integers(1, 4), st.just("auto")),
       batch_rows=st.integers(1, 50))
def test_engines_agree(tmp_path_factory, data, k, batch_rows):
    content, records = data
    path = tmp_path_factory.mktemp("prop") / "export.csv"
    path.write_bytes(content)
    config = RunConfig(input=path, k=k, n_init=2, k_max=3)
    outcomes = []
    for options in ({"engine": "memory"}, {"engine": "batches", "batch_rows": batch_rows}):
        try:
            outcomes.append(segment(config.with_(**options)))
        except CustsegError as exc:
            outcomes.append(str(exc))
    memory, batches = outcomes
    if isinstance(memory, str) or isinstance(batches, str):
        assert memory == batches  # the same error, word for word
        return
    _check_accounting(batches, records)
    assert batches.rows == memory.rows
    assert batches.rejects.equals(memory.rejects)
    assert batches.k == memory.k
    assert batches.sizes.tolist() == memory.sizes.tolist()
    np.testing.assert_allclose(batches.segmenter.cluster_centers_original_,
                               memory.segmenter.cluster_centers_original_, rtol=1e-9, atol=1e-9)
