"""The command line's head start (custseg.io.early): the input opened and read while the program
loads is the same source and the same read as the run's own, and nothing changes when the head
start does not apply or fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custseg.config import RunConfig
from custseg.engines import open_input
from custseg.exceptions import InputFileError
from custseg.io import early
from custseg.io.early import start_early_read, take_early_source
from custseg.io.sources import open_source
from custseg.pipeline import run
from tests.conftest import write_csv_text
from tests.engine_support import assert_same_outputs

#: Two records the parser cannot split (rows 4 and 7), so the rejects' row numbers are checked.
RAGGED = ("id,income,score\n1,15,39\n2,16,81\n3,17\n4,18,77\n5,19,40\n6,20,6,9\n7,21,76\n")


@pytest.fixture(autouse=True)
def _nothing_pending():
    yield
    early._pending = None  # a test that starts a read and does not take it leaves no trace


def _same_chunk(a, b) -> None:
    assert a.table.equals(b.table)
    assert np.array_equal(a.rows, b.rows)
    assert a.parse_rejects.equals(b.parse_rejects)


@pytest.mark.parametrize("text", [RAGGED, "id,income,score\n" + "".join(
    f"{i},{i % 90 + 10},{i % 99 + 1}\n" for i in range(1, 2001))], ids=["ragged", "plain"])
def test_the_read_ahead_is_the_runs_own_read(tmp_path, text):
    path = write_csv_text(tmp_path / "customers.csv", text)
    config = RunConfig(input=path)
    assert start_early_read(config)
    source = take_early_source(config)
    assert source is not None
    assert source.ahead is not None
    _same_chunk(source.read_whole(), open_source(path).read_all())
    assert source.ahead is None  # handed out once: the table is not held twice
    _same_chunk(source.read_whole(), open_source(path).read_all())  # then read as usual


def test_a_parquet_input_is_read_ahead_too(tmp_path):
    path = tmp_path / "customers.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "income": [15.0, 16.0, 17.0]}), path)
    config = RunConfig(input=path)
    start_early_read(config)
    source = take_early_source(config)
    assert source.format == "parquet"
    assert source.ahead is not None
    _same_chunk(source.read_whole(), open_source(path).read_all())


@pytest.mark.parametrize(("engine", "read"), [("auto", False), ("memory", True)])
def test_the_table_is_read_only_when_the_run_holds_it_whole(tmp_path, engine, read):
    path = write_csv_text(tmp_path / "customers.csv", RAGGED)
    # A budget under the estimate (the libraries alone take more): --engine auto takes batches,
    # which read the file in chunks.
    config = RunConfig(input=path, engine=engine, memory_budget=64 * 1024**2)
    start_early_read(config)
    source = take_early_source(config)
    assert source is not None
    assert (source.ahead is not None) is read


@pytest.mark.parametrize("options", [
    {"engine": "batches"}, {"engine": "spark"},
    {"input": "postgresql://user@127.0.0.1/shop", "table": "customers"},
], ids=["batches", "spark", "database"])
def test_no_head_start_where_it_does_not_apply(tmp_path, options):
    options = {"input": write_csv_text(tmp_path / "c.csv", RAGGED), **options}
    config = RunConfig(**options)
    assert not start_early_read(config)
    assert take_early_source(config) is None


def test_a_source_opened_for_another_input_is_not_taken(tmp_path):
    first = write_csv_text(tmp_path / "first.csv", RAGGED)
    second = write_csv_text(tmp_path / "second.csv", RAGGED)
    start_early_read(RunConfig(input=first))
    assert take_early_source(RunConfig(input=second)) is None
    assert take_early_source(RunConfig(input=first, memory_budget=10**9)) is None
    assert take_early_source(RunConfig(input=first)).path == first


def test_a_failed_head_start_leaves_the_error_to_the_run(tmp_path):
    config = RunConfig(input=tmp_path / "missing.csv")
    start_early_read(config)
    with pytest.raises(InputFileError, match="does not exist"):
        open_input(config)  # the early open failed quietly; the run's own open says why


def test_a_run_with_a_head_start_writes_the_same_bytes(tmp_path, mall_path):
    plain = run(RunConfig(input=mall_path, out=tmp_path / "plain", k=5))
    config = RunConfig(input=mall_path, out=tmp_path / "early", k=5)
    start_early_read(config)
    ahead = run(config)
    assert early._pending is None  # the run took it
    assert_same_outputs(plain, ahead)


def test_the_module_stays_light():
    # The command line imports it before anything heavy: it must not load Arrow or pandas.
    import subprocess
    import sys

    code = ("import sys, custseg.io.early; "
            "print(sorted(m for m in ('pyarrow', 'pandas', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
