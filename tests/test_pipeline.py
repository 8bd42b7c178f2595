"""The whole job through the Python API: the known Mall result and the files it writes."""

from __future__ import annotations

import hashlib

import joblib
import numpy as np
import pandas as pd
import pytest

from custseg.config import RunConfig
from custseg.pipeline import RunResult, run, segment
from tests.conftest import FEATURES, MALL_K5, MALL_SILHOUETTE


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_mall_profiles_match_known_result(mall_run: RunResult):
    table = mall_run.profiles.table
    pairs = {(round(r[f"mean {FEATURES[0]}"], 1), round(r[f"mean {FEATURES[1]}"], 1)): int(r["size"])
             for _, r in table.iterrows()}
    assert pairs == MALL_K5
    assert table["share"].sum() == pytest.approx(1.0)


def test_silhouette_is_known_value(mall_run: RunResult):
    assert mall_run.silhouette == pytest.approx(MALL_SILHOUETTE, abs=5e-5)


def test_every_row_accounted_for(mall_run: RunResult):
    assert mall_run.n_input == 200
    assert mall_run.n_clustered + mall_run.n_rejected == mall_run.n_input
    assert mall_run.n_rejected == 0


def test_clustered_csv_is_input_plus_cluster(mall_run: RunResult, mall_path):
    out = mall_run.outputs["clustered"]
    assert out.name == "mall_customers_clustered.csv"
    written = pd.read_csv(out)
    original = pd.read_csv(mall_path)
    assert list(written.columns) == [*original.columns, "Cluster"]
    pd.testing.assert_frame_equal(written[original.columns], original)
    np.testing.assert_array_equal(written["Cluster"], mall_run.labels)
    # The original text is repeated byte for byte, line by line, before ",<cluster>".
    in_lines = mall_path.read_text().splitlines()
    out_lines = out.read_text().splitlines()
    assert [line.rsplit(",", 1)[0] for line in out_lines] == in_lines


def test_pickle_reproduces_cluster_column(mall_run: RunResult):
    pipeline = joblib.load(mall_run.outputs["model_pickle"])
    df = pd.read_csv(mall_run.outputs["clustered"])
    np.testing.assert_array_equal(pipeline.predict(df[FEATURES]), df["Cluster"])


def test_figures_written(mall_run: RunResult):
    names = {p.name for key, p in mall_run.outputs.items() if key.startswith("figure:")}
    assert names == {"hist_annual_income_k.png", "hist_spending_score_1_100.png",
                     "scatter_features.png", "elbow.png", "segments.png"}
    for key, path in mall_run.outputs.items():
        if key.startswith("figure:"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_run_twice_gives_identical_files(tmp_path):
    first = run(RunConfig(out=tmp_path / "a", seed=3))
    second = run(RunConfig(out=tmp_path / "b", seed=3))
    for key, path in first.outputs.items():
        assert _digest(path) == _digest(second.outputs[key]), key


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_cluster_column_does_not_depend_on_seed(mall_run: RunResult, seed):
    result = segment(RunConfig(seed=seed))
    np.testing.assert_array_equal(result.labels, mall_run.labels)


def test_run_on_a_data_frame(tmp_path, mall_df):
    result = run(data=mall_df.sample(frac=1, random_state=0), out=tmp_path, k=3)
    assert result.k == 3
    assert result.outputs["clustered"].name == "customers_clustered.csv"
    assert sum(result.profiles.sizes) == 200


def test_elbow_covers_k_1_to_10(mall_run: RunResult):
    assert mall_run.elbow.ks == tuple(range(1, 11))
    # K = 1 on standardised data: inertia = rows x features.
    assert mall_run.elbow.inertias[0] == pytest.approx(200 * 2)
    assert list(mall_run.elbow.inertias) == sorted(mall_run.elbow.inertias, reverse=True)
