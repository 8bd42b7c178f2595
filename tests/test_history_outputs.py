"""The monthly view's files beside the runs: history.html, history_sizes.csv, history_flows.csv, and
every customer's journey; written whole or not at all."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from custseg.exceptions import OutputError
from custseg.outputs.history import write_history, write_history_files, write_journeys
from custseg.runfolder import HISTORY_FLOWS_FILE, HISTORY_REPORT_FILE, HISTORY_SIZES_FILE
from custseg.tracking.timeline import build_timeline
from tests.history_support import RUNS, copy_runs, runs


@pytest.fixture
def folder(tmp_path):
    return copy_runs("mixed", tmp_path)


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_files_beside_the_runs(folder):
    view, written = write_history(folder)
    assert written == {"report": folder / HISTORY_REPORT_FILE, "sizes": folder / HISTORY_SIZES_FILE,
                       "flows": folder / HISTORY_FLOWS_FILE}
    assert _files(folder) == [".custseg-history.jsonl", HISTORY_REPORT_FILE, HISTORY_FLOWS_FILE,
                              HISTORY_SIZES_FILE]  # no temporary file left
    sizes = pd.read_csv(written["sizes"])
    expected = view.sizes_table()
    assert sizes["customers"].tolist() == expected["customers"].tolist()
    assert sizes["status"].tolist() == expected["status"].tolist()
    assert sizes["run"].astype(str).tolist() == expected["run"].tolist()
    flows = pd.read_csv(written["flows"])
    assert len(flows) == len(view.flows_table())
    assert flows.groupby(["from_run", "to_run"])["customers"].sum().tolist() == [
        link.flows.both + int(link.flows.new.sum()) + int(link.flows.departed.sum()) for link in view.links]
    assert set(flows["link"]) == {"recorded", "inferred"}
    assert flows.loc[flows["flow"] == "new", "from_segment"].isna().all()


def test_building_again_gives_the_same_bytes(folder):
    _, written = write_history(folder)
    first = {name: path.read_bytes() for name, path in written.items()}
    _, written = write_history(folder)
    assert {name: path.read_bytes() for name, path in written.items()} == first


def test_unwritable_page_leaves_the_folder_as_it_was(folder):
    (folder / HISTORY_REPORT_FILE).mkdir()  # a folder in the way
    before = _files(folder)
    with pytest.raises(OutputError, match="Cannot write"):
        write_history(folder)
    assert _files(folder) == before


def test_files_elsewhere(tmp_path):
    view = build_timeline(runs("chained"))
    written = write_history_files(view, tmp_path)
    assert {p.parent for p in written.values()} == {tmp_path}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_journeys_file(tmp_path, suffix):
    path = tmp_path / "out" / f"journeys{suffix}"
    view, table, written = write_journeys(runs("independent"), path)
    assert written == path
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    frame = pq.read_table(path).to_pandas() if suffix == ".parquet" else pd.read_csv(path)
    assert frame.columns.tolist() == ["customer_id", *RUNS]
    assert len(frame) == len(table)
    for step in view.steps:
        assert frame[step.run.name].value_counts().sort_index().to_dict() == step.sizes
