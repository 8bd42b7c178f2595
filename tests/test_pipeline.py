"""The whole job through the Python API: the known Mall result and the files it writes."""

from __future__ import annotations

import hashlib

import joblib
import numpy as np
import pandas as pd
import pytest

from custseg.config import RunConfig, TransactionOptions
from custseg.exceptions import ConfigError
from custseg.pipeline import RunResult, evaluate_k, run, segment
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


def test_clustered_csv_is_input_plus_cluster_and_segment(mall_run: RunResult, mall_path):
    out = mall_run.outputs["clustered"]
    assert out.name == "mall_customers_clustered.csv"
    written = pd.read_csv(out)
    original = pd.read_csv(mall_path)
    assert list(written.columns) == [*original.columns, "Cluster", "Segment"]
    pd.testing.assert_frame_equal(written[original.columns], original)
    # The model the run saved gives every customer the segment the run wrote.
    np.testing.assert_array_equal(written["Cluster"], mall_run.model().predict(original))
    assert written["Cluster"].value_counts().sort_index().tolist() == [81, 39, 35, 23, 22]
    names = dict(zip(written["Cluster"], written["Segment"], strict=True))
    assert names == {s.cluster: s.name for s in mall_run.segments}
    # The original text is repeated byte for byte, line by line, before ",<cluster>,<segment>".
    in_lines = mall_path.read_text().splitlines()
    out_lines = out.read_text().splitlines()
    assert [line.rsplit(",", 2)[0] for line in out_lines] == in_lines


def test_pickle_reproduces_cluster_column(mall_run: RunResult):
    pipeline = joblib.load(mall_run.outputs["model_pickle"])
    df = pd.read_csv(mall_run.outputs["clustered"])
    np.testing.assert_array_equal(pipeline.predict(df[FEATURES]), df["Cluster"])


def test_figures_written(mall_run: RunResult):
    names = {p.name for key, p in mall_run.outputs.items() if key.startswith("figure:")}
    assert names == {"hist_annual_income_k.png", "hist_spending_score_1_100.png",
                     "scatter_features.png", "elbow.png", "k_criteria.png", "segments.png",
                     "silhouette.png"}
    for key, path in mall_run.outputs.items():
        if key.startswith("figure:"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_run_twice_gives_identical_files(tmp_path, engine):
    first = run(RunConfig(out=tmp_path / "a", seed=3, **engine))
    second = run(RunConfig(out=tmp_path / "b", seed=3, **engine))
    for key, path in first.outputs.items():
        assert _digest(path) == _digest(second.outputs[key]), key


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_cluster_column_does_not_depend_on_seed(mall_run: RunResult, mall_df, seed, tmp_path):
    result = run(RunConfig(seed=seed, out=tmp_path / "out", engine=mall_run.config.engine,
                           batch_rows=mall_run.config.batch_rows))
    np.testing.assert_array_equal(result.clustered["Cluster"], mall_run.clustered["Cluster"])


def test_run_on_a_data_frame(tmp_path, mall_df, engine):
    result = run(data=mall_df.sample(frac=1, random_state=0), out=tmp_path, k=3, **engine)
    assert result.k == 3
    assert result.outputs["clustered"].name == "customers_clustered.csv"
    assert sum(result.profiles.sizes) == 200


def test_k_chosen_automatically_by_default(mall_run: RunResult):
    assert mall_run.config.k == "auto"
    assert mall_run.k == 5
    assert mall_run.k_selection.confidence == "clear"
    inertia = mall_run.k_selection.table["inertia"]
    assert list(inertia.index) == list(range(1, 11))
    assert inertia[1] == pytest.approx(200 * 2)  # K = 1, standardised: rows x features


def test_forced_k_is_used_and_evidence_still_computed(tmp_path):
    result = segment(RunConfig(k=3))
    assert result.k == 3
    assert result.k_selection.forced
    assert result.k_selection.recommended_k == 5
    assert result.k_selection.explanation.startswith("K = 3 forced with --k")


def test_summary_file_records_k_selection_and_segments(mall_run: RunResult):
    import json

    data = json.loads(mall_run.outputs["summary"].read_text())
    assert data["k"] == 5
    assert data["k_selection"]["chosen_k"] == 5
    assert data["k_selection"]["confidence"] == "clear"
    assert len(data["k_selection"]["per_k"]) == 10
    assert [s["size"] for s in data["segments"]] == [81, 39, 35, 23, 22]
    assert data["rows"] == {"input": 200, "clustered": 200, "rejected": 0, "reject_reasons": {}}
    assert data["metrics"]["silhouette"] == pytest.approx(MALL_SILHOUETTE, abs=5e-5)
    assert len(data["run"]["input"]["sha256"]) == 64


def test_uniform_noise_run_gives_one_segment_unless_forced(tmp_path, engine):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"CustomerID": range(1, 401),
                       "Annual Income (k$)": rng.uniform(15, 140, 400).round(1),
                       "Spending Score (1-100)": rng.integers(1, 101, 400)})
    auto = run(data=df, out=tmp_path / "auto", **engine)
    assert auto.k_selection.confidence == "no structure"
    assert auto.k == 1
    assert auto.profiles.sizes.tolist() == [400]
    forced = run(data=df, out=tmp_path / "forced", k=4, **engine)
    assert forced.k == 4
    assert forced.k_selection.confidence == "no structure"


