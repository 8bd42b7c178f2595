"""Customer journeys: one customer's segment in every run, and every customer's, merged run by run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from custseg.exceptions import ConfigError
from custseg.io.csvsafe import TableWriter
from custseg.tracking.journey import (
    ID_COLUMN,
    JourneyFinder,
    JourneyTable,
    all_journeys,
    find_journey,
    key_of,
    stops,
)
from custseg.tracking.timeline import build_timeline
from tests.history_support import RUNS, clustered, copy_runs, runs, segments_by_customer


@pytest.fixture(scope="module")
def independent():
    return all_journeys(runs("independent"))


def _truth(view) -> pd.DataFrame:
    """Every customer's view segment per run, joined with pandas (the oracle)."""
    columns = [segments_by_customer(s.run.folder, s.ids).rename(s.run.name) for s in view.steps]
    return pd.concat(columns, axis=1)


def test_every_customer_in_every_run(independent):
    view, table = independent
    frame = table.to_table(view.runs).to_pandas()
    assert frame.columns.tolist() == [ID_COLUMN, *RUNS]
    assert frame[ID_COLUMN].is_unique
    truth = _truth(view)
    assert len(frame) == len(truth)
    got = frame.set_index(frame[ID_COLUMN].astype(int)).drop(columns=ID_COLUMN)
    pd.testing.assert_frame_equal(got.sort_index().astype("float64"), truth.sort_index().astype("float64"),
                                  check_names=False)
    # First seen first: January's customers in January's order, then each month's newcomers.
    january = pd.read_csv(clustered(view.steps[0].run.folder), usecols=["CustomerID"])["CustomerID"]
    assert frame[ID_COLUMN].head(len(january)).astype(int).tolist() == january.tolist()


def test_the_table_holds_arrays_not_python_objects(independent):
    _, table = independent
    assert isinstance(table.keys, np.ndarray)
    assert table.keys.dtype == np.uint64
    assert all(isinstance(part, pa.Array) for part in table.text)
    assert all(isinstance(c, np.ndarray) and c.dtype == np.int32 for c in table.columns)


@pytest.mark.parametrize("rows", [1, 7, 10_000])
def test_written_in_slices(tmp_path, independent, rows):
    view, table = independent
    path = tmp_path / "journeys.csv"
    with TableWriter(path) as writer:
        assert table.write(writer, view.runs, rows=rows) == len(table)
    written = pd.read_csv(path, dtype={ID_COLUMN: str})
    expected = table.to_table(view.runs).to_pandas()
    assert written[ID_COLUMN].tolist() == expected[ID_COLUMN].tolist()
    assert written[RUNS].fillna(-1).astype(int).equals(expected[RUNS].fillna(-1).astype(int))


def test_one_customer(independent):
    view, table = independent
    truth = _truth(view)
    stayer = int(truth.dropna().index[0])
    gone = int(truth[truth[RUNS[1]].notna() & truth[RUNS[2]].isna()].index[0])
    _, journey = find_journey(runs("independent"), f" {stayer} ")
    assert [s.segment for s in journey] == [int(v) for v in truth.loc[stayer]]
    assert [s.run for s in journey] == RUNS
    assert journey[0].change == "first seen"
    assert all(s.name == view.steps[i].names[s.segment] for i, s in enumerate(journey))
    segments, read = table.journey_of(str(gone))
    assert [s.change for s in stops(view, segments, read)][-1] == "departed"
    assert table.journey_of("no such customer") is None


def test_a_customer_in_no_run(independent):
    with pytest.raises(ConfigError, match="Customer 999999 is in none of the 3 runs"):
        find_journey(runs("independent"), "999999")
    with pytest.raises(ConfigError, match="customer id is empty"):
        JourneyFinder("  ", 3)


def test_changes_read_like_a_story():
    view = build_timeline(runs("chained"))
    names = [s.names for s in view.steps]
    moved = [1, 0, None]
    assert [s.change for s in stops(view, moved, [True] * 3)] == [
        "first seen", f"moved from {names[0][1]}", "departed"]
    assert [s.change for s in stops(view, [None, 2, 2], [True] * 3)] == ["absent", "new", "stayed"]
    assert [s.change for s in stops(view, [2, None, 2], [True] * 3)] == ["first seen", "departed", "returned"]
    assert [s.change for s in stops(view, [2, None, 2], [True, False, True])][1] == "unknown"


def test_a_run_that_cannot_be_read_is_unknown_not_absent(tmp_path):
    folder = copy_runs("independent", tmp_path)
    clustered(folder / RUNS[1]).unlink()
    view, table = all_journeys(folder)
    assert table.columns[1] is None
    assert table.to_table(view.runs).column(RUNS[1]).null_count == len(table)
    customer = table.to_table(view.runs).column(ID_COLUMN)[0].as_py()
    segments, read = table.journey_of(customer)
    assert read == [True, False, True]
    assert segments[1] is None


def test_merging_run_by_run():
    table = JourneyTable(3)
    table.batch(0, pa.array(["b", "a"]), np.array([2, 3]), np.array([1, 0]))
    table.done(0, True)
    table.done(1, True)  # a run with no customers
    table.batch(2, pa.array(["c"]), np.array([2]), np.array([4]))
    table.batch(2, pa.array(["a"]), np.array([3]), np.array([2]))
    table.done(2, True)
    assert table.to_table(["x", "y", "z"]).to_pylist() == [
        {ID_COLUMN: "b", "x": 1, "y": None, "z": None},
        {ID_COLUMN: "a", "x": 0, "y": None, "z": 2},
        {ID_COLUMN: "c", "x": None, "y": None, "z": 4},
    ]
    assert table.journey_of("a") == ([0, None, 2], [True, True, True])


def test_ids_compare_as_trimmed_text_or_exact_integers():
    assert key_of("17") == key_of(" 17") != key_of("017")
