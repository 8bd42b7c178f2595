"""The Spark engine (real Spark, local[2]): the same answer as the local engines.

One Spark session serves the module (all its tests run on one xdist worker). Locally the
tests skip when pyspark or Java is missing; CI sets ``CUSTSEG_REQUIRE_SPARK=1``, where that
fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score

from custseg.config import RunConfig
from custseg.exceptions import DataValidationError, InputFileError, OutputError
from custseg.pipeline import RunResult, run
from custseg.scoring import predict_file
from tests.conftest import FEATURES, MALL_K5, MALL_SILHOUETTE, ROOT
from tests.test_engines import _junk_csv, _later_month

sys.path.insert(0, str(ROOT / "bench"))
from generate import customers

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]


def _require_spark() -> None:
    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "pyspark is not installed (pip install 'custseg[spark]')"
    if missing is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing = "no Java runtime"
    if missing is not None:
        if os.environ.get("CUSTSEG_REQUIRE_SPARK") == "1":
            pytest.fail(f"CUSTSEG_REQUIRE_SPARK=1 but {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """One local Spark session for the module; runs with no --spark-master join it."""
    _require_spark()
    from pyspark.sql import SparkSession

    from custseg.engines.spark.session import spark_session

    # static settings (the warehouse) only apply to a new session: never join a leftover one
    if (leftover := SparkSession.getActiveSession()) is not None:
        leftover.stop()
    warehouse = tmp_path_factory.mktemp("warehouse")
    session = spark_session("local[2]", [("spark.sql.warehouse.dir", str(warehouse)),
                                         ("spark.sql.shuffle.partitions", "4")])
    yield session
    session.stop()


def _valid(summary: dict) -> None:
    """``segments.json`` of a Spark run keeps the published schema."""
    text = resources.files("custseg").joinpath("schemas/segments.schema.json").read_text("utf-8")
    jsonschema.validate(summary, json.loads(text), cls=jsonschema.Draft202012Validator)


def _read_parts(folder: Path, **options) -> pd.DataFrame:
    """A dataset of CSV part files, in part order."""
    return pd.concat([pd.read_csv(p, **options) for p in sorted(folder.glob("part-*"))],
                     ignore_index=True)


def _clustered(result: RunResult) -> pd.DataFrame:
    return result.clustered.astype({"Cluster": "int64"})


@pytest.fixture(scope="module")
def mall_pair(spark, tmp_path_factory) -> tuple[RunResult, RunResult]:
    base = tmp_path_factory.mktemp("mall")
    return (run(RunConfig(out=base / "memory", engine="memory")),
            run(RunConfig(out=base / "spark", engine="spark")))


def test_mall_on_spark_is_the_known_result(mall_pair):
    memory, on_spark = mall_pair
    assert on_spark.engine["name"] == "spark"
    means = on_spark.profiles.table
    pairs = {(round(r[f"mean {FEATURES[0]}"], 1), round(r[f"mean {FEATURES[1]}"], 1)): int(r["size"])
             for _, r in means.iterrows()}
    assert pairs == MALL_K5
    assert on_spark.silhouette == pytest.approx(MALL_SILHOUETTE, abs=5e-5)
    assert on_spark.names == memory.names
    assert on_spark.k_selection.chosen_k == memory.k_selection.chosen_k == 5
    assert on_spark.rows == memory.rows


def test_mall_on_spark_gives_the_same_customers_and_files(mall_pair):
    memory, on_spark = mall_pair
    a, b = _clustered(memory), _clustered(on_spark)
    assert (on_spark.config.out / "mall_customers_clustered.parquet").is_dir()  # a Spark dataset
    assert b["Cluster"].tolist() == a["Cluster"].tolist()
    assert b["Segment"].tolist() == a["Segment"].tolist()
    assert b["CustomerID"].astype(str).tolist() == a["CustomerID"].astype(str).tolist()
    np.testing.assert_allclose(on_spark.profiles.numeric.to_numpy(float),
                               memory.profiles.numeric.to_numpy(float), rtol=1e-9)
    np.testing.assert_allclose(on_spark.segmenter.cluster_centers_, memory.segmenter.cluster_centers_,
                               rtol=1e-9)
    assert on_spark.rules.fidelity == memory.rules.fidelity
    assert (on_spark.config.out / "segment_profiles.csv").read_bytes() == \
        (memory.config.out / "segment_profiles.csv").read_bytes()
    # Spark's aggregates merge partial sums in task order: the scaler agrees to ~1e-15, which
    # can move a high K's stability score in the 4th decimal, or a pixel of the K-choice
    # figures (elbow.png, k_criteria.png); every other figure is the same bytes.
    scores = ["silhouette", "calinski_harabasz", "davies_bouldin", "gap", "stability"]
    np.testing.assert_allclose(on_spark.k_selection.table[scores].to_numpy(float),
                               memory.k_selection.table[scores].to_numpy(float), atol=2e-3)
    for figure in sorted((memory.config.out / "figures").glob("*.png")):
        if figure.name not in ("elbow.png", "k_criteria.png"):
            assert (on_spark.config.out / "figures" / figure.name).read_bytes() == \
                figure.read_bytes(), figure.name
    images = re.compile(rb'src="data:image/png;base64,[^"]*"')
    assert images.sub(b"", (on_spark.config.out / "report.html").read_bytes()) == \
        images.sub(b"", (memory.config.out / "report.html").read_bytes())
    summary = json.loads((on_spark.config.out / "segments.json").read_text())
    _valid(summary)
    assert summary["run"]["engine"]["name"] == "spark"
    assert summary["files"]["clustered"] == "mall_customers_clustered.parquet"
    for info in on_spark.segments:  # one dataset per segment
        part = pd.read_parquet(on_spark.config.out / "segments" / f"{info.slug}.parquet")
        assert set(part["Cluster"]) == {info.cluster}


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory) -> tuple[RunResult, RunResult]:
    """10^5 generated customers in Parquet, on the memory engine and on Spark."""
    base = tmp_path_factory.mktemp("generated")
    path = base / "customers.parquet"
    pq.write_table(customers(100_000, seed=5), path, row_group_size=20_000)
    options = {"input": path, "k_max": 6}
    return (run(RunConfig(out=base / "memory", engine="memory", **options)),
            run(RunConfig(out=base / "spark", engine="spark", **options)))


def test_spark_agrees_with_the_local_engines_on_1e5_customers(generated):
    memory, on_spark = generated
    assert on_spark.k == memory.k
    assert on_spark.names == memory.names
    assert on_spark.sizes.tolist() == memory.sizes.tolist()
    a, b = _clustered(memory), _clustered(on_spark)
    assert adjusted_rand_score(a["Cluster"], b["Cluster"]) >= 0.999
    assert (a["Cluster"] == b["Cluster"]).mean() >= 0.999
    np.testing.assert_allclose(on_spark.profiles.table.to_numpy(float),
                               memory.profiles.table.to_numpy(float), rtol=1e-9)
    np.testing.assert_allclose(on_spark.segmenter.scaler_.mean_, memory.segmenter.scaler_.mean_,
                               rtol=1e-12)
    assert np.array_equal(on_spark.sample.rows, memory.sample.rows)  # the same sample rows


def test_quantiles_over_every_customer_when_the_sample_is_smaller(generated, tmp_path):
    """With a sample smaller than the input, Spark's medians and quartiles are percentile_approx
    over every customer (each within 1/10,000 of its exact rank), and the run says so."""
    on_spark = run(RunConfig(input=generated[1].config.input, out=tmp_path / "spark", k=4,
                             engine="spark", sample_rows=3_000))
    assert on_spark.engine["quantiles"] == "percentile_approx"
    assert generated[1].engine["quantiles"] == "sample"  # the sample held every customer
    assert on_spark.profiles.quantile_rows == on_spark.rows.clustered
    summary = json.loads((on_spark.config.out / "segments.json").read_text())
    _valid(summary)
    assert "median" not in summary["run"]["engine"]["estimated_on_sample"]
    assert "percentile_approx" in (on_spark.config.out / "report.html").read_text()
    customers_ = _clustered(on_spark)
    for name in FEATURES:
        for segment, rows in [*customers_.groupby("Cluster"), ("all", customers_)]:
            values = rows[name].to_numpy(float)
            at = segment if segment == "all" else int(np.flatnonzero(on_spark.segment_ids == segment)[0])
            got = on_spark.profiles.numeric.loc[at, name]
            for stat, p in (("median", 0.5), ("q1", 0.25), ("q3", 0.75)):
                low, high = np.quantile(values, [p - 2e-4, p + 2e-4], method="lower")
                assert low <= got[stat] <= high, (name, segment, stat)


def test_rejects_on_spark_are_the_local_rejects(spark, tmp_path):
    path = _junk_csv(tmp_path / "junk.csv")
    memory = run(RunConfig(input=path, out=tmp_path / "memory", k=5))
    on_spark = run(RunConfig(input=path, out=tmp_path / "spark", k=5, engine="spark"))
    assert on_spark.rows == memory.rows
    assert on_spark.n_rejected == 13
    pd.testing.assert_frame_equal(on_spark.rejects, memory.rejects)
    a = pd.read_csv(memory.outputs["rejects"], dtype=str, keep_default_na=False)
    assert on_spark.outputs["rejects"].is_dir()  # written by Spark, as a dataset
    b = _read_parts(on_spark.outputs["rejects"], dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(a, b)
    assert _clustered(on_spark)["Cluster"].tolist() == _clustered(memory)["Cluster"].tolist()


def test_previous_run_on_spark(spark, tmp_path, mall_path):
    later = _later_month(tmp_path / "feb.csv", mall_path)
    changes = {}
    for engine in ("memory", "spark"):
        jan = run(RunConfig(out=tmp_path / engine / "jan", engine=engine))
        feb = run(RunConfig(input=later, previous=jan.config.out, out=tmp_path / engine / "feb",
                            engine=engine))
        data = feb.changes.to_dict()
        data.pop("previous_run")
        changes[engine] = data
    assert changes["spark"] == changes["memory"]
    assert changes["spark"]["customers"]["both"] == 190
    migration = _read_parts(tmp_path / "spark" / "feb" / "migration.csv")
    local = pd.read_csv(tmp_path / "memory" / "feb" / "migration.csv")
    pd.testing.assert_frame_equal(migration, local)


def test_predict_on_spark_scores_as_locally(spark, mall_pair, tmp_path, mall_path):
    model = mall_pair[0].model()
    local = predict_file(model, mall_path, tmp_path / "local.csv")
    scored = predict_file(model, mall_path, tmp_path / "spark.csv", engine="spark")
    assert scored.counts.equals(local.counts)
    assert (scored.n_input, scored.n_scored, scored.n_rejected) == (200, 200, 0)
    a = pd.read_csv(tmp_path / "local.csv")
    b = _read_parts(tmp_path / "spark.csv")
    assert b["Cluster"].tolist() == a["Cluster"].tolist()
    np.testing.assert_allclose(b["distance"], a["distance"], rtol=1e-9)


def test_output_table_in_the_spark_catalog(spark, tmp_path):
    config = RunConfig(out=tmp_path / "march", engine="spark", output_table="segments_by_month",
                       k=5)
    first = run(config)
    table = spark.table("segments_by_month").toPandas()
    assert list(table.columns) == ["customer_id", "Cluster", "Segment", "run_id", "run_date"]
    assert len(table) == 200
    assert set(table["run_id"]) == {"march"}
    merged = table.merge(_clustered(first).astype({"CustomerID": str}), left_on="customer_id",
                         right_on="CustomerID")
    assert (merged["Cluster_x"] == merged["Cluster_y"]).all()
    with pytest.raises(OutputError, match="already exists"):
        run(config.with_(out=tmp_path / "again"))
    run(config.with_(out=tmp_path / "april", if_exists="append"))
    assert spark.table("segments_by_month").count() == 400


def test_spark_errors_are_the_local_errors(spark, tmp_path, mall_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("CustomerID,Annual Income (k$),Spending Score (1-100)\n1,x,5\n2,-1,5\n")
    messages = []
    for engine in ("memory", "spark"):
        with pytest.raises(DataValidationError) as info:
            run(RunConfig(input=bad, out=tmp_path / engine, engine=engine))
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    with pytest.raises(DataValidationError, match="Column 'Nope' not found"):
        run(RunConfig(out=tmp_path / "x", engine="spark", features=("Nope",)))
    with pytest.raises(InputFileError, match="does not exist"):
        run(RunConfig(input=tmp_path / "absent.parquet", out=tmp_path / "y", engine="spark"))
    with pytest.raises(InputFileError, match="not found in the Spark catalog"):
        run(RunConfig(table="no_such_db.customers", out=tmp_path / "z", engine="spark"))
    assert not (tmp_path / "x").exists()


def test_a_run_leaves_nothing_cached_in_the_session(spark, tmp_path):
    """The checked rows (a local checkpoint), the scaled and labelled frames and the rejects are
    all let go when the run ends: a long session does not fill up with finished runs."""
    def held() -> int:
        return len(spark.sparkContext._jsc.getPersistentRDDs())

    before = held()
    result = run(RunConfig(input=_junk_csv(tmp_path / "junk.csv"), out=tmp_path / "o", k=3,
                           engine="spark"))
    assert result.n_rejected == 13
    assert held() == before


def test_without_java_the_command_names_what_to_install(tmp_path):
    _require_spark()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # custseg, but no java
    result = subprocess.run([str(Path(sys.executable).parent / "custseg"), "run", "--engine", "spark",
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env)
    assert result.returncode == 7
    assert "Java" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("traceback", [False, True])
def test_a_spark_that_cannot_start_is_one_line(tmp_path, traceback):
    """The driver's port taken (and no retry allowed): exit 8, the Java cause in one line; the
    Java stack trace only with --traceback (which re-raises, as for every error)."""
    _require_spark()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(Path(sys.executable).parent / "custseg"), "run", "--engine", "spark", "-q",
             "--spark-conf", f"spark.driver.port={port}", "--spark-conf", "spark.port.maxRetries=0",
             "--out", str(tmp_path / "o"), *(["--traceback"] if traceback else [])],
            capture_output=True, text=True)
    assert result.returncode == (1 if traceback else 8)
    assert "Spark could not start (java.net.BindException" in result.stderr
    assert "Address already in use" in result.stderr
    if traceback:
        assert "Traceback" in result.stderr
        assert "py4j.protocol.Py4JJavaError" in result.stderr
    else:
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