def test_segment_writes_nothing_and_says_how_to_score(tmp_path, mall_df, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = segment(RunConfig(k=5), data=mall_df)
    assert result.outputs == {}
    assert list(tmp_path.iterdir()) == []  # no output folder, no work folder left behind
    with pytest.raises(ConfigError, match=r"model\(\)\.score"):
        _ = result.clustered
    scored = result.model().score(mall_df)
    assert scored["Cluster"].value_counts().tolist() == [81, 39, 35, 23, 22]


def test_result_fields_say_what_is_exact_and_what_is_sampled(mall_run: RunResult):
    assert mall_run.rows.input == mall_run.rows.clustered + mall_run.rows.rejected == 200
    assert mall_run.sample.size == 200 == mall_run.profiles.quantile_rows  # small: every row
    assert mall_run.sample_labels.shape == (200,)
    assert mall_run.engine["name"] == mall_run.config.engine
    assert mall_run.engine["lloyd_iterations"] >= 1
    assert mall_run.segmenter.n_iter_ >= 1
    assert len(mall_run.thresholds) == mall_run.k
    assert mall_run.features == tuple(FEATURES)



@pytest.mark.parametrize("as_of", [None, "2024-07-15"])
def test_evaluate_k_on_a_transaction_log_is_segment_s_k_choice(as_of):
    """evaluate_k with ``transactions`` scores K on the log's customers, as segment does."""
    from tests.test_cli_transactions import make_log

    config = RunConfig(transactions=TransactionOptions(as_of=as_of, date_format="%d/%m/%Y"))
    log = make_log(n_customers=90)
    evidence = evaluate_k(config, data=log, write=False)
    result = segment(config, data=log)
    assert evidence.features == ("recency_days", "frequency", "monetary_total")
    assert evidence.k_selection.to_dict() == result.k_selection.to_dict()
    assert evidence.rows.clustered == 90
    assert evidence.transactions["counts"] == result.transactions["counts"]
    assert evidence.outputs == {}


# --------------------------------------------------------------------------- categorical features

@pytest.fixture(scope="module")
def plain_mall() -> RunResult:
    return segment(RunConfig())


@pytest.mark.parametrize(("k", "chosen", "least_ari"), [
    # Measured: K chosen 6 (weak; the plain run's five segments, the average one split by
    # Gender), ARI 0.746 with the plain K = 5 run; with K = 5 forced, the same five segments.
    ("auto", 6, 0.7),
    (5, 5, 0.99),
])
def test_gender_takes_part_without_outvoting_income_and_spending(plain_mall, k, chosen, least_ari):
    from sklearn.metrics import adjusted_rand_score

    result = segment(RunConfig(k=k, categorical=("Gender",)))
    assert plain_mall.k == 5
    assert result.k == chosen
    assert adjusted_rand_score(plain_mall.sample_labels, result.sample_labels) >= least_ari
    # Gender is no segment's own axis at K = 5: every segment still holds both.
    mix = result.profiles.categories["Gender"].drop(index="all")
    if k == 5:
        assert (mix > 0.3).all().all()


def test_names_and_profiles_give_category_shares():
    result = segment(RunConfig(k=6, categorical=("Gender",)))
    names = [s.name for s in result.segments]
    assert any(name.endswith("% Female") for name in names)
    assert any(name.endswith("% Male") for name in names)
    shares = result.profiles.categories["Gender"]
    assert list(shares.columns) == ["Female", "Male"]
    assert np.allclose(shares.sum(axis=1), 1.0)


def test_categorical_with_previous_is_refused():
    with pytest.raises(ConfigError, match="--categorical with --previous"):
        RunConfig(categorical=("Gender",), previous="somewhere")
