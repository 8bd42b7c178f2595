"""Property-based: hostile CSV files never make custseg crash (exit 70) or print a traceback.

The files mix what real exports and hostile users produce: every line ending (LF, CRLF, CR-only
"CSV (Macintosh)"), encodings with and without a byte-order mark, every quoting style, stray
quotes, numbers too large or too small for the fit, cells longer than the sniffer's limits, wide
tables and empty ones. Each file is run on the in-memory engine and in batches; each run either
succeeds with every row accounted for, or stops with one ``Error:`` line and a user-error exit
code (2, 3 or 4).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from custseg.cli import app
from custseg.runfolder import SUMMARY_FILE

runner = CliRunner()
HEADER = ["CustomerID", "Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"]
HOSTILE_NUMBERS = st.sampled_from([
    "1e40", "-1e40", "1e30", "1e-300", "5e-324", "1.7976931348623157e308", "-1e308", "1e400",
    "0", "-0", "1e15", "0.000001", "NaN", "inf", "", "1,5", "1.234.567", "=1+1", "\"", "𝟙𝟚",
])
PLAIN = st.integers(1, 100).map(str)
CELL = st.one_of(PLAIN, PLAIN, PLAIN, HOSTILE_NUMBERS)
LONG_CELL = st.sampled_from(["x" * 70_000, "y" * 300_000])


@st.composite
def hostile_csv(draw) -> tuple[bytes, str]:
    extra = draw(st.sampled_from([0, 0, 3, 60]))  # wide tables too
    header = HEADER + [f"extra{i}" for i in range(extra)]
    n = draw(st.integers(0, 30))
    rows = []
    for i in range(n):
        row = [str(i + 1), draw(st.sampled_from(["Male", "Female", "", "=cmd|calc"])),
               draw(CELL), draw(CELL), draw(CELL), *[draw(st.sampled_from(["", "1", "a"]))] * extra]
        if draw(st.integers(0, 15)) == 0:
            row[1] = draw(LONG_CELL)  # a single huge field
        if draw(st.integers(0, 15)) == 0:
            row = row[:draw(st.integers(1, len(row)))]  # a short record
        rows.append(row)
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    if draw(st.integers(0, 10)) == 0:
        text = text.replace("\n", "", 1)  # lose a line break: two records become one
    if draw(st.integers(0, 20)) == 0:
        text = ""
    return text.encode(encoding, errors="replace"), draw(st.sampled_from(["memory", "batches"]))


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(case=hostile_csv(), batch_rows=st.integers(1, 40))
def test_hostile_csv_never_crashes(tmp_path_factory, case, batch_rows):
    content, engine = case
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "export.csv"
    path.write_bytes(content)
    out = folder / "out"
    options = ["--engine", engine, *(["--batch-rows", str(batch_rows)] if engine == "batches" else [])]
    result = runner.invoke(app, ["run", str(path), "--k", "2", "--out", str(out), "-q", *options])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 0:
        rows = json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))["rows"]
        assert rows["clustered"] + rows["rejected"] == rows["input"]
    else:
        assert result.exit_code in (2, 3, 4), result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: "), result.stderr
