"""A previous run folder read back (``--previous``, ``custseg compare``): a corrupted or crafted
folder is refused with one clear line, never read outside the folder, never exit 70."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from custseg.cli import EXIT_CODES, app
from custseg.config import RunConfig
from custseg.datasets import mall_customers_path
from custseg.exceptions import InputFileError
from custseg.pipeline import run
from custseg.runfolder import SUMMARY_FILE
from custseg.tracking.previous import load_previous

CLUSTERED = "mall_customers_clustered.csv"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "2024-01"
    run(RunConfig(input=mall_customers_path(), out=out))
    return out


@pytest.fixture
def folder(tmp_path, finished):
    return shutil.copytree(finished, tmp_path / "2024-01")


def _summary(edit):
    def change(folder):
        path = folder / SUMMARY_FILE
        path.write_text(json.dumps(edit(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
    return change


def _bytes(name, edit):
    def change(folder):
        path = folder / name
        path.write_bytes(edit(path.read_bytes()))
    return change


def _cluster_cell(value):
    def edit(data):
        header, first, *rest = data.decode("utf-8").split("\n")
        cells = first.split(",")
        cells[header.split(",").index("Cluster")] = value
        return "\n".join([header, ",".join(cells), *rest]).encode("utf-8")
    return _bytes(CLUSTERED, edit)


def _clustered(name):
    return _summary(lambda s: {**s, "files": {**s["files"], "clustered": name}})


CASES = [
    ("bad UTF-8", _bytes(SUMMARY_FILE, lambda b: b[:100] + b"\xff\xfe" + b[100:]), "segments.json is damaged (not UTF-8 text)"),
    ("invalid JSON", _bytes(SUMMARY_FILE, lambda b: b[: len(b) // 2]), "segments.json is damaged (not valid JSON)"),
    ("deep JSON", _bytes(SUMMARY_FILE, lambda b: b"[" * 100_000 + b"]" * 100_000), "segments.json is damaged (not valid JSON)"),
    ("list", _summary(lambda s: [1, 2]), "segments.json is damaged (not a JSON object)"),
    ("files list", _summary(lambda s: {**s, "files": [1]}), "'files' is not an object"),
    ("clustered number", _clustered(5), "files.clustered is not a file name"),
    ("clustered passwd", _clustered("../../etc/passwd"), "names a clustered file outside the run folder ('../../etc/passwd')"),
    ("clustered absolute", _clustered("/etc/passwd"), "names a clustered file outside the run folder ('/etc/passwd')"),
    ("used ids text", _summary(lambda s: {**s, "used_segment_ids": ["a"]}), "used_segment_ids must be a list of segment ids"),
    ("used ids number", _summary(lambda s: {**s, "used_segment_ids": 7}), "used_segment_ids must be a list of segment ids"),
    ("used ids huge", _summary(lambda s: {**s, "used_segment_ids": [10**30]}), "used_segment_ids must be a list of segment ids"),
    ("Cluster text", _cluster_cell("abc"), "row 2: Cluster 'abc' is not one of the run's segment ids (0, 1, 2, 3, 4)"),
    ("Cluster fraction", _cluster_cell("1.5"), "row 2: Cluster '1.5' is not one of the run's segment ids"),
    ("Cluster huge", _cluster_cell("1e30"), "row 2: Cluster '1e30' is not one of the run's segment ids"),
    ("Cluster unknown", _cluster_cell("9"), "row 2: Cluster '9' is not one of the run's segment ids"),
    ("truncated", _bytes(CLUSTERED, lambda b: b[: len(b) // 2]), "customers but the run clustered 200 (the file is truncated or was edited)"),
    ("empty", _bytes(CLUSTERED, lambda b: b""), "is empty"),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_corrupted_previous_folder_is_refused_with_one_line(folder, change, message):
    change(folder)
    with pytest.raises(InputFileError) as info:
        load_previous(folder)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in CASES if c[0] in (
    "bad UTF-8", "list", "clustered passwd", "used ids text", "Cluster fraction", "truncated")])
def test_compare_exits_3_not_70(folder, finished, tmp_path, change, message):
    change(folder)
    result = CliRunner().invoke(app, ["compare", str(folder), str(finished), "--out", str(tmp_path / "c")])
    assert result.exit_code == EXIT_CODES[InputFileError] == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_a_link_out_of_the_folder_is_not_followed(folder, tmp_path):
    outside = tmp_path / "outside.csv"
    shutil.move(folder / CLUSTERED, outside)
    (folder / CLUSTERED).symlink_to(outside)
    with pytest.raises(InputFileError, match="names a clustered file outside the run folder"):
        load_previous(folder)


def test_an_intact_folder_still_reads(folder):
    previous = load_previous(folder)
    assert previous.has_customers
    assert len(previous.customers) == 200
