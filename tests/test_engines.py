"""One pipeline, two engines: every output is the same bytes in memory and in batches of any size.

The equivalence suite: each run here is made on every engine of ``tests.conftest.ENGINES``
(in memory; batches of 1 row, of 7 rows, and of more rows than the data) and every file of its
output folder is compared with the in-memory run's, byte for byte. The one allowed difference is
the engine block of ``segments.json`` (``run.engine``). End-to-end tests elsewhere take the
``engine`` fixture (and ``mall_run``) and so run on every engine too.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from custseg.config import RunConfig
from custseg.engines import BatchEngine, MemoryEngine, estimated_memory, open_engine, open_input
from custseg.exceptions import DataValidationError
from custseg.pipeline import RunResult, run
from tests.conftest import ENGINES, FEATURES, LARGE_ENGINES
from tests.engine_support import assert_same_outputs
from tests.peak_rss import peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from generate import customers  # noqa: E402

#: A smaller K range than the default keeps the K choice quick.
K_MAX = 6


def _run_everywhere(tmp_path: Path, engines: dict, **options) -> dict[str, RunResult]:
    return {name: run(RunConfig(out=tmp_path / name, **engine_options, **options))
            for name, engine_options in engines.items()}


# --------------------------------------------------------------------------- the Mall data

def test_mall_outputs_are_identical_on_every_engine(tmp_path):
    runs = _run_everywhere(tmp_path, ENGINES)
    for name, result in runs.items():
        assert result.engine["name"] == ENGINES[name]["engine"]
        assert result.sizes.tolist() == [81, 39, 35, 23, 22]
        assert_same_outputs(runs["memory"], result)
    assert runs["batches-7"].engine["batch_rows"] == 7


def test_parquet_outputs_are_identical_on_every_engine(tmp_path):
    runs = _run_everywhere(tmp_path, ENGINES, output_format="parquet", k=5)
    memory = runs["memory"]
    for result in runs.values():
        for name in ("clustered", *(f"segment:{s.slug}" for s in memory.segments)):
            assert pq.read_table(result.outputs[name]).equals(pq.read_table(memory.outputs[name]))
        assert_same_outputs(memory, result)


def test_names_file_gives_the_same_outputs_on_every_engine(tmp_path):
    names = tmp_path / "names.yaml"
    names.write_text("0: Everyday shoppers\nHigh income · Low spending:\n  name: Careful affluent\n"
                     "  action: Invite to a private preview\n", encoding="utf-8")
    runs = _run_everywhere(tmp_path, ENGINES, names=names)
    memory = runs["memory"]
    assert memory.names[:3] == ["Everyday shoppers", "High income · High spending", "Careful affluent"]
    assert (memory.config.out / "segments" / "careful-affluent.csv").is_file()
    for result in runs.values():
        assert_same_outputs(memory, result)


# --------------------------------------------------------------------------- rejects

def _junk_csv(path: Path) -> Path:
    """Generated customers with every kind of bad row spread over them (batches cut through
    them), a formula cell and a cell that needs quotes."""
    good = customers(2_000, seed=7).to_pandas()
    lines = [",".join(good.columns)]
    junk = {
        10: "5000001,Male,21,15",  # wrong number of fields
        60: "5000002,Female,20,,6",  # missing value
        120: "5000003,Female,23,16k,77",  # non-numeric text
        180: "5000004,Female,31,inf,40",  # infinity
        240: "5000005,Female,22,-17,76",  # negative income
        300: "5000006,Female,35,18,150",  # outside 1..100
        360: "1,Male,64,19,3",  # duplicate of row 2, a later batch
        420: ",Female,30,19,72",  # missing id
        480: "5000008,Male,67,19,14,extra",  # wrong number of fields
        540: "5000009,Female,58,NA,15",  # missing value (NA)
        600: '5000010,"=HYPERLINK(""http://x"")",35,40,50',  # a formula: neutralised
        660: '5000011,"Female, probably",35,40,50',  # needs quotes
        720: "C-13,Male,52,23,29",  # text id
        780: "C-13,Female,35,23,98",  # duplicate text id
        840: "5000012,Male,35,24,-3",  # outside 1..100
        1500: "17,Male,35,24,35",  # duplicate of row 18
    }
    for i, row in enumerate(good.itertuples(index=False)):
        if i in junk:
            lines.append(junk[i])
        lines.append(",".join(str(v) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def junk_runs(tmp_path_factory) -> dict[str, RunResult]:
    base = tmp_path_factory.mktemp("junk")
    return _run_everywhere(base, LARGE_ENGINES, input=_junk_csv(base / "junk.csv"), k_max=K_MAX)


def test_rejects_and_every_output_are_identical_on_every_engine(junk_runs):
    memory = junk_runs["memory"]
    assert memory.n_rejected == 13
    assert memory.n_input == memory.n_clustered + memory.n_rejected == 2_016
    for result in junk_runs.values():
        assert result.rows == memory.rows
        pd.testing.assert_frame_equal(result.rejects, memory.rejects)
        assert_same_outputs(memory, result)


def test_cells_are_repeated_as_read_formulas_neutralised(junk_runs):
    text = junk_runs["batches-7"].outputs["clustered"].read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    assert '"Female, probably"' in text
    rejects = pd.read_csv(junk_runs["batches-7"].outputs["rejects"], dtype=str)
    assert rejects["row"].astype(int).is_monotonic_increasing
    assert rejects.loc[rejects["row"] == "12", "reason"].item() == \
        "wrong number of fields: expected 5, found 4"


def test_memory_engine_slices_give_the_same_outputs(junk_runs, tmp_path, monkeypatch):
    """The in-memory engine hands its table to the scan and the observers in slices; slices of
    7 rows (cutting through the unparseable records) change nothing."""
    import custseg.engines.memory as memory_engine

    monkeypatch.setattr(memory_engine, "SLICE_ROWS", 7)
    memory = junk_runs["memory"]
    sliced = run(RunConfig(input=memory.config.input, out=tmp_path / "sliced", k_max=K_MAX,
                           engine="memory"))
    assert_same_outputs(memory, sliced)


@pytest.mark.parametrize("name", list(ENGINES))
def test_errors_are_the_same_on_every_engine(tmp_path, name):
    path = _junk_csv(tmp_path / "junk.csv")
    options = ENGINES[name]
    with pytest.raises(DataValidationError) as info:
        run(RunConfig(input=path, out=tmp_path / "fail", on_invalid="fail", **options))
    assert str(info.value).startswith("junk.csv row 12: wrong number of fields")
    assert "13 invalid row(s)" in str(info.value)
    bad = tmp_path / "bad.csv"
    bad.write_text("CustomerID,Annual Income (k$),Spending Score (1-100)\n1,x,5\n2,-1,5\n")
    with pytest.raises(DataValidationError, match=r"No valid rows left in bad\.csv: all 2 rows"):
        run(RunConfig(input=bad, out=tmp_path / "bad", **options))
    empty = tmp_path / "empty.csv"
    empty.write_text("CustomerID,Annual Income (k$),Spending Score (1-100)\n")
    with pytest.raises(DataValidationError, match="header but no customer rows"):
        run(RunConfig(input=empty, out=tmp_path / "empty", **options))
    assert not (tmp_path / "empty").exists()  # nothing half-written
    assert not list(tmp_path.glob(".custseg-work-*"))  # the work folder is gone too


# --------------------------------------------------------------------------- beyond the sample

@pytest.fixture(scope="module")
def parquet_runs(tmp_path_factory) -> dict[str, RunResult]:
    """12,000 customers in Parquet (row groups of 1,000), a sample of 3,000 rows."""
    base = tmp_path_factory.mktemp("parquet")
    path = base / "customers.parquet"
    pq.write_table(customers(12_000, seed=5), path, row_group_size=1_000)
    return _run_everywhere(base, LARGE_ENGINES, input=path, k_max=K_MAX, sample_rows=3_000)


def test_runs_beyond_the_sample_are_identical_on_every_engine(parquet_runs):
    memory = parquet_runs["memory"]
    assert memory.sample.size == 3_000 < memory.n_clustered == 12_000
    for result in parquet_runs.values():
        assert_same_outputs(memory, result)


def test_counts_are_exact_over_every_row(parquet_runs):
    result = parquet_runs["batches-7"]
    clustered = pd.read_csv(result.outputs["clustered"])
    groups = clustered.groupby("Cluster")
    profiles = result.profiles
    assert profiles.sizes.tolist() == groups.size().tolist()
    for column in [*FEATURES, "Age"]:
        np.testing.assert_allclose(profiles.numeric[(column, "mean")].to_numpy()[:-1],
                                   groups[column].mean().to_numpy(), rtol=1e-12)
        assert profiles.numeric.loc["all", (column, "mean")] == pytest.approx(clustered[column].mean())
    gender = pd.crosstab(clustered["Cluster"], clustered["Gender"], normalize="index")
    np.testing.assert_allclose(profiles.categories["Gender"].drop(index="all").to_numpy(float),
                               gender.to_numpy(), rtol=1e-12)
    Z = result.segmenter.scale(clustered[FEATURES])
    centers = result.segmenter.cluster_centers_
    inertia = float(((Z - centers[clustered["Cluster"].to_numpy()]) ** 2).sum())
    assert result.segmenter.inertia_ == pytest.approx(inertia, rel=1e-9)
    # Lloyd ran on every row (not a sample) to scikit-learn's tolerance: each centroid is within a
    # hair of its customers' mean (a converged fit moves less than tol = 1e-4 variances).
    means = groups[FEATURES].mean().to_numpy()
    np.testing.assert_allclose(result.segmenter.cluster_centers_original_, means, atol=0.1)
    assert result.engine["converged"]
    assert result.profiles.quantile_rows == 3_000
    summary = json.loads(result.outputs["summary"].read_text())
    assert summary["rows"] == {"input": 12_000, "clustered": 12_000, "rejected": 0,
                               "reject_reasons": {}}
    assert summary["run"]["engine"]["sample_rows"] == 3_000
    assert "median" in summary["run"]["engine"]["estimated_on_sample"]


def test_the_model_scores_every_customer_as_the_run_did(parquet_runs):
    result = parquet_runs["batches-7"]
    clustered = pd.read_csv(result.outputs["clustered"])
    assert (result.model().predict(clustered) == clustered["Cluster"]).all()


# --------------------------------------------------------------------------- month after month

def _later_month(path: Path, source: Path) -> Path:
    df = pd.read_csv(source)
    rng = np.random.default_rng(1)
    later = df.copy()
    later["Spending Score (1-100)"] = np.clip(
        later["Spending Score (1-100)"] + rng.integers(-8, 9, len(later)), 1, 100)
    newcomers = df.iloc[:15].copy()
    newcomers["CustomerID"] += 1000
    pd.concat([later.iloc[10:], newcomers]).to_csv(path, index=False)
    return path


def test_previous_run_migration_and_drift_are_identical_on_every_engine(tmp_path, mall_path):
    later = _later_month(tmp_path / "feb.csv", mall_path)
    runs = {}
    for name, options in ENGINES.items():
        jan = run(RunConfig(out=tmp_path / name / "jan", **options))
        runs[name] = run(RunConfig(input=later, previous=jan.config.out,
                                   out=tmp_path / name / "feb", **options))
    memory = runs["memory"]
    changes = memory.changes
    assert changes.migration.n_both == 190
    assert changes.migration.n_new == 15
    assert changes.migration.n_departed == 10
    assert (memory.config.out / "migration.csv").is_file()
    for result in runs.values():
        assert_same_outputs(memory, result)


# --------------------------------------------------------------------------- choosing the engine

def test_auto_uses_batches_when_the_input_would_not_fit(tmp_path, mall_path):
    source = open_input(RunConfig())
    assert estimated_memory(source) > 300 * 1024**2
    assert isinstance(open_engine(RunConfig(), source), MemoryEngine)
    small = RunConfig(memory_budget="64MB")
    assert estimated_memory(source) > small.memory_budget
    engine = open_engine(small, source)
    assert isinstance(engine, BatchEngine)
    assert engine.batch_rows >= 1
    assert RunConfig(engine="streaming").engine == "batches"  # the engine's first name still works
    result = run(RunConfig(out=tmp_path / "auto", memory_budget="64MB"))
    assert result.engine["name"] == "batches"
    choice = result.engine["choice"]
    assert choice["basis"] == {"from": "file size", "bytes": source.size_bytes}
    assert choice["reason"].startswith("estimated in-memory peak 300 MB, from 3,780 bytes (file size)")
    assert choice["reason"].endswith("exceeds --memory-budget 64 MB")
    assert result.sizes.tolist() == [81, 39, 35, 23, 22]


def test_data_frames_run_on_every_engine(tmp_path, mall_df):
    runs = {name: run(RunConfig(out=tmp_path / name, k=5, **options), data=mall_df)
            for name, options in ENGINES.items()}
    for result in runs.values():
        assert result.outputs["clustered"].name == "customers_clustered.csv"
        assert_same_outputs(runs["memory"], result)


# --------------------------------------------------------------------------- memory

#: Arrow pools of the memory test stay referenced: Arrow buffers keep a pointer to their pool.
_POOLS: list = []


def _traced_peak(config: RunConfig) -> tuple[RunResult, int]:
    """Run; the peak of Python/NumPy allocations (tracemalloc) plus that of Arrow's pool."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    _POOLS.append(pool)
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    gc.collect()  # garbage of earlier tests must not be freed (or not) inside the measurement
    tracemalloc.start()
    try:
        result = run(config)
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    return result, traced + pool.max_memory()


