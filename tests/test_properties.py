"""Property-based: messy CSV exports never crash the tool and never lose a row.

Each generated file either runs, with clustered rows + rejected rows = input rows, or exits
with one clear error line and a documented exit code. Never a traceback (exit 70).
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from custseg.cli import app
from custseg.config import RunConfig
from custseg.exceptions import CustsegError
from custseg.pipeline import segment

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
@given(data=messy_csv(), k=st.one_of(st.integers(1, 5), st.just("auto")))
def test_cli_never_crashes_and_never_loses_a_row(tmp_path_factory, data, k):
    content, records = data
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "export.csv"
    path.write_bytes(content)
    out = folder / "out"
    result = runner.invoke(app, ["run", str(path), "--k", str(k), "--k-max", "4", "--out", str(out), "-q"])
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        clustered = _count_rows(out / "export_clustered.csv")
        rejects = out / "rejected_rows.csv"
        rejected = _count_rows(rejects) if rejects.exists() else 0
        assert clustered + rejected == records
    else:
        assert result.exit_code in (2, 3, 4), result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("Error: ")
        assert not out.exists()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=messy_csv(), k=st.one_of(st.integers(1, 5), st.just("auto")))
def test_library_accounts_for_every_row(tmp_path_factory, data, k):
    content, records = data
    path = tmp_path_factory.mktemp("prop") / "export.csv"
    path.write_bytes(content)
    try:
        result = segment(RunConfig(input=path, k=k, n_init=2, k_max=3))
    except CustsegError as exc:
        assert "\n" not in str(exc)
        return
    assert result.n_clustered + result.n_rejected == result.n_input == records
    assert result.profiles.sizes.sum() == result.n_clustered
    assert (result.profiles.sizes > 0).all()
