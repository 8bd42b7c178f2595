"""The streaming engine (``--engine streaming``): same segments and files as the in-memory engine,
exact counts, every row accounted for, deterministic, and memory bounded by the batch."""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from importlib import resources
from pathlib import Path

import joblib
import jsonschema
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from custseg.config import RunConfig
from custseg.data.batches import SeenIds, id_keys, open_source
from custseg.engines.streaming import assign_batch, fit_lloyd, single_blas
from custseg.exceptions import ConfigError, DataValidationError
from custseg.modelfile import load_model, nearest
from custseg.pipeline import run
from custseg.streaming import StreamingRunResult, run_streaming

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from generate import customers  # noqa: E402

FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]
#: A smaller K range than the default keeps the K choice quick; both engines get the same.
K_MAX = 6


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _summary(result) -> dict:
    return json.loads(result.outputs["summary"].read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- data that fits

@pytest.fixture(scope="module")
def generated_csv(tmp_path_factory) -> Path:
    """6,000 generated customers: more than the K choice's 5,000-row sample, so the in-memory
    engine warm-starts from the sample as the streaming engine always does."""
    path = tmp_path_factory.mktemp("gen") / "customers.csv"
    pacsv.write_csv(customers(6_000, seed=3), path,
                    pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
    return path


@pytest.fixture(scope="module")
def both(generated_csv, tmp_path_factory):
    """The in-memory and the streaming engine on the same CSV (streaming: batches of 400 rows)."""
    base = tmp_path_factory.mktemp("both")
    memory = run(RunConfig(input=generated_csv, out=base / "memory", engine="memory", k_max=K_MAX))
    streamed = run_streaming(RunConfig(input=generated_csv, out=base / "streaming",
                                       engine="streaming", k_max=K_MAX), batch_rows=400)
    return memory, streamed


def test_streaming_gives_the_in_memory_segments_on_data_that_fits(both):
    memory, streamed = both
    assert isinstance(streamed, StreamingRunResult)
    assert streamed.k == memory.k == 5
    assert streamed.engine["passes"] >= 2
    assert streamed.engine["converged"]
    a = _read(memory.outputs["clustered"])
    b = _read(streamed.outputs["clustered"])
    assert adjusted_rand_score(a["Cluster"], b["Cluster"]) >= 0.99
    # Same numbering (largest segment first) and the same names, row for row.
    assert (a["Cluster"] == b["Cluster"]).mean() >= 0.999
    assert streamed.names == memory.names
    assert streamed.profiles.sizes.tolist() == memory.profiles.sizes.tolist()
    np.testing.assert_allclose(streamed.segmenter.cluster_centers_,
                               memory.segmenter.cluster_centers_, rtol=0, atol=1e-9)
    # Every input cell as read, in input order.
    pd.testing.assert_frame_equal(a.drop(columns=["Cluster", "Segment"]),
                                  b.drop(columns=["Cluster", "Segment"]))


def test_streaming_writes_the_same_files_and_a_valid_summary(both):
    memory, streamed = both
    assert _tree(streamed.config.out) == _tree(memory.config.out)
    assert set(streamed.outputs) == set(memory.outputs) - {"history"}
    schema = json.loads(resources.files("custseg").joinpath("schemas/segments.schema.json")
                        .read_text(encoding="utf-8"))
    summary = _summary(streamed)
    jsonschema.validate(summary, schema, cls=jsonschema.Draft202012Validator)
    expected = _summary(memory)
    assert summary["run"].pop("engine")["name"] == "streaming"
    # Identical data: the same summary (floats rounded to 6 decimals), bar the engine block.
    assert summary["segments"] == expected["segments"]
    assert summary["rows"] == expected["rows"]
    assert summary["k_selection"] == expected["k_selection"]
    assert summary["rules"] == expected["rules"]
    profiles = pd.read_csv(streamed.outputs["profiles"])
    pd.testing.assert_frame_equal(profiles, pd.read_csv(memory.outputs["profiles"]))


def test_streaming_model_files_score_like_the_clustered_file(both, generated_csv):
    _, streamed = both
    clustered = pd.read_csv(streamed.outputs["clustered"])
    raw = pd.read_csv(generated_csv)
    model = load_model(streamed.outputs["model"])
    assert model.sizes.tolist() == streamed.profiles.sizes.tolist()
    assert model.training_data["rows"] == streamed.n_clustered == 6_000
    assert (model.predict(raw) == clustered["Cluster"]).all()
    pipeline = joblib.load(streamed.outputs["model_pickle"])
    assert (pipeline.predict(raw[FEATURES]) == clustered["Cluster"]).all()


def test_streaming_segment_lists_partition_the_clustered_file(both):
    _, streamed = both
    clustered = _read(streamed.outputs["clustered"])
    total = 0
    for info in streamed.segments:
        part = _read(streamed.outputs[f"segment:{info.slug}"])
        assert set(part["Cluster"]) == {str(info.cluster)}
        assert set(part["Segment"]) == {info.name}
        total += len(part)
        expected = clustered[clustered["Cluster"] == str(info.cluster)].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expected)
    assert total == len(clustered) == streamed.n_clustered


def test_streaming_is_byte_identical_for_the_same_seed(both, generated_csv, tmp_path):
    _, first = both
    again = run_streaming(RunConfig(input=generated_csv, out=tmp_path / "again", engine="streaming",
                                    k_max=K_MAX), batch_rows=400)
    names = _tree(first.config.out)
    assert names == _tree(again.config.out)
    for name in names:
        assert (first.config.out / name).read_bytes() == (again.config.out / name).read_bytes(), name


# --------------------------------------------------------------------------- larger than the sample

@pytest.fixture(scope="module")
def parquet_runs(tmp_path_factory):
    """12,000 customers in Parquet (row groups of 1,000), a sample of 3,000 rows, batches of 700."""
    base = tmp_path_factory.mktemp("parquet")
    path = base / "customers.parquet"
    pq.write_table(customers(12_000, seed=5), path, row_group_size=1_000)
    memory = run(RunConfig(input=path, out=base / "memory", engine="memory", k_max=K_MAX))
    streamed = run_streaming(RunConfig(input=path, out=base / "streaming", engine="streaming",
                                       k_max=K_MAX), batch_rows=700, sample_rows=3_000)
    return memory, streamed


def test_streaming_beyond_the_sample_agrees_with_the_in_memory_engine(parquet_runs):
    memory, streamed = parquet_runs
    assert len(streamed.validated.table) == streamed.features.n_rows == 3_000
    assert streamed.k == memory.k
    a = pd.read_csv(memory.outputs["clustered"])
    b = pd.read_csv(streamed.outputs["clustered"])
    assert adjusted_rand_score(a["Cluster"], b["Cluster"]) >= 0.99
    assert (a["Cluster"] == b["Cluster"]).mean() >= 0.99  # same numbering
    assert streamed.n_input == streamed.n_clustered == 12_000


def test_streaming_counts_are_exact_over_all_rows(parquet_runs):
    _, streamed = parquet_runs
    clustered = pd.read_csv(streamed.outputs["clustered"])
    groups = clustered.groupby("Cluster")
    profiles = streamed.profiles
    assert profiles.sizes.tolist() == groups.size().tolist()
    for column in [*FEATURES, "Age"]:
        np.testing.assert_allclose(profiles.numeric[(column, "mean")].to_numpy()[:-1],
                                   groups[column].mean().to_numpy(), rtol=1e-12)
        assert profiles.numeric.loc["all", (column, "mean")] == pytest.approx(clustered[column].mean())
    gender = pd.crosstab(clustered["Cluster"], clustered["Gender"], normalize="index")
    np.testing.assert_allclose(profiles.categories["Gender"].drop(index="all").to_numpy(float),
                               gender.to_numpy(), rtol=1e-12)
    Z = streamed.segmenter.scale(clustered[FEATURES])
    centers = streamed.segmenter.cluster_centers_
    inertia = float(((Z - centers[clustered["Cluster"].to_numpy()]) ** 2).sum())
    assert streamed.segmenter.inertia_ == pytest.approx(inertia, rel=1e-9)
    # The CRM rules' fidelity is counted on every row, not only the sample.
    assert 0.9 <= streamed.rules.fidelity <= 1.0
    summary = _summary(streamed)
    assert summary["rows"] == {"input": 12_000, "clustered": 12_000, "rejected": 0,
                               "reject_reasons": {}}
    assert [s["size"] for s in summary["segments"]] == profiles.sizes.tolist()


def test_streaming_lloyd_is_exact_not_mini_batch(parquet_runs):
    """From the same start, the passes over batches reach scikit-learn's in-memory Lloyd result."""
    _, streamed = parquet_runs
    clustered = pd.read_csv(streamed.outputs["clustered"])
    Z = streamed.segmenter.scale(clustered[FEATURES])
    start = Z[np.random.default_rng(0).choice(len(Z), streamed.k, replace=False)]
    fit = fit_lloyd(lambda _: (Z[i:i + 333] for i in range(0, len(Z), 333)), start)
    reference = KMeans(streamed.k, init=start, n_init=1).fit(Z)
    np.testing.assert_allclose(fit.centers, reference.cluster_centers_, atol=1e-9)
    assert fit.n_iter == reference.n_iter_
    assert fit.sizes.tolist() == np.bincount(reference.labels_).tolist()


# --------------------------------------------------------------------------- rejects

def _junk_csv(path: Path) -> Path:
    """Generated customers with every kind of bad row spread over them (batches of 50 cut
    through them), a formula cell and a cell that needs quotes."""
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


def test_streaming_rejects_the_same_rows_with_the_same_reasons(tmp_path):
    path = _junk_csv(tmp_path / "junk.csv")
    memory = run(RunConfig(input=path, out=tmp_path / "memory", engine="memory", k_max=K_MAX))
    streamed = run_streaming(RunConfig(input=path, out=tmp_path / "streaming", engine="streaming",
                                       k_max=K_MAX), batch_rows=50)
    assert memory.n_rejected == 13
    assert streamed.outputs["rejects"].read_bytes() == memory.outputs["rejects"].read_bytes()
    assert (streamed.n_input, streamed.n_clustered, streamed.n_rejected) == (
        memory.n_input, memory.n_clustered, memory.n_rejected)
    assert streamed.n_input == streamed.n_clustered + streamed.n_rejected == 2_016
    assert _summary(streamed)["rows"] == _summary(memory)["rows"]
    pd.testing.assert_frame_equal(streamed.rejects, memory.rejects)
    # Cells as read, formulas neutralised and quotes decided over the whole file, as in memory.
    text = streamed.outputs["clustered"].read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    assert '"Female, probably"' in text
    a = _read(memory.outputs["clustered"])
    b = _read(streamed.outputs["clustered"])
    assert (a["Cluster"] == b["Cluster"]).mean() >= 0.999
    pd.testing.assert_frame_equal(a.drop(columns=["Cluster", "Segment"]),
                                  b.drop(columns=["Cluster", "Segment"]))


def test_streaming_errors_match_the_in_memory_engine(tmp_path):
    path = _junk_csv(tmp_path / "junk.csv")
    messages = []
    for engine in ("memory", "streaming"):
        with pytest.raises(DataValidationError) as info:
            run(RunConfig(input=path, out=tmp_path / engine, engine=engine, on_invalid="fail"))
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "row 12" in messages[0]
    assert "13 invalid row(s)" in messages[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("CustomerID,Annual Income (k$),Spending Score (1-100)\n1,x,5\n2,-1,5\n")
    with pytest.raises(DataValidationError, match=r"No valid rows left in bad\.csv: all 2 rows"):
        run_streaming(RunConfig(input=bad, out=tmp_path / "bad"))
    empty = tmp_path / "empty.csv"
    empty.write_text("CustomerID,Annual Income (k$),Spending Score (1-100)\n")
    with pytest.raises(DataValidationError, match="header but no customer rows"):
        run_streaming(RunConfig(input=empty, out=tmp_path / "empty"))
    assert not (tmp_path / "empty").exists()  # nothing half-written


def test_previous_is_refused_by_the_streaming_engine(tmp_path):
    with pytest.raises(ConfigError, match="--previous is not supported by the streaming engine"):
        run_streaming(RunConfig(out=tmp_path / "x", previous=tmp_path))


def test_run_dispatches_to_the_streaming_engine_and_the_console_prints_it(tmp_path):
    from rich.console import Console

    from custseg.console import print_run_summary

    result = run(RunConfig(out=tmp_path / "out", engine="streaming", output_format="parquet"))
    assert isinstance(result, StreamingRunResult)
    assert result.k == 5
    assert result.profiles.sizes.tolist() == [81, 39, 35, 23, 22]
    memory = run(RunConfig(out=tmp_path / "memory", engine="memory", output_format="parquet"))
    for name in ("clustered", *(f"segment:{s.slug}" for s in memory.segments)):
        assert pq.read_table(result.outputs[name]).equals(pq.read_table(memory.outputs[name])), name
    console = Console(record=True, width=140)
    print_run_summary(console, result)
    text = console.export_text()
    assert "Rows: 200 read = 200 segmented + 0 rejected" in text
    assert "mall_customers_clustered.parquet" in text


# --------------------------------------------------------------------------- memory

#: Arrow pools of the memory test stay referenced: Arrow buffers keep a pointer to their pool.
_POOLS: list = []


def _traced_peak(config: RunConfig) -> tuple[StreamingRunResult, int]:
    """Run; the peak of Python/NumPy allocations (tracemalloc) plus that of Arrow's pool."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    _POOLS.append(pool)
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    gc.collect()  # garbage of earlier tests must not be freed (or not) inside the measurement
    tracemalloc.start()
    try:
        result = run_streaming(config, batch_rows=2_000, sample_rows=500)
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    return result, traced + pool.max_memory()


def test_streaming_memory_does_not_grow_with_the_rows(tmp_path):
    """In batches of 2,000 rows, peak allocations are about the same for 10,000 and 200,000
    rows, while holding the rows would take 11 MB more."""
    # Imports and font caches once, outside the measurements.
    run_streaming(RunConfig(out=tmp_path / "warm", k_max=3), batch_rows=50, sample_rows=500)
    peaks, whole = {}, {}
    for n in (10_000, 200_000):
        table = customers(n, seed=11)
        path = tmp_path / f"customers_{n}.parquet"
        pq.write_table(table, path, row_group_size=2_000)
        whole[n] = table.nbytes + n * len(FEATURES) * 8  # the table plus its feature matrix
        del table
        result, peaks[n] = _traced_peak(RunConfig(input=path, out=tmp_path / f"out_{n}", k_max=3))
        assert result.n_clustered == n
    assert peaks[200_000] - peaks[10_000] < 0.1 * (whole[200_000] - whole[10_000]), (peaks, whole)


@pytest.mark.slow
def test_streaming_peak_rss_stays_flat_on_millions_of_rows(tmp_path):
    """A whole ``custseg run --engine streaming`` process on 3,000,000 rows (Parquet, batches of
    50,000) peaks no higher than on 300,000 rows, give or take 40 MiB."""
    import os
    import subprocess
    import time

    rss = {}
    for n in (300_000, 3_000_000):
        path = tmp_path / f"customers_{n}.parquet"
        writer = None
        for start in range(1, n + 1, 1_000_000):
            part = customers(min(1_000_000, n - start + 1), seed=13, start=start)
            writer = writer or pq.ParquetWriter(path, part.schema)
            writer.write_table(part, row_group_size=100_000)
        writer.close()
        code = ("import sys; from custseg.config import RunConfig; "
                "from custseg.streaming import run_streaming; "
                "r = run_streaming(RunConfig(input=sys.argv[1], out=sys.argv[2], k_max=4), "
                "batch_rows=50_000); print(r.n_clustered)")
        proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(tmp_path / f"out_{n}")],
                                stdout=subprocess.PIPE)
        started = time.perf_counter()
        _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert int(proc.stdout.read()) == n
        rss[n] = usage.ru_maxrss / 1024  # MiB
        print(f"{n:,} rows: {time.perf_counter() - started:.1f} s, peak RSS {rss[n]:.0f} MiB")
    assert rss[3_000_000] < rss[300_000] + 40, rss


# --------------------------------------------------------------------------- building blocks

def test_seen_ids_keep_sequential_ids_as_spans():
    seen = SeenIds()
    rows = np.arange(2, 1_000_002)
    for start in range(0, 1_000_000, 100_000):
        keys = np.arange(start + 1, start + 100_001, dtype=np.uint64)
        assert (seen.first_rows(keys, rows[start:start + 100_000]) == -1).all()
    assert len(seen) == 1_000_000
    assert seen.nbytes < 1_000
    # A later row repeating id 500,000 (first seen in row 500,001) is a duplicate.
    assert seen.first_rows(np.array([500_000, 2_000_000], dtype=np.uint64),
                           np.array([1_000_002, 1_000_003])).tolist() == [500_001, -1]


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_seen_ids_match_a_simple_reference_with_spans_and_merges(chunk):
    rng = np.random.default_rng(chunk)
    # Sequential stretches (spans) mixed with repeats and random ids (runs).
    keys = np.concatenate([np.arange(1, 500), rng.integers(0, 800, 700), np.arange(600, 1400),
                           rng.integers(0, 3000, 1000)]).astype(np.uint64)
    rows = np.arange(2, 2 + len(keys), dtype=np.int64)
    seen = SeenIds(merge_limit=50)
    got = np.concatenate([seen.first_rows(keys[i:i + chunk], rows[i:i + chunk])
                          for i in range(0, len(keys), chunk)])
    first: dict[int, int] = {}
    want = []
    for key, row in zip(keys.tolist(), rows.tolist(), strict=True):
        want.append(first.get(key, -1))
        first.setdefault(key, row)
    assert got.tolist() == want
    assert len(seen) == len(first)


def test_id_keys_of_typed_ids_equal_those_of_their_text():
    ids = pa.array([0, 17, -5, 10**18, 999_999_999_999_999_999], pa.int64())
    text = pa.array(["0", "17", "-5", str(10**18), "999999999999999999"])
    assert id_keys(ids).tolist() == id_keys(text).tolist()


def test_assign_batch_labels_as_predict_does():
    rng = np.random.default_rng(1)
    Z, centers = rng.normal(size=(5_000, 3)), rng.normal(size=(7, 3))
    with single_blas():
        labels, squared = assign_batch(Z, centers)
    assert (labels == nearest(Z, centers)).all()
    np.testing.assert_allclose(squared, ((Z - centers[labels]) ** 2).sum(axis=1), atol=1e-12)


def test_csv_batches_number_rows_as_the_spreadsheet_does(tmp_path):
    path = _junk_csv(tmp_path / "junk.csv")
    source = open_source(path, None, 37)
    rows, parse_rejects = [], []
    for chunk in source.chunks():
        assert chunk.table.column_names == source.columns  # every column, as read
        rows.append(chunk.rows)
        parse_rejects += chunk.parse_rejects["row"].tolist()
    rows = np.concatenate(rows)
    assert len(rows) + len(parse_rejects) == 2_016
    assert sorted([*rows.tolist(), *parse_rejects]) == list(range(2, 2_018))
