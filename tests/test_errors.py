"""Every bad input gets one clear line on stderr, the right exit code, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from custseg.cli import app

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
]


@pytest.mark.parametrize(("name", "content", "args", "code", "message"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(tmp_path: Path, name, content, args, code, message):
    path = tmp_path / name
    if content == "<dir>":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
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
