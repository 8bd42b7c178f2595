"""The command line, end to end: Typer's runner and real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg.cli import app
from tests.conftest import ROOT

runner = CliRunner()


@pytest.mark.parametrize("engine", [[], ["--engine", "batches", "--batch-rows", "7"],
                                    ["--engine", "streaming"]], ids=["memory", "batches", "alias"])
def test_run_prints_segment_table_and_silhouette(tmp_path, engine):
    result = runner.invoke(app, ["run", "--out", str(tmp_path / "out"), *engine])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "5 customer segments" in out
    for text in ["55.3", "49.5", "86.5", "82.1", "25.7", "79.4", "88.2", "17.1", "26.3", "20.9"]:
        assert text in out
    assert "Silhouette (scaled features): 0.5547" in out
    assert "K = 5 (clear): 5 segments:" in out
    assert "200 read = 200 segmented + 0 rejected" in out
    assert "High income · Low spending" in out
    assert "CRM rules (decision tree, depth 3) place 98.0% of customers as K-Means does" in out
    assert (tmp_path / "out" / "mall_customers_clustered.csv").exists()


def test_names_option_and_report_command(tmp_path):
    names = tmp_path / "names.yaml"
    names.write_text("High income · Low spending: Careful affluent\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--names", str(names), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Careful affluent" in result.stdout
    assert (out / "segments" / "careful-affluent.csv").exists()
    report = out / "report.html"
    before = report.read_bytes()
    report.unlink()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Report written: {report}" in result.stdout
    assert report.read_bytes() == before


@pytest.mark.parametrize(("args", "code", "message"), [
    (["report", "."], 3, "is not a custseg run folder"),
    (["run", "--names", "absent.yaml"], 2, "Cannot read names file absent.yaml"),
])
def test_report_and_names_errors(tmp_path, args, code, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*args, *(["--out", "o"] if args[0] == "run" else [])])
    assert result.exit_code == code
    assert message in result.stderr


def test_quiet_prints_nothing(tmp_path):
    result = runner.invoke(app, ["run", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
def test_help_describes_every_option_with_default(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    if args == ["--help"]:
        assert "run" in text
        assert "--version" in text
        return
    for option, default in [("--features", "Annual Income (k$), Spending Score (1-100)"),
                            ("--k", "auto"), ("--k-min", "2"), ("--k-max", "10"),
                            ("--min-segment-share", "0.01"),
                            ("--out", "segmentation_output"), ("--seed", "42"),
                            ("--id-column", "CustomerID"), ("--quiet", None)]:
        assert option in text
        if default:
            assert default in text


def test_features_accepts_commas_and_repeats(tmp_path):
    result = runner.invoke(app, ["run", "-q", "--out", str(tmp_path), "--k", "3",
                                 "--features", "Age,Annual Income (k$)",
                                 "--features", "Spending Score (1-100)"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figures" / "hist_age.png").exists()


def test_choose_k_prints_every_criterion_and_writes_figures(tmp_path):
    result = runner.invoke(app, ["choose-k", "--features", "Age,Annual Income (k$),Spending Score (1-100)",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for header in ["Inertia", "Silh.", "CH", "DB", "Gap±SE", "Stab.", "Min seg.", "Votes"]:
        assert header in out
    assert "Picks: elbow" in out
    assert " segments: " in out
    assert "criteria agree" in out
    assert (tmp_path / "k_selection.json").exists()
    assert (tmp_path / "figures" / "elbow.png").exists()
    assert (tmp_path / "figures" / "k_criteria.png").exists()


def test_choose_k_on_mall_chooses_5(tmp_path):
    result = runner.invoke(app, ["choose-k", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "K = 5 (clear)." in result.stdout


def test_forced_k(tmp_path):
    result = runner.invoke(app, ["run", "--k", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "3 customer segments" in result.stdout
    assert "K = 3 forced with --k" in " ".join(result.stdout.split())


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("custseg ")


def _subprocess_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.slow
def test_installed_command_runs_end_to_end(tmp_path):
    exe = Path(sys.executable).with_name("custseg")
    done = subprocess.run([str(exe), "run", "--out", "out"], cwd=tmp_path, capture_output=True,
                          text=True, env=_subprocess_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Silhouette (scaled features): 0.5547" in done.stdout
    assert "Traceback" not in done.stderr
    df = pd.read_csv(tmp_path / "out" / "mall_customers_clustered.csv")
    assert df["Cluster"].value_counts().sort_index().tolist() == [81, 39, 35, 23, 22]


@pytest.mark.slow
def test_seed_script_does_what_custseg_run_does(tmp_path):
    # Both as subprocesses: same environment (thread counts) as a user gets.
    exe = Path(sys.executable).with_name("custseg")
    subprocess.run([str(exe), "run", "-q", "--out", str(tmp_path / "cli")], check=True,
                   env=_subprocess_env(), timeout=300)
    done = subprocess.run([sys.executable, str(ROOT / "customer_segmentation.py")], cwd=tmp_path,
                          capture_output=True, text=True, env=_subprocess_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    seed_out = tmp_path / "segmentation_output"
    for name in ["mall_customers_clustered.csv", "kmeans_customer_segmentation_model.pkl"]:
        assert (seed_out / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


@pytest.mark.parametrize(("header", "args", "line", "recorded"), [
    ("CustomerID,Gender,Age,income,score", [],
     "Columns read under another name: 'income' as 'Annual Income (k$)' (alias), 'score' as "
     "'Spending Score (1-100)' (alias); --column-map OLD=NEW chooses others.",
     [("Annual Income (k$)", "income", "alias"), ("Spending Score (1-100)", "score", "alias")]),
    ("CustomerID,Gender,Age,Revenue,Spending Score (1-100)", ["--column-map", "Revenue=Annual Income (k$)"],
     "Columns read under another name: 'Revenue' as 'Annual Income (k$)' (column map); "
     "--column-map OLD=NEW chooses others.",
     [("Annual Income (k$)", "Revenue", "column map"),
      ("Spending Score (1-100)", "Spending Score (1-100)", "name")]),
    ("CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)", [], None, None),
], ids=["aliases", "column map", "names"])
def test_columns_found_under_another_name_are_named(tmp_path, mall_path, header, args, line,
                                                    recorded):
    import json

    rows = mall_path.read_text(encoding="utf-8").splitlines()[1:]
    path = tmp_path / "shop.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--k", "5", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 0, result.output
    named = [ln for ln in result.stdout.splitlines() if ln.startswith("Columns read")]
    assert " ".join(result.stdout.split()).count(line or "Columns read") == (1 if line else 0)
    assert len(named) == (1 if line else 0)
    prep = json.loads((tmp_path / "o" / "segments.json").read_text())["preparation"]
    if recorded is None:
        assert "columns" not in prep
    else:
        assert [(c["feature"], c["column"], c["matched"]) for c in prep["columns"]] == recorded


def _mall_rows(mall_path: Path) -> list[list[str]]:
    return [line.split(",") for line in mall_path.read_text(encoding="utf-8").splitlines()]


def test_sheet_option_reads_the_customers_sheet(tmp_path, mall_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["Customer export, March 2024"])
    sheet = book.create_sheet("Customers")
    for row in _mall_rows(mall_path):
        sheet.append(row)
    path = tmp_path / "export.xlsx"
    book.save(path)
    out = tmp_path / "o"
    for command in (["run", "--k", "5"], ["choose-k", "--k-max", "3"]):
        result = runner.invoke(app, [*command, str(path), "-q", "--out", str(out)])
        assert result.exit_code == 4, result.output
        assert result.stderr.strip() == (
            "Error: The first sheet of export.xlsx, 'Cover', holds no customer table. Its sheets: "
            "'Cover', 'Customers'. Choose the customers' sheet with --sheet NAME, e.g. --sheet "
            "'Customers'.")
    result = runner.invoke(app, ["run", str(path), "--sheet", "Customers", "--k", "5", "-q",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "200 read" not in result.stdout  # -q
    scored = tmp_path / "scored.csv"
    result = runner.invoke(app, ["predict", "--model", str(out), str(path), "--sheet", "Customers",
                                 "-q", "--out", str(scored)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(scored)) == 200


@pytest.mark.parametrize("engine", [["--engine", "memory"], ["--engine", "batches", "--batch-rows", "7"]],
                         ids=["memory", "batches"])
def test_decimal_option_reads_european_numbers_on_every_engine(tmp_path, mall_path, engine):
    import json

    rows = _mall_rows(mall_path)
    lines = [";".join(rows[0])] + [
        ";".join([r[0], r[1], r[2], f"{int(r[3]) * 1000 + 123:,}".replace(",", "."), f"{r[4]},5"])
        for r in rows[1:]]
    path = tmp_path / "euro.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--k", "5", "-q", "--out", str(tmp_path / "a"),
                                 *engine])
    assert result.exit_code == 4, result.output
    assert "row 2 in column 'Annual Income (k$)' holds '15.123'" in result.stderr
    result = runner.invoke(app, ["run", str(path), "--k", "5", "--decimal", ",", "-q",
                                 "--out", str(tmp_path / "b"), *engine])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "b" / "segments.json").read_text())
    profile = summary["all_customers"]["profile"]
    assert profile["Annual Income (k$)"]["median"] == 61623.0  # the Mall's 61.5 thousands, + 123
    assert profile["Spending Score (1-100)"]["median"] == 50.5
    assert summary["run"]["config"]["decimal"] == ","
    # The engines agree on every byte of the clustered file.
    clustered = (tmp_path / "b" / "euro_clustered.csv").read_bytes()
    reference = tmp_path / "ref"
    result = runner.invoke(app, ["run", str(path), "--k", "5", "--decimal", ",", "-q",
                                 "--out", str(reference), "--engine", "memory"])
    assert result.exit_code == 0, result.output
    assert (reference / "euro_clustered.csv").read_bytes() == clustered


@pytest.mark.parametrize(("args", "code", "message"), [
    (["run", "--categorical", "Gendr"], 4, "Column 'Gendr' not found"),
    (["run", "--categorical", "Age"], 4,
     "Categorical feature 'Age' has 51 distinct values in Mall_Customers.csv, more than 20"),
    (["choose-k", "--categorical", "Age"], 4, "Categorical feature 'Age' has 51 distinct values"),
    (["run", "--categorical", "CustomerID"], 2, "is the id column"),
    (["run", "--categorical", "Gender", "--engine", "spark"], 2,
     "--categorical is not supported with --engine spark"),
    (["run", "--categorical", "Annual Income (k$)"], 2, "in both --features and --categorical"),
    (["run", "--categorical", "Gender", "--categorical", "Gender"], 2, "listed twice"),
])
def test_categorical_errors_are_one_line(tmp_path, args, code, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*args, "--out", "o"])
    assert result.exit_code == code, result.output
    assert message in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1
    assert "Traceback" not in result.output


def test_choose_k_with_a_category_reports_k(tmp_path):
    result = runner.invoke(app, ["choose-k", "--categorical", "Gender", "--out",
                                 str(tmp_path / "k"), "--k-max", "8"])
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "k" / "k_selection.json").read_text()
    assert '"chosen_k": 6' in summary


@pytest.mark.parametrize(("argv", "code", "stdout", "stderr"), [
    (["--version"], 0, "custseg ", ""),
    (["run", "no-such-file.csv", "--quiet"], 3, "", "does not exist"),
    (["run", "--k-min", "0", "--quiet"], 2, "", "k-min"),
])
def test_the_program_exits_with_its_commands_status(tmp_path, argv, code, stdout, stderr):
    """``command`` (the installed program) ends the process itself once the command is done:
    same status, everything printed reaches its pipes."""
    script = "import sys; from custseg.cli import command; command(sys.argv[1:])"
    done = subprocess.run([sys.executable, "-c", script, *argv], cwd=tmp_path,
                          capture_output=True, text=True, env=_subprocess_env(), timeout=300)
    assert done.returncode == code, done.stderr
    assert done.stdout.startswith(stdout)
    assert stderr in done.stderr
    assert "Traceback" not in done.stderr
