"""The runs of a folder for the monthly view, and bad history: each case shown or skipped with a note,
never a crash."""

from __future__ import annotations

import json
import shutil

import pytest

from custseg.config import RunConfig
from custseg.exceptions import InputFileError
from custseg.pipeline import run
from custseg.runfolder import MODEL_FILE, SUMMARY_FILE
from custseg.tracking.history import HISTORY_FILE, read_history, record_run
from custseg.tracking.runset import find_runs, parse_date, previous_name
from custseg.tracking.timeline import build_timeline
from tests.history_support import DATES, FEATURES, RUNS, copy_runs, month_inputs, set_dates


@pytest.fixture
def folder(tmp_path):
    return copy_runs("chained", tmp_path)


def _names(found) -> list[str]:
    return [r.name for r in found.runs]


def test_recorded_runs_in_date_order(folder):
    found = find_runs(folder)
    assert _names(found) == RUNS
    assert found.notes == ()
    assert found.skipped == {}
    assert found.gaps == ()
    assert found.features == FEATURES
    assert found.days == pytest.approx({RUNS[1]: 29.0, RUNS[2]: 31.0})
    first, second = found.runs[:2]
    assert first.previous is None
    assert second.previous == RUNS[0]
    assert second.changes is not None
    assert second.silhouette is not None
    assert second.k == 5
    assert second.input_name == "customers_02.csv"
    assert len(second.input_sha256) == 64
    assert second.report == folder / RUNS[1] / "report.html"


@pytest.mark.parametrize(("damage", "reason"), [
    ("remove folder", "its folder is missing"),
    ("remove model", "its folder has no model file"),
    ("truncate model", "its model file is damaged"),
])
def test_missing_or_damaged_run_is_left_out_with_a_note(folder, damage, reason):
    target = folder / RUNS[1]
    if damage == "remove folder":
        shutil.rmtree(target)
    elif damage == "remove model":
        (target / MODEL_FILE).unlink()
    else:
        model = target / MODEL_FILE
        model.write_bytes(model.read_bytes()[:200])
    view = build_timeline(folder)
    assert view.runs == [RUNS[0], RUNS[2]]
    assert view.skipped[RUNS[1]].startswith(reason)
    assert any(note.startswith(f"{RUNS[1]} is left out: {reason}") for note in view.notes)
    # March was made with --previous February, which is gone: its link to January is inferred.
    (link,) = view.links
    assert link.inferred
    assert link.flows is not None
    assert link.flows.both > 0


def test_unreadable_summary_still_shows_the_run(folder):
    (folder / RUNS[2] / SUMMARY_FILE).write_text("{", encoding="utf-8")
    found = find_runs(folder)
    assert _names(found) == RUNS
    assert found.runs[2].summary == {}
    assert found.runs[2].silhouette is None
    assert found.runs[2].previous == RUNS[1]  # from the history record


def test_runs_on_other_features_are_left_out(folder):
    other = folder / "2024-02-age"
    run(RunConfig(input=month_inputs()[1], out=other, k=4, features=("Age", "Annual Income (k$)")))
    set_dates(folder, {"2024-02-age": "2024-02-15T08:00:00Z"})
    view = build_timeline(folder)
    assert view.runs == RUNS
    assert "segmented on Age, Annual Income (k$)" in view.skipped["2024-02-age"]
    assert any("2024-02-age is left out" in note for note in view.notes)


def test_a_gap_of_several_months_is_noted(folder):
    set_dates(folder, {RUNS[2]: "2024-07-31T08:00:00Z"})
    view = build_timeline(folder)
    assert view.runs == RUNS
    assert [link.gap for link in view.links] == [False, True]
    assert view.links[1].days == pytest.approx(153)
    (note,) = view.notes
    assert note.startswith(f"Gap: no run for 153 days between {RUNS[1]} and {RUNS[2]}")


def test_runs_on_the_same_day_are_shown_in_the_order_they_ran(folder):
    set_dates(folder, {RUNS[1]: "2024-03-31T07:00:00Z"})
    view = build_timeline(folder)
    assert view.runs == RUNS
    (note,) = view.notes
    assert note == f"{RUNS[1]} and {RUNS[2]} ran on the same day (2024-03-31): both are shown, in the order they ran."
    assert view.links[1].days == pytest.approx(1 / 24)


