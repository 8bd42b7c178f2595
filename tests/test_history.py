"""Run history: append-only JSON lines beside the run folders, tolerant of an interrupted write."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from custseg.exceptions import ConfigError, InputFileError, OutputError
from custseg.tracking.history import (
    HISTORY_FILE,
    TABLE_COLUMNS,
    history_dir_for,
    history_path,
    history_table,
    read_history,
    record_run,
    run_record,
)


def make_record(out: Path, month: str, sizes=(120, 80), names=("Average income · Average spending", "VIPs"),
                date: str | None = "2024-01-31T08:00:00Z") -> dict:
    return run_record(out, input_name=f"customers_{month}.csv", input_sha256="ab" * 32, rows_input=sum(sizes) + 1,
                      rows_clustered=sum(sizes), rows_rejected=1, segment_ids=list(range(len(sizes))),
                      segment_names=list(names), segment_sizes=list(sizes), model="model.json", date=date,
                      previous=None if month == "2024-01" else "2024-01")


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def test_history_lives_beside_the_run_folders(runs):
    assert history_dir_for(runs / "2024-02") == runs.absolute()
    assert history_path(runs) == runs / HISTORY_FILE
    assert history_path(runs / HISTORY_FILE) == runs / HISTORY_FILE


def test_record_and_read_back_in_order(runs):
    first = make_record(runs / "2024-01", "2024-01")
    second = make_record(runs / "2024-02", "2024-02", sizes=(100, 90, 10), names=("A", "B", "Newcomers"),
                         date="2024-02-29T08:00:00Z")
    path = record_run(history_dir_for(runs / "2024-01"), first)
    record_run(runs, second)
    assert path == runs.absolute() / HISTORY_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == first
    records = read_history(runs)
    assert records == [first, second]
    assert records[1]["run"] == "2024-02"
    assert records[1]["k"] == 3
    assert records[1]["rows"] == {"input": 201, "clustered": 200, "rejected": 1}
    assert records[1]["segments"][2] == {"id": 2, "name": "Newcomers", "size": 10}
    assert records[1]["previous"] == "2024-01"
    assert records[0]["segments"][0]["name"] == "Average income · Average spending"  # UTF-8 kept
    assert "·" in lines[0]


def test_one_line_per_record_with_sorted_keys(runs):
    record_run(runs, {"run": "x", "note": "two\nlines", "date": "2024-01-01T00:00:00Z"})
    text = (runs / HISTORY_FILE).read_text(encoding="utf-8")
    assert text.count("\n") == 1
    assert text == '{"date": "2024-01-01T00:00:00Z", "note": "two\\nlines", "run": "x"}\n'


def test_date_is_added_in_utc(runs):
    record_run(runs, {"run": "2024-03"})
    (record,) = read_history(runs)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", record["date"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", make_record(runs / "a", "2024-01", date=None)["date"])


def test_no_history_is_an_empty_list(runs):
    assert read_history(runs) == []
    assert read_history(runs / "missing" / HISTORY_FILE) == []


def test_interrupted_last_line_is_skipped_with_a_note(runs):
    record_run(runs, make_record(runs / "2024-01", "2024-01"))
    with (runs / HISTORY_FILE).open("ab") as handle:
        # Killed mid-record, even inside a UTF-8 character.
        handle.write(b'{"run": "2024-02", "segments": [{"name": "Caf' + "é".encode()[:1])

    notes: list[str] = []
    records = read_history(runs, notes=notes)
    assert [r["run"] for r in records] == ["2024-01"]
    assert len(notes) == 1
    assert notes[0].startswith("Skipped line 2 of ")
    assert read_history(runs) == records  # no note list: silently skipped, never a warning

    # The next run starts on a line of its own; the broken line stays skipped.
    record_run(runs, make_record(runs / "2024-03", "2024-03"))
    notes.clear()
    assert [r["run"] for r in read_history(runs, notes=notes)] == ["2024-01", "2024-03"]
    assert len(notes) == 1
    assert (runs / HISTORY_FILE).read_bytes().endswith(b"}\n")


@pytest.mark.parametrize("line", ["[1, 2]", "42", "not json", '"text"'])
def test_lines_that_are_not_records_are_skipped(runs, line):
    runs.mkdir()
    (runs / HISTORY_FILE).write_text(f'{{"run": "a"}}\n{line}\n\n{{"run": "b"}}\n', encoding="utf-8")
    notes: list[str] = []
    assert [r["run"] for r in read_history(runs, notes=notes)] == ["a", "b"]
    assert len(notes) == 1
    assert "line 2" in notes[0]


@pytest.mark.parametrize("record", [{"run": "x", "size": float("nan")}, {"run": "x", "path": Path("p")}])
def test_record_that_is_not_json_is_refused(runs, record):
    with pytest.raises(ConfigError, match="Cannot record the run in the history"):
        record_run(runs, record)
    assert not (runs / HISTORY_FILE).exists()


def test_unwritable_history_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="Cannot record the run in"):
        record_run(blocker / "runs", {"run": "x"})


def test_run_record_checks_segment_lists(runs):
    with pytest.raises(ConfigError, match="one id, name and size per segment"):
        run_record(runs / "a", input_name="c.csv", input_sha256=None, rows_input=1, rows_clustered=1,
                   rows_rejected=0, segment_ids=[0, 1], segment_names=["A"], segment_sizes=[1, 0])


def test_history_table_for_printing(runs):
    record_run(runs, make_record(runs / "2024-01", "2024-01"))
    record_run(runs, {"run": "old-format"})  # an older record with few fields still lists
    table = history_table(read_history(runs))
    assert table.columns.tolist() == list(TABLE_COLUMNS)
    assert table.loc[0, "run"] == "2024-01"
    assert table.loc[0, "sha256"] == "ab" * 6
    assert table.loc[0, "input"] == "customers_2024-01.csv"
    assert (table.loc[0, "rows"], table.loc[0, "clustered"], table.loc[0, "rejected"], table.loc[0, "k"]) == (
        201, 200, 1, 2)
    assert table.loc[0, "segments"] == "0 Average income · Average spending (120); 1 VIPs (80)"
    assert table.loc[0, "model"] == "model.json"
    assert table.loc[1, "run"] == "old-format"
    assert table.iloc[1].drop(["run", "date"]).isna().all()
    assert history_table([]).columns.tolist() == list(TABLE_COLUMNS)



# --------------------------------------------------------------------------- crafted history files

GOOD = {"run": "2024-01", "date": "2024-01-31T08:00:00Z", "k": 1, "rows": {"input": 3},
        "input": {"name": "jan.csv", "sha256": "ab"}, "segments": [{"id": 0, "name": "A", "size": 3}]}


@pytest.mark.parametrize(("line", "note"), [
    ("[1, 2, 3]", "a JSON list, not an object"),
    ("42", "a JSON int, not an object"),
    ('"text"', "a JSON str, not an object"),
    ('{"run": ["2024-02"]}', "'run' is list, not str"),
    ('{"run": "r", "k": "five"}', "'k' is str, not a whole number"),
    ('{"run": "r", "k": 2.5}', "'k' is float, not a whole number"),
    ('{"run": "r", "k": true}', "'k' is bool, not a whole number"),
    ('{"run": "r", "k": 100000000000000000000000}', "'k' is not a count (a whole number from 0 to 2**63 - 1)"),
    ('{"run": "r", "rows": [1]}', "'rows' is list, not dict"),
    ('{"run": "r", "rows": {"input": "x"}}', "a row count in 'rows' is not a whole number"),
    ('{"run": "r", "input": {"sha256": 5}}', "'input' name or sha256 is not text"),
    ('{"run": "r", "segments": {"a": 1}}', "'segments' is dict, not list"),
    ('{"run": "r", "segments": [{"id": [1], "name": {}, "size": "big"}]}', "a segment is not {id, name, size}"),
    ('{"run": "r", "date": 5}', "'date' is int, not str"),
])
def test_wrong_shaped_lines_are_skipped_with_a_note(tmp_path, line, note):
    (tmp_path / HISTORY_FILE).write_text(json.dumps(GOOD) + "\n" + line + "\n", encoding="utf-8")
    notes: list[str] = []
    assert read_history(tmp_path, notes=notes) == [GOOD]
    assert notes == [f"Skipped line 2 of {tmp_path / HISTORY_FILE}: not a run record ({note})."]
    history_table(read_history(tmp_path))  # what `custseg history` prints


def _symlink(path: Path) -> None:
    target = path.parent / "elsewhere.jsonl"
    target.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    path.symlink_to(target)


@pytest.mark.parametrize(("make", "message"), [
    (_symlink, "it is a symbolic link, which custseg does not follow"),
    (lambda p: os.mkfifo(p), "it is a FIFO (named pipe), not a regular file"),
    (lambda p: p.mkdir(), "it is a folder, not a regular file"),
    (lambda p: p.symlink_to("/dev/zero"), "it is a symbolic link"),
])
def test_history_that_is_not_a_regular_file_is_refused_without_hanging(tmp_path, make, message):
    path = tmp_path / HISTORY_FILE
    make(path)
    with pytest.raises(InputFileError, match=re.escape(message)):
        read_history(tmp_path)
    with pytest.raises(OutputError, match=re.escape(message)):
        record_run(tmp_path, GOOD)
    target = tmp_path / "elsewhere.jsonl"
    assert not target.exists() or target.read_text(encoding="utf-8").count("\n") == 1  # not appended


@pytest.mark.parametrize(("line", "code"), [("[1]", 0), ('{"run": "r", "k": 1e400}', 0)])
def test_history_command_skips_wrong_lines_instead_of_exit_70(tmp_path, line, code):
    from typer.testing import CliRunner

    from custseg.cli import app
    (tmp_path / HISTORY_FILE).write_text(json.dumps(GOOD) + "\n" + line + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["history", str(tmp_path)])
    assert result.exit_code == code, result.output
    assert "Skipped line 2" in result.output


def test_history_command_refuses_a_fifo_with_exit_3(tmp_path):
    from typer.testing import CliRunner

    from custseg.cli import app
    os.mkfifo(tmp_path / HISTORY_FILE)
    result = CliRunner().invoke(app, ["history", str(tmp_path)])
    assert result.exit_code == 3
    assert "it is a FIFO (named pipe), not a regular file" in result.output
