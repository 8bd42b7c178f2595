"""``custseg history DIR --report`` and ``custseg journey``, end to end: Typer's runner and one real
subprocess; errors are one line with the exit codes of custseg.cli.app.EXIT_CODES."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg.cli import EXIT_CODES, app
from custseg.exceptions import ConfigError, InputFileError, OutputError
from custseg.runfolder import HISTORY_FLOWS_FILE, HISTORY_REPORT_FILE, HISTORY_SIZES_FILE
from custseg.tracking.history import HISTORY_FILE
from tests.history_support import RUNS, copy_runs

runner = CliRunner()


@pytest.fixture
def folder(tmp_path):
    return copy_runs("mixed", tmp_path)


def _one_line_error(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_history_report(folder):
    result = runner.invoke(app, ["history", str(folder), "--report"])
    assert result.exit_code == 0, result.output
    assert "3 recorded runs" in result.stdout
    assert ("History page of 3 runs (2024-01 to 2024-03): 2 links between consecutive runs, 1 inferred "
            "(matched on the fly).") in " ".join(result.stdout.split())
    for name in (HISTORY_REPORT_FILE, HISTORY_SIZES_FILE, HISTORY_FLOWS_FILE):
        assert (folder / name).is_file()
        assert str(folder / name) in result.stdout
    assert result.stderr == ""


def test_history_report_without_a_history_file(folder):
    (folder / HISTORY_FILE).unlink()
    result = runner.invoke(app, ["history", str(folder)])
    _one_line_error(result, EXIT_CODES[InputFileError], "No run history in")
    result = runner.invoke(app, ["history", str(folder), "--report", "--quiet"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""
    assert (folder / HISTORY_REPORT_FILE).is_file()


def test_history_report_prints_the_notes(folder):
    (folder / RUNS[1] / "segments_model.custseg.json").write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["history", str(folder), "--report"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"Note: {RUNS[1]} is left out: its model file is damaged")
    assert "1 run(s) left out" in " ".join(result.stdout.split())


@pytest.mark.parametrize(("args", "error", "message"), [
    (["history", "{missing}", "--report"], InputFileError, "is not a folder"),
    (["history", "{empty}", "--report"], InputFileError, "No custseg runs in"),
    (["history", "{blocked}", "--report"], OutputError, "Cannot write"),
    (["journey", "{runs}"], ConfigError, "Give a customer id and the folder"),
    (["journey", "1", "2", "{runs}"], ConfigError, "Give a customer id and the folder"),
    (["journey", "999999", "{runs}"], ConfigError, "Customer 999999 is in none of the 3 runs"),
    (["journey", "999999", "{runs}", "--csv", "{out}"], ConfigError, "every customer's journey was written"),
    (["journey", "1", "{missing}"], InputFileError, "is not a folder"),
])
def test_errors_are_one_line_with_their_exit_code(tmp_path, folder, args, error, message):
    (tmp_path / "empty").mkdir()
    blocked = copy_runs("chained", tmp_path / "blocked")
    (blocked / HISTORY_REPORT_FILE).mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "blocked": blocked,
             "runs": folder, "out": tmp_path / "journeys.csv"}
    result = runner.invoke(app, [a.format(**{k: str(v) for k, v in paths.items()}) for a in args])
    _one_line_error(result, EXIT_CODES[error], message)


def test_journey_prints_every_run(folder):
    customer = pd.read_csv(next((folder / RUNS[0]).glob("*_clustered.csv")))["CustomerID"].iloc[-1]
    result = runner.invoke(app, ["journey", str(customer), str(folder)])
    assert result.exit_code == 0, result.output
    assert f"Customer {customer}: in " in result.stdout
    for name in RUNS:
        assert name in result.stdout
    assert "first seen" in result.stdout


def test_journey_csv(folder, tmp_path):
    path = tmp_path / "journeys.csv"
    result = runner.invoke(app, ["journey", "--csv", str(path), str(folder)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(path)
    assert frame.columns.tolist() == ["customer_id", *RUNS]
    assert f"Journeys of {len(frame):,} customers across 3 runs written to {path}" in " ".join(result.stdout.split())
    customer = str(frame["customer_id"].iloc[0])
    result = runner.invoke(app, ["journey", customer, str(folder), "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Customer {customer}: in" in result.stdout


@pytest.mark.slow
def test_installed_command_builds_the_page(tmp_path):
    folder = copy_runs("independent", tmp_path)
    exe = Path(sys.executable).with_name("custseg")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(exe), "history", str(folder), "--report"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 inferred (matched on the fly)" in " ".join(done.stdout.split())
    assert (folder / HISTORY_REPORT_FILE).stat().st_size < 5 * 2**20
    done = subprocess.run([str(exe), "history", str(tmp_path / "nowhere"), "--report"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == EXIT_CODES[InputFileError]
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