def test_batch_engine_memory_does_not_grow_with_the_rows(tmp_path, monkeypatch):
    """In batches of 2,000 rows, peak allocations are about the same for 80,000 and 240,000
    rows, while holding the rows would take 9 MB more. (Both sizes fill the fixed blocks of the
    reproducible sums, a constant couple of MB.)"""
    from custseg.engines import kernels

    # One kernel for every size (the compiled one when Numba is there), so that its import and
    # loading happen in the warm-up, with the imports and font caches, outside the measurements.
    monkeypatch.setattr(kernels, "FUSED_MIN_ROWS", 0)
    run(RunConfig(out=tmp_path / "warm", k_max=3, engine="batches", batch_rows=50))
    peaks, whole = {}, {}
    for n in (80_000, 240_000):
        table = customers(n, seed=11)
        path = tmp_path / f"customers_{n}.parquet"
        pq.write_table(table, path, row_group_size=2_000)
        whole[n] = table.nbytes + n * len(FEATURES) * 8  # the table plus its feature matrix
        del table
        result, peaks[n] = _traced_peak(RunConfig(input=path, out=tmp_path / f"out_{n}", k_max=3,
                                                  engine="batches", batch_rows=2_000,
                                                  sample_rows=500))
        assert result.n_clustered == n
    assert peaks[240_000] - peaks[80_000] < 0.1 * (whole[240_000] - whole[80_000]), (peaks, whole)


