"""Flows between two runs: counts, departed and new customers, the biggest moves in words, and the
flows a chained run recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from custseg.runfolder import SUMMARY_FILE, TRANSITIONS_FILE
from custseg.tracking.links import DEPARTED, MOVED, NEW, STAYED, Flows, is_chained, recorded_flows
from custseg.tracking.runset import find_runs
from tests.history_support import RUNS, copy_runs, runs

NAMES = {0: "Average", 1: "VIPs", 2: "Bargain hunters"}


@pytest.fixture
def flows() -> Flows:
    counts = pd.DataFrame([[50, 7, 3], [2, 30, 0]], index=[0, 1], columns=[0, 1, 2])
    return Flows.of_sizes(counts, {0: 70, 1: 40}, {0: 60, 1: 45, 2: 9})


def test_departed_and_new_follow_from_the_sizes(flows):
    assert flows.departed.to_dict() == {0: 10, 1: 8}
    assert flows.new.to_dict() == {0: 8, 1: 8, 2: 6}
    assert (flows.both, flows.stayed, flows.moved) == (92, 80, 12)
    assert flows.consistent


def test_sizes_too_small_for_the_counts_are_inconsistent():
    counts = pd.DataFrame([[5]], index=[0], columns=[0])
    assert not Flows.of_sizes(counts, {0: 4}, {0: 9}).consistent


def test_table_has_one_row_per_non_empty_flow(flows):
    table = flows.table()
    assert table["flow"].tolist() == [STAYED, STAYED, MOVED, MOVED, MOVED, NEW, NEW, NEW, DEPARTED, DEPARTED]
    assert table["customers"].sum() == flows.both + 18 + 22
    assert table.loc[table["flow"] == MOVED, "customers"].tolist() == [7, 3, 2]
    assert table.loc[table["flow"] == NEW, "from_segment"].isna().all()
    assert table.loc[table["flow"] == DEPARTED, "to_segment"].isna().all()


def test_sentences(flows):
    assert flows.sentences(NAMES, NAMES, "March", top=2) == [
        "7 Average customers moved to VIPs in March.",
        "3 Average customers moved to Bargain hunters in March.",
        "22 new customers joined, most into Average (8); 18 customers departed, most from Average (10).",
    ]
    one = Flows.of_sizes(pd.DataFrame([[0, 1]], index=[0], columns=[0, 1]), {0: 1}, {0: 0, 1: 1})
    assert one.sentences({}, {}, "May") == ["1 segment 0 customer moved to segment 1 in May."]


def test_relabel(flows):
    renamed = flows.relabel({0: 10, 1: 11}, {0: 10, 1: 11, 2: 12})
    assert renamed.counts.index.tolist() == [10, 11]
    assert renamed.counts.columns.tolist() == [10, 11, 12]
    assert renamed.new.index.tolist() == [10, 11, 12]
    assert renamed.departed.index.tolist() == [10, 11]
    assert (renamed.stayed, renamed.moved) == (flows.stayed, flows.moved)


def test_recorded_flows_are_the_transition_matrix():
    found = find_runs(runs("chained"))
    before, after = found.runs[:2]
    assert is_chained(before, after)
    flows = recorded_flows(before, after)
    matrix = pd.read_csv(after.folder / TRANSITIONS_FILE)
    assert flows.both == matrix["customers"].sum() == after.changes["customers"]["both"]
    assert int(flows.new.sum()) == after.changes["customers"]["new"]
    assert int(flows.departed.sum()) == after.changes["customers"]["departed"]
    assert not is_chained(found.runs[0], found.runs[2])  # March was compared with February


@pytest.mark.parametrize("edit", ["csv only", "wrong ids", "too many", "other sizes"])
def test_recorded_flows_that_do_not_fit_are_not_used(tmp_path, edit):
    folder = copy_runs("chained", tmp_path)
    summary_path = folder / RUNS[1] / SUMMARY_FILE
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    changes = summary["changes"]
    if edit == "csv only":
        del changes["transitions"]  # then transition_matrix.csv is read
    elif edit == "wrong ids":
        changes["transitions"][0]["previous"] = 99
    elif edit == "too many":
        changes["transitions"][0]["customers"] = 10**6
    else:
        changes["sizes"][0]["previous_size"] += 1  # compared with another version of January
    summary_path.write_text(json.dumps(summary), encoding="utf-8")
    before, after = find_runs(folder).runs[:2]
    if edit == "other sizes":
        assert not is_chained(before, after)
        return
    assert is_chained(before, after)
    flows = recorded_flows(before, after)
    assert (flows is not None) == (edit == "csv only")
    if flows is not None:
        assert flows.both == after.changes["customers"]["both"]


def test_unknown_links_show_no_sentences():
    empty = Flows.of_sizes(pd.DataFrame(np.zeros((1, 1), dtype=np.int64), index=[0], columns=[0]),
                           {0: 0}, {0: 0})
    assert empty.sentences(NAMES, NAMES, "May") == []
