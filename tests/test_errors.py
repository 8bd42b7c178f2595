"""Every bad input gets one clear line on stderr, the right exit code, and no traceback; the library
raises the same message as a :class:`~custseg.exceptions.CustsegError` of the matching class."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import custseg.outputs.write
from custseg.cli import EXIT_CODES, EXIT_INTERNAL, app
from custseg.config import RunConfig
from custseg.exceptions import CustsegError
from custseg.io.columns import parse_column_map
from custseg.pipeline import evaluate_k, run

runner = CliRunner()
HEADER = "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n"
PRESENT = "'CustomerID', 'Gender', 'Age', 'Annual Income (k$)', 'Spending Score (1-100)'"


def _rows(n: int, start: int = 1) -> str:
    return "".join(f"{i},Male,{20 + i % 40},{15 + i},{(i * 37) % 99 + 1}\n" for i in range(start, start + n))


# (case id, file name, file content or None, extra CLI args, exit code, exact message)
CASES = [
    ("missing file", "nope.csv", None, [], 3,
     "Input file {dir}/nope.csv does not exist. Check the path."),
    ("folder instead of file", "folder.csv", "<dir>", [], 3,
     "Input {dir}/folder.csv is a folder, not a file. Name the customer file."),
    ("empty file", "empty.csv", "", [], 4,
     "Input file empty.csv is empty. Export the customer table again."),
    ("blank lines only", "blank.csv", "\n\n  \n", [], 4,
     "Input file blank.csv is empty. Export the customer table again."),
    ("header only", "header.csv", HEADER, [], 4,
     "header.csv has a header but no customer rows. Export the table with its data."),
    ("no valid rows", "junk.csv", HEADER + "1,Male,20,abc,50\n2,Male,21,,60\n3,Female,22,x,70\n", [], 4,
     "No valid rows left in junk.csv: all 3 rows were rejected (most often: 'Annual Income (k$)': "
     "non-numeric text). Fix those values, or choose other columns with --features."),
    ("missing column", "cols.csv",
     "CustomerID,Gender,Age,AnnualIncomeUSD,Spending Score (1-100)\n" + "1,Male,20,15,39\n",
     [], 4,
     "Column 'Annual Income (k$)' not found in cols.csv. Columns present: 'CustomerID', 'Gender', "
     "'Age', 'AnnualIncomeUSD', 'Spending Score (1-100)'. Did you mean 'AnnualIncomeUSD'? Use --features or "
     "--column-map OLD=NEW."),
    ("missing feature asked for", "mall.csv", HEADER + _rows(20), ["--features", "Annual Incme,Age"], 4,
     f"Column 'Annual Incme' not found in mall.csv. Columns present: {PRESENT}. "
     "Did you mean 'Annual Income (k$)'? Use --features or --column-map OLD=NEW."),
    ("missing id column asked for", "mall.csv", HEADER + _rows(20), ["--id-column", "client"], 4,
     f"Column 'client' not found in mall.csv. Columns present: {PRESENT}. "
     "Use --id-column or --column-map OLD=NEW."),
    ("fewer valid rows than K", "few.csv", HEADER + _rows(3) + "9,Male,20,,50\n", ["--k", "5"], 4,
     "Only 3 valid row(s) in few.csv (1 rejected), fewer than K=5 segments. Use a smaller --k, "
     "or fix the rejected rows."),
    ("K larger than rows", "mall.csv", HEADER + _rows(20), ["--k", "21"], 4,
     "Only 20 valid row(s) in mall.csv, fewer than K=21 segments. Use a smaller --k, or fix the "
     "rejected rows."),
    ("zero variance", "flat.csv", HEADER + "".join(f"{i},Male,30,50,{i}\n" for i in range(1, 30)), [], 4,
     "Feature 'Annual Income (k$)' has the same value (50) in all 29 valid rows of flat.csv, so it "
     "cannot separate segments. Remove it from --features."),
    ("too few distinct customers", "dupes.csv",
     HEADER + "".join(f"{i},Male,30,{50 + i % 2},{60 + i % 2}\n" for i in range(1, 30)), ["--k", "5"], 4,
     "Only 2 distinct combination(s) of feature values in dupes.csv, fewer than K=5 segments. "
     "Use a smaller --k, or add features."),
    ("K below 1", "mall.csv", HEADER + _rows(20), ["--k", "0"], 2, "K must be at least 1 (got --k 0)."),
    ("negative K", "mall.csv", HEADER + _rows(20), ["--k", "-3"], 2, "K must be at least 1 (got --k -3)."),
    ("K not a number", "mall.csv", HEADER + _rows(20), ["--k", "five"], 2,
     "K must be a whole number or 'auto' (got --k 'five')."),
    ("empty K range", "mall.csv", HEADER + _rows(20), ["--k-min", "6", "--k-max", "4"], 2,
     "--k-max (4) must be at least --k-min (6)."),
    ("K range from 1", "mall.csv", HEADER + _rows(20), ["--k-min", "1"], 2,
     "--k-min must be at least 2 (got 1); K = 1 is always compared."),
    ("K range above the rows", "mall.csv", HEADER + _rows(20), ["--k-min", "30", "--k-max", "40"], 4,
     "--k-min 30 is more segments than mall.csv can hold: 20 valid rows (20 distinct) allow at most "
     "19. Lower --k-min, or add rows."),
    ("seed below 0", "mall.csv", HEADER + _rows(20), ["--seed", "-1"], 2,
     "--seed must be a whole number from 0 to 4294967295 (got -1)."),
    ("seed above 2^32-1", "mall.csv", HEADER + _rows(20), ["--seed", "4294967296"], 2,
     "--seed must be a whole number from 0 to 4294967295 (got 4294967296)."),
    ("bad min share", "mall.csv", HEADER + _rows(20), ["--min-segment-share", "1.5"], 2,
     "--min-segment-share must be in [0, 1) (got 1.5)."),
    ("unknown extension", "customers.dat", HEADER + _rows(20), [], 3,
     "Cannot tell the format of customers.dat from its extension '.dat'. Use a file ending in .csv, "
     ".txt, .tsv, .parquet, .pq, .xlsx, .xlsm, or name the format with --format csv|parquet|excel."),
    ("unknown --format", "mall.csv", HEADER + _rows(20), ["--format", "xml"], 2,
     "Unknown --format 'xml'. Use one of: csv, parquet, excel."),
    ("binary file named csv", "image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", [], 3,
     "image.csv is not a text table (it holds binary data). Export the customers as CSV, or name "
     "the real format with --format parquet|excel."),
    ("csv named parquet", "mall.parquet", HEADER + _rows(20), [], 3, None),
    ("csv named xlsx", "mall.xlsx", HEADER + _rows(20), [], 3, None),
    ("invalid row with --on-invalid fail", "bad.csv", HEADER + _rows(10) + "11,Male,20,-5,50\n",
     ["--on-invalid", "fail"], 4,
     "bad.csv row 12 in column 'Annual Income (k$)': negative value ('-5'). 1 invalid row(s) in all; "
     "fix them, or use --on-invalid reject."),
    ("bad --on-invalid", "mall.csv", HEADER + _rows(20), ["--on-invalid", "skip"], 2,
     "--on-invalid must be one of reject, fail (got 'skip')."),
    ("bad --column-map", "mall.csv", HEADER + _rows(20), ["--column-map", "Income"], 2,
     "--column-map 'Income' is not OLD=NEW. Example: --column-map 'Income=Annual Income (k$)'."),
    ("duplicate header", "dup.csv", "CustomerID,Age,Age,Annual Income (k$),Spending Score (1-100)\n1,2,3,4,5\n",
     [], 3, "dup.csv has two columns named 'Age'. Rename one of them in the file."),
    ("output path is a file", "mall.csv", HEADER + _rows(20), ["--out", "{dir}/mall.csv"], 5,
     "Output path {dir}/mall.csv is a file, not a folder. Choose a folder with --out."),
    ("output under a file", "mall.csv", HEADER + _rows(20), ["--out", "{dir}/mall.csv/sub"], 5,
     "Cannot create output folder {dir}/mall.csv/sub: {dir}/mall.csv is a file. Choose a folder "
     "with --out."),
    ("bad --engine", "mall.csv", HEADER + _rows(20), ["--engine", "gpu"], 2,
     "--engine must be one of auto, memory, batches, spark (got 'gpu')."),
    ("zero --batch-rows", "mall.csv", HEADER + _rows(20), ["--engine", "batches", "--batch-rows", "0"], 2,
     "--batch-rows must be at least 1 (got 0)."),
    ("negative --batch-rows", "mall.csv", HEADER + _rows(20), ["--batch-rows", "-5"], 2,
     "--batch-rows must be at least 1 (got -5)."),
    ("bad --memory-budget", "mall.csv", HEADER + _rows(20), ["--memory-budget", "lots"], 2,
     "--memory-budget must be a size such as 2GB or 512MB (got 'lots')."),
    ("tiny --memory-budget", "mall.csv", HEADER + _rows(20), ["--memory-budget", "1MB"], 2,
     "--memory-budget must be at least 64MB (got '1MB')."),
    ("bad --output-format", "mall.csv", HEADER + _rows(20), ["--output-format", "xlsx"], 2,
     "--output-format must be one of csv, parquet (got 'xlsx')."),
    ("two columns match a feature", "amb.csv",
     "CustomerID,Gender,Age,Income,Annual Income,Spending Score (1-100)\n" + "1,Male,20,15,15,39\n",
     [], 4,
     "Columns 'Income' and 'Annual Income' of amb.csv both match 'Annual Income (k$)'. Choose one "
     "with --column-map, e.g. --column-map 'Income=Annual Income (k$)'."),
    ("thousands grouped by dots in a semicolon file", "euro.csv",
     "CustomerID;Age;Annual Income (k$);Spending Score (1-100)\n"
     + "".join(f"{i};30;{15 + i},5;{i}\n" for i in range(1, 12)) + "12;30;1.234;50\n13;30;1.500;60\n",
     [], 4,
     "euro.csv row 13 in column 'Annual Income (k$)' holds '1.234': in this semicolon-separated "
     "file ',' marks decimals, so '.' may group thousands or mark decimals too. Say which: "
     "--decimal , ('.' groups thousands: 1.234,5 is 1234.5) or --decimal . ('.' marks decimals, "
     "',' groups thousands)."),
    ("bad --decimal", "mall.csv", HEADER + _rows(20), ["--decimal", ";"], 2,
     "--decimal must be '.' or ',' (got ';')."),
    ("--sheet on a csv", "mall.csv", HEADER + _rows(20), ["--sheet", "Customers"], 2,
     "--sheet names a sheet of an Excel workbook; mall.csv is read as csv. Leave --sheet out, or "
     "name the workbook."),
    ("only malformed records", "short.csv", HEADER + "1,Male,20\n2,Male\n", [], 4,
     "No valid rows left in short.csv: all 2 rows were rejected (most often: wrong number of "
     "fields). Fix those values, or choose other columns with --features."),
]
#: The engines every bad data file is tried on: the same message, whichever reads it.
ENGINE_ARGS = {
    "memory": ["--engine", "memory"],
    "batches-1": ["--engine", "batches", "--batch-rows", "1"],
    "batches-7": ["--engine", "batches", "--batch-rows", "7"],
}
#: Exception class of each exit code.
ERRORS = {code: cls for cls, code in EXIT_CODES.items()}


def _write_input(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if content == "<dir>":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    return path


def _engine_args(args: list[str], engine: str) -> list[str]:
    """``args`` run on ``engine``, unless the case names its own engine options."""
    if any(a in args for a in ("--engine", "--batch-rows", "--memory-budget")):
        return args
    return [*args, *ENGINE_ARGS[engine]]


@pytest.mark.parametrize("engine", list(ENGINE_ARGS))
@pytest.mark.parametrize(("name", "content", "args", "code", "message"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(tmp_path: Path, name, content, args, code, message, engine):
    path = _write_input(tmp_path, name, content)
    args = [a.replace("{dir}", str(tmp_path)) for a in _engine_args(args, engine)]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["run", str(path), "-q", *args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    if message is not None:
        assert lines[0] == "Error: " + message.replace("{dir}", str(tmp_path))
    assert not (tmp_path / "out").exists()  # nothing written on failure
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging, no history


def _library_config(path: Path, args: list[str], out: Path) -> RunConfig:
    """The ``RunConfig`` a library user would write for the CLI arguments ``args``."""
    options: dict = {"input": path, "out": out}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        key = flag.removeprefix("--").replace("-", "_")
        if key == "features":
            options["features"] = tuple(part.strip() for part in value.split(","))
        elif key == "id_column":
            options.update(id_column=value, id_column_required=True)
        elif key == "column_map":
            options["column_map"] = parse_column_map([value])
        elif key in ("k_min", "k_max", "batch_rows", "seed"):
            options[key] = int(value)
        elif key == "min_segment_share":
            options[key] = float(value)
        elif key == "out":
            options["out"] = Path(value)
        else:
            options[key] = value
    return RunConfig(**options)


@pytest.mark.parametrize(("name", "content", "args", "code", "message"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_library_raises_the_same_message(tmp_path: Path, name, content, args, code, message):
    path = _write_input(tmp_path, name, content)
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    with pytest.raises(CustsegError) as info:
        run(_library_config(path, args, tmp_path / "out"))
    error = info.value
    assert type(error) is ERRORS[code]
    assert "\n" not in str(error)
    if message is not None:
        assert str(error) == message.replace("{dir}", str(tmp_path))
    assert not (tmp_path / "out").exists()


#: Cases ``choose-k`` meets the same way as ``run`` (it reads and checks the input, then stops).
CHOOSE_K_CASES = ["missing file", "empty file", "header only", "no valid rows", "missing column",
                  "zero variance", "unknown extension", "invalid row with --on-invalid fail",
                  "duplicate header", "K range from 1"]


@pytest.mark.parametrize(("name", "content", "args", "code", "message"),
                         [c[1:] for c in CASES if c[0] in CHOOSE_K_CASES], ids=CHOOSE_K_CASES)
def test_choose_k_gives_the_same_errors(tmp_path: Path, name, content, args, code, message):
    path = _write_input(tmp_path, name, content)
    out = tmp_path / "out"
    result = runner.invoke(app, ["choose-k", str(path), "-q", "--out", str(out), *args])
    assert result.exit_code == code, result.output
    assert result.stderr.strip() == "Error: " + message.replace("{dir}", str(tmp_path))
    with pytest.raises(ERRORS[code]) as info:
        evaluate_k(_library_config(path, args, out))
    assert str(info.value) == message.replace("{dir}", str(tmp_path))
    assert not out.exists()


def test_internal_error_is_one_line_and_exit_70(tmp_path, monkeypatch):
    def broken(inputs, folder, *background):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(custseg.outputs.write, "render_figures", broken)
    path = _write_input(tmp_path, "mall.csv", HEADER + _rows(20))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "-q", "--k", "2", "--out", str(out)])
    assert result.exit_code == EXIT_INTERNAL == 70
    assert result.stderr.strip() == ("Internal error: ZeroDivisionError: division by zero. "
                                     "Re-run with --traceback and report it.")
    assert "Traceback" not in result.output
    assert not out.exists()
    # With --traceback, the exception itself comes out (for a bug report).
    result = runner.invoke(app, ["run", str(path), "-q", "--k", "2", "--out", str(out), "--traceback"])
    assert isinstance(result.exception, ZeroDivisionError)
    assert not out.exists()


def test_traceback_flag_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nope.csv"), "--traceback"])
    assert result.exit_code != 0
    assert isinstance(result.exception, FileNotFoundError | OSError)


def test_unreadable_file(tmp_path):
    import os

    path = tmp_path / "locked.csv"
    path.write_text(HEADER + _rows(10))
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        pytest.skip("running as root: permissions are not enforced")
    result = runner.invoke(app, ["run", str(path), "-q", "--out", str(tmp_path / "out")])
    assert result.exit_code == 3
    assert result.stderr.strip() == "Error: Cannot read locked.csv: permission denied. Check its permissions."


@pytest.mark.parametrize("command", [["run"], ["choose-k"], ["predict", "--model", "{model}"]],
                         ids=["run", "choose-k", "predict"])
def test_standard_input_is_refused_in_one_line(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    if "predict" in command:
        from tests.predict_support import run_folder

        command = [*command[:2], str(run_folder(tmp_path / "model"))]
    args = list(command)
    result = runner.invoke(app, [*args, "-", "-q", *(["--out", "out"] if "predict" not in args else [])],
                           input=HEADER + _rows(20))
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip() == ("Error: Reading customers from standard input ('-') is not "
                                     "supported; save them to a file first and pass its path.")
    assert not (tmp_path / "out").exists()