@pytest.mark.slow
def test_batch_engine_peak_rss_stays_flat_on_millions_of_rows(tmp_path):
    """A whole ``custseg run --engine batches`` process on 6,000,000 rows (Parquet, batches of
    50,000) peaks no higher than on 300,000 rows, give or take 100 MiB: holding the 5.7 million
    extra rows' five columns would add over 200 MiB. The peaks are the command's own
    (:func:`tests.peak_rss.peak_rss_mib`): measured straight from this worker, both sizes read
    as the worker's own peak (800 MiB on CI)."""
    rss: dict[int, float] = {}
    for n in (300_000, 6_000_000):
        path = tmp_path / f"customers_{n}.parquet"
        writer = None
        for start in range(1, n + 1, 1_000_000):
            part = customers(min(1_000_000, n - start + 1), seed=13, start=start)
            writer = writer or pq.ParquetWriter(path, part.schema)
            writer.write_table(part, row_group_size=100_000)
        writer.close()
        out = tmp_path / f"out_{n}"
        rss[n] = peak_rss_mib([str(Path(sys.executable).parent / "custseg"), "run", str(path),
                               "--out", str(out), "--k-max", "4", "--quiet",
                               "--engine", "batches", "--batch-rows", "50000"])
        summary = json.loads((out / "segments.json").read_text())
        assert summary["rows"]["clustered"] == n
    assert rss[6_000_000] < rss[300_000] + 100, rss