def test_a_rerun_of_the_same_input_on_the_same_day_replaces_the_earlier(folder):
    shutil.copytree(folder / RUNS[2], folder / "2024-03-rerun")
    record = dict(next(r for r in read_history(folder) if r["run"] == RUNS[2]),
                  run="2024-03-rerun", date="2024-03-31T10:00:00Z")
    record_run(folder, record)
    view = build_timeline(folder)
    assert view.runs == [*RUNS[:2], "2024-03-rerun"]
    assert "on the same input as 2024-03-rerun" in view.skipped[RUNS[2]]
    assert not view.links[1].inferred  # the re-run was made with --previous February too


def test_a_run_recorded_twice_is_shown_once(folder):
    records = read_history(folder)
    record_run(folder, dict(records[0], date="2024-01-31T09:00:00Z"))
    found = find_runs(folder)
    assert _names(found) == RUNS
    assert found.notes == (f"{RUNS[0]} was recorded 2 times (re-run into the same folder): its folder holds "
                           "the latest run, shown once.",)


def test_a_rerun_is_placed_before_the_run_compared_with_it(folder):
    # January re-run (same folder) after February and March had been compared with it.
    set_dates(folder, {RUNS[0]: "2024-04-02T08:00:00Z"})
    found = find_runs(folder)
    assert _names(found) == RUNS
    assert any("shown after 2024-01, the run it was compared with" in note for note in found.notes)


def test_unrecorded_run_folders_are_noted(folder):
    shutil.copytree(folder / RUNS[0], folder / "copied")
    found = find_runs(folder)
    assert _names(found) == RUNS
    assert any(note.startswith("Run folders not in the run history, left out: copied") for note in found.notes)


def test_without_history_the_run_folders_are_taken_by_name(folder):
    (folder / HISTORY_FILE).unlink()
    view = build_timeline(folder)
    assert view.runs == RUNS
    assert all(step.run.date is None for step in view.steps)
    assert view.notes == (f"No run history in {folder}: the 3 run folders found are ordered by their names.",)
    assert all(not link.inferred for link in view.links)  # chaining is read from segments.json


def test_an_interrupted_history_line_is_noted(folder):
    with (folder / HISTORY_FILE).open("ab") as handle:
        handle.write(b'{"run": "2024-04", "da')
    found = find_runs(folder)
    assert _names(found) == RUNS
    assert found.notes[0].startswith("Skipped line 4 of ")


@pytest.mark.parametrize("case", ["empty", "not a folder", "only damaged runs"])
def test_no_usable_run_is_an_input_error(tmp_path, case):
    target = tmp_path / "runs"
    if case == "empty":
        target.mkdir()
        message = "No custseg runs in"
    elif case == "not a folder":
        target.write_text("x", encoding="utf-8")
        message = "is not a folder"
    else:
        target.mkdir()
        record_run(target, {"run": "2024-01", "date": DATES[0]})
        message = "No usable run in .*2024-01 is left out: its folder is missing"
    with pytest.raises(InputFileError, match=message):
        find_runs(target)


@pytest.mark.parametrize(("value", "expected"), [
    ("runs/2024-01", "2024-01"), ("C:\\runs\\2024-01\\", "2024-01"),
    (f"runs/2024-01/{MODEL_FILE}", "2024-01"), (None, None), ("", None),
])
def test_previous_name(value, expected):
    assert previous_name(value) == expected


@pytest.mark.parametrize(("text", "ok"), [("2024-02-01T09:30:00Z", True), ("2024-02-01", True),
                                          ("not a date", False), (42, False)])
def test_parse_date(text, ok):
    assert (parse_date(text) is not None) == ok


def test_records_naming_no_folder_are_skipped(folder):
    with (folder / HISTORY_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"run": "../elsewhere", "date": DATES[2]}) + "\n")
        handle.write(json.dumps({"date": DATES[2]}) + "\n")
    found = find_runs(folder)
    assert _names(found) == RUNS
    assert found.notes.count("Skipped a history record that names no run folder.") == 2