def test_generated_csv_matches_between_engines_at_a_prime_batch(tmp_path):
    """6,000 generated customers in CSV, batches of 97 rows: more than the K choice's sample."""
    path = tmp_path / "customers.csv"
    pacsv.write_csv(customers(6_000, seed=3), path,
                    pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
    memory = run(RunConfig(input=path, out=tmp_path / "memory", k_max=K_MAX, engine="memory"))
    batches = run(RunConfig(input=path, out=tmp_path / "batches", k_max=K_MAX, engine="batches",
                            batch_rows=97))
    assert memory.k == 5
    assert batches.engine["passes"] == memory.engine["passes"] >= 4
    assert_same_outputs(memory, batches)


# --------------------------------------------------------------------------- categorical features

@pytest.mark.parametrize("missing", ["reject", "impute"])
def test_categorical_outputs_are_identical_on_every_engine(tmp_path, missing):
    """--categorical Gender, with blank Gender cells rejected or imputed: the same bytes in
    memory and in batches (the level codes do not depend on the order categories appear in)."""
    table = pd.read_csv(ROOT / "src/custseg/datasets/Mall_Customers.csv", dtype=str)
    table.loc[[3, 50, 120], "Gender"] = ""
    path = tmp_path / "mall_blanks.csv"
    table.to_csv(path, index=False)
    runs = _run_everywhere(tmp_path, LARGE_ENGINES, input=path, categorical=("Gender",),
                           missing=missing, k_max=K_MAX)
    for result in runs.values():
        assert_same_outputs(runs["memory"], result)
        assert result.preparation.categories[0].levels == ("Female", "Male")
    memory = runs["memory"]
    summary = json.loads((memory.config.out / "segments.json").read_text())
    assert summary["categorical"][0]["fill"] == ("Female" if missing == "impute" else None)
    assert memory.rows.rejected == (0 if missing == "impute" else 3)


@pytest.mark.parametrize("name", list(LARGE_ENGINES))
def test_a_column_of_many_values_stops_the_scan_with_the_same_line(tmp_path, name):
    table = pd.read_csv(ROOT / "src/custseg/datasets/Mall_Customers.csv", dtype=str)
    table = pd.concat([table] * 6, ignore_index=True)
    table["CustomerID"] = [str(i) for i in range(len(table))]
    table["Gender"] = [f"g{i}" for i in range(len(table))]
    path = tmp_path / "many.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as error:
        run(RunConfig(input=path, out=tmp_path / "out", categorical=("Gender",),
                      **LARGE_ENGINES[name]))
    assert str(error.value).startswith(
        "Categorical feature 'Gender' has more than 1,000 distinct values in many.csv")
