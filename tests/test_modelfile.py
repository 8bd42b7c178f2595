"""custseg's JSON model file: content, exact round trip, refusal of anything tampered with."""

from __future__ import annotations

import json
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest

import custseg
import custseg.modelfile.format as model_format
import custseg.modelfile.parse as model_parse
from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN, RunConfig
from custseg.exceptions import ConfigError, DataValidationError, ModelFileError
from custseg.modelfile import (
    FORMAT_VERSION,
    MODEL_FILE,
    TrainingData,
    build_model,
    load_model,
    save_model,
)
from custseg.modelfile.format import ATYPICAL_COLUMN, DISTANCE_COLUMN, canonical_json
from custseg.modelfile.parse import parse_document
from custseg.pipeline import RunResult, run, segment
from tests.predict_support import (
    MALL_FEATURES,
    WHOLESALE_FEATURES,
    fitted,
    input_path,
    malicious_pickle,
    rewrite,
    run_clusters,
    wholesale_path,
)

SCORE_COLUMNS = [CLUSTER_COLUMN, SEGMENT_COLUMN, DISTANCE_COLUMN, ATYPICAL_COLUMN]


@pytest.fixture
def model_path(tmp_path):
    _, model = fitted("mall")
    return save_model(model, tmp_path / MODEL_FILE)


@pytest.fixture(scope="module")
def mall():
    return fitted("mall")


def _training(result: RunResult) -> TrainingData:
    """What ``result`` was trained on, as the model file records it."""
    return TrainingData(result.source, result.feature_columns, result.feature_dtypes,
                        result.config.id_column, result.id_column, result.n_input,
                        result.n_clustered, result.n_rejected)


def _build(result: RunResult, **options):
    """``build_model`` for ``result``'s fit, its thresholds, K choice and seed; no segment names
    unless given."""
    return build_model(result.segmenter, _training(result), thresholds=result.thresholds,
                       **{"k_selection": result.k_selection, "seed": result.config.seed,
                          **options})


def _positions(result: RunResult) -> np.ndarray:
    """Each customer's segment position (0..K-1) in the run, from its clustered file's ids."""
    position = {int(c): j for j, c in enumerate(result.segment_ids)}
    return np.array([position[c] for c in run_clusters("mall").tolist()])


# --------------------------------------------------------------------------- content

def test_file_records_everything_needed_to_score(model_path, mall):
    result, _ = mall
    doc = json.loads(model_path.read_text(encoding="utf-8"))
    assert doc["format"] == "custseg-model"
    assert doc["format_version"] == FORMAT_VERSION
    assert [f["name"] for f in doc["features"]] == list(MALL_FEATURES)
    assert {f["dtype"] for f in doc["features"]} == {"float64"}
    assert [f["input_column"] for f in doc["features"]] == list(MALL_FEATURES)
    assert doc["id_column"] == {"name": "CustomerID", "input_column": "CustomerID"}
    assert doc["scaler"]["mean"] == result.segmenter.scaler_.mean_.tolist()
    assert doc["scaler"]["scale"] == result.segmenter.scaler_.scale_.tolist()
    segments = doc["segments"]
    assert [s["cluster"] for s in segments] == list(range(result.k))
    assert [s["name"] for s in segments] == result.names
    assert [s["size"] for s in segments] == result.profiles.sizes.tolist()
    assert np.array_equal([s["centroid_scaled"] for s in segments],
                          result.segmenter.cluster_centers_)
    assert np.allclose([s["centroid"] for s in segments],
                       result.segmenter.cluster_centers_original_)
    assert all(s["distance_threshold"] > 0 for s in segments)
    assert [s["distance_threshold"] for s in segments] == result.thresholds.tolist()
    assert doc["k_selection"]["chosen_k"] == result.k
    assert doc["k_selection"]["confidence"] == result.k_selection.confidence
    assert doc["k_selection"]["explanation"] == result.k_selection.explanation
    training = doc["training_data"]
    assert training["sha256"] == result.source.sha256
    assert (training["rows"], training["rows_input"], training["rows_rejected"]) == (200, 200, 0)
    assert set(doc["versions"]) >= {"custseg", "python", "numpy", "scikit-learn"}
    assert doc["seed"] == result.config.seed
    assert len(doc["checksum_sha256"]) == 64
    assert "pickle" not in model_path.read_text(encoding="utf-8").lower()


def test_round_trip_is_exact(model_path, mall):
    _, model = mall
    loaded = load_model(model_path)
    for name in ("mean", "scale", "centroids", "centroids_original", "thresholds", "sizes",
                 "clusters"):
        assert np.array_equal(getattr(loaded, name), getattr(model, name)), name
    for name in ("features", "input_columns", "id_column", "names", "slugs", "actions",
                 "k_selection", "training_data", "versions", "seed", "created"):
        assert getattr(loaded, name) == getattr(model, name), name
    assert loaded.path == model_path


def test_saving_is_byte_identical_and_time_free(tmp_path, mall, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    result, _ = mall
    first = save_model(_build(result, segments=result.segments), tmp_path / "a.custseg.json")
    second = save_model(_build(result, segments=result.segments), tmp_path / "b.custseg.json")
    third = save_model(result.model(), tmp_path / "c.custseg.json")
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text(encoding="utf-8"))["created"] is None
    assert json.loads(third.read_text(encoding="utf-8"))["created"] is None


@pytest.mark.parametrize(("epoch", "created"), [("0", "1970-01-01T00:00:00Z"),
                                                 ("1706779800", "2024-02-01T09:30:00Z")])
def test_creation_time_from_source_date_epoch(mall, monkeypatch, epoch, created):
    result, _ = mall
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    assert _build(result).created == created
    assert result.model().created == created


def test_explicit_creation_time(mall):
    result, _ = mall
    model = _build(result, created="2025-03-04T05:06:07+01:00")
    assert model.created == "2025-03-04T04:06:07Z"
    assert result.model(created="2025-03-04T05:06:07+01:00").created == "2025-03-04T04:06:07Z"


def test_default_names_without_segments(mall):
    result, _ = mall
    model = build_model(result.segmenter, _training(result), thresholds=result.thresholds)
    assert model.names == tuple(f"Segment {j}" for j in range(result.k))
    assert model.slugs == tuple(f"segment-{j}" for j in range(result.k))
    assert model.actions == ("",) * result.k
    assert model.k_selection["chosen_k"] == result.k
    assert model.k_selection["confidence"] is None
    assert model.clusters.tolist() == list(range(result.k))
    assert model.sizes.tolist() == result.sizes.tolist()


def test_lazy_public_export(model_path):
    assert "load_model" in custseg.__all__
    assert custseg.load_model(model_path.parent).n_segments == 5


# --------------------------------------------------------------------------- predictions

@pytest.mark.parametrize("dataset", ["mall", "wholesale"])
def test_predict_on_training_data_reproduces_the_run(dataset, tmp_path):
    result, model = fitted(dataset)
    loaded = load_model(save_model(model, tmp_path / MODEL_FILE))
    df = pd.read_csv(input_path(dataset))
    # The run's segment of each customer is in the clustered file it wrote.
    clusters = run_clusters(dataset)
    assert len(clusters) == len(df) == result.n_clustered
    assert np.array_equal(loaded.predict(df), clusters)
    assert np.array_equal(result.model().predict(df), clusters)
    assert np.bincount(clusters, minlength=result.k).tolist() == result.sizes.tolist()
    # And the seed's pickle agrees too.
    features = list(result.feature_columns)
    assert np.array_equal(loaded.predict(df), result.segmenter.to_pipeline().predict(df[features]))


def test_wholesale_model_has_six_features_and_no_id(tmp_path):
    _, model = fitted("wholesale")
    loaded = load_model(save_model(model, tmp_path / MODEL_FILE))
    assert loaded.features == WHOLESALE_FEATURES
    assert loaded.id_column is None
    scores = loaded.score(pd.read_csv(input_path("wholesale")))
    assert list(scores.columns) == SCORE_COLUMNS == ["Cluster", "Segment", "distance", "atypical"]


def test_score_columns_distances_and_atypical(model_path, mall, mall_df):
    result, _ = mall
    model = load_model(model_path)
    scores = model.score(mall_df)
    assert list(scores.columns) == ["CustomerID", "Cluster", "Segment", "distance", "atypical"]
    assert scores.index.equals(mall_df.index)
    assert scores["CustomerID"].tolist() == mall_df["CustomerID"].tolist()
    assert scores["Segment"].tolist() == [result.names[c] for c in scores["Cluster"]]
    expected = result.segmenter.transform(mall_df[list(MALL_FEATURES)])[
        np.arange(len(mall_df)), scores["Cluster"]]
    assert np.allclose(scores["distance"], expected, rtol=0, atol=1e-12)
    thresholds = model.thresholds[scores["Cluster"]]
    assert scores["atypical"].tolist() == (scores["distance"] > thresholds).tolist()
    # The threshold is the 99th percentile of each segment's training distances.
    for cluster, group in scores.groupby("Cluster"):
        assert group["atypical"].mean() <= 0.05
        assert model.thresholds[cluster] == pytest.approx(np.quantile(group["distance"], 0.99))


@pytest.mark.parametrize("case", ["one row", "shuffled columns", "extra columns", "aliases",
                                  "column map", "nullable ints", "no id column"])
def test_score_accepts_documented_inputs(model_path, mall_df, case):
    model = load_model(model_path)
    df = mall_df
    expected = run_clusters("mall")
    if case == "one row":
        df, expected = mall_df.iloc[[7]], expected[[7]]
    elif case == "shuffled columns":
        df = mall_df[list(reversed(mall_df.columns))]
    elif case == "extra columns":
        df = mall_df.assign(Notes="vip", Region=3)
    elif case == "aliases":
        df = mall_df.rename(columns={"Annual Income (k$)": "annual_income",
                                     "Spending Score (1-100)": "SpendingScore", "CustomerID": "cust_id"})
    elif case == "column map":
        df = mall_df.rename(columns={"Spending Score (1-100)": "Points"})
    elif case == "nullable ints":
        df = mall_df.astype({"Annual Income (k$)": "Int64"})
    elif case == "no id column":
        df = mall_df.drop(columns="CustomerID")
    column_map = {"Points": "Spending Score (1-100)"} if case == "column map" else None
    assert np.array_equal(model.predict(df, column_map=column_map), expected)
    scores = model.score(df, column_map=column_map)
    assert len(scores) == len(df)
    assert ("CustomerID" in scores or "cust_id" in scores) == (case != "no id column")


@pytest.mark.parametrize(("change", "message"), [
    (lambda df: df.drop(columns="Spending Score (1-100)"),
     "Column 'Spending Score (1-100)', a feature of the model, not found in the data frame"),
    (lambda df: df.astype({"Annual Income (k$)": str}), "has dtype"),
    (lambda df: df.assign(**{"Annual Income (k$)": df["Annual Income (k$)"] > 50}), "has dtype bool"),
    (lambda df: df.assign(**{"Annual Income (k$)": df["Annual Income (k$)"].where(df.index != 3)}),
     "1 missing or infinite value(s) in the data frame (first at index 3)"),
    (lambda df: df.to_numpy(), "needs a pandas DataFrame"),
])
def test_score_refuses_bad_input_with_one_line(model_path, mall_df, change, message):
    model = load_model(model_path)
    with pytest.raises(DataValidationError) as info:
        model.score(change(mall_df))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_feature_message_suggests_close_column(model_path, mall_df):
    df = mall_df.rename(columns={"Spending Score (1-100)": "Spending Scor"})
    with pytest.raises(DataValidationError, match="Did you mean 'Spending Scor'"):
        load_model(model_path).predict(df)


def test_empty_frame_scores_nothing(model_path, mall_df):
    assert load_model(model_path).score(mall_df.iloc[:0]).empty


# --------------------------------------------------------------------------- refusals

def _edit_centroid(doc):
    doc["segments"][0]["centroid_scaled"][0] += 0.5


@pytest.mark.parametrize(("tamper", "message"), [
    ("edited value", "was modified after custseg wrote it (checksum mismatch)"),
    ("edited name", "checksum mismatch"),
    ("truncated", "is truncated"),
    ("garbled", "is damaged (invalid JSON)"),
    ("empty", "is empty"),
    ("pickle renamed", "is a Python pickle, not a custseg model file"),
    ("binary", "is not a custseg model file (not JSON)"),
    ("other JSON", "is JSON but not a custseg model file"),
    ("wrong marker", "format 'sklearn-model'"),
    ("duplicate key", "appears twice"),
    ("NaN", "NaN is not a number"),
    ("no checksum", "has no checksum"),
    ("missing scaler", "is invalid: scaler is missing"),
    ("wrong shape", "segments[1].centroid_scaled must be a list of 2 numbers"),
    ("negative scale", "scaler.scale has a value <= 0"),
])
def test_tampered_files_are_refused(model_path, mall, tamper, message):
    text = model_path.read_text(encoding="utf-8")
    if tamper == "edited value":
        rewrite(model_path, _edit_centroid, fix_checksum=False)
    elif tamper == "edited name":
        model_path.write_text(text.replace('"name": "High income', '"name": "Rich', 1), encoding="utf-8")
    elif tamper == "truncated":
        model_path.write_bytes(model_path.read_bytes()[: len(text) // 2])
    elif tamper == "garbled":
        model_path.write_text(text.replace('"segments": [', '"segments": [}', 1), encoding="utf-8")
    elif tamper == "empty":
        model_path.write_bytes(b"")
    elif tamper == "pickle renamed":
        joblib.dump(mall[0].segmenter.to_pipeline(), model_path)
    elif tamper == "binary":
        model_path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    elif tamper == "other JSON":
        model_path.write_text("[1, 2, 3]", encoding="utf-8")
    elif tamper == "wrong marker":
        rewrite(model_path, lambda d: d.update(format="sklearn-model"))
    elif tamper == "duplicate key":
        model_path.write_text(text.replace('"seed":', '"seed": 1, "seed":', 1), encoding="utf-8")
    elif tamper == "NaN":
        model_path.write_text(text.replace('"seed": 42', '"seed": NaN', 1), encoding="utf-8")
    elif tamper == "no checksum":
        rewrite(model_path, lambda d: d.pop("checksum_sha256"), fix_checksum=False)
    elif tamper == "missing scaler":
        rewrite(model_path, lambda d: d.pop("scaler"))
    elif tamper == "wrong shape":
        rewrite(model_path, lambda d: d["segments"][1]["centroid_scaled"].append(0.0))
    elif tamper == "negative scale":
        rewrite(model_path, lambda d: d["scaler"]["scale"].__setitem__(0, -1.0))
    with pytest.raises(ModelFileError) as info:
        load_model(model_path)
    text = str(info.value)
    assert message in text
    assert str(model_path) in text
    assert "\n" not in text


@pytest.mark.parametrize("name", [MODEL_FILE, "model.pkl", "model.json"])
def test_a_pickle_that_would_create_a_file_is_refused_without_running(tmp_path, name):
    target = tmp_path / "pwned.txt"
    path = tmp_path / name
    path.write_bytes(malicious_pickle(target))
    # Control: the payload is live (unpickling it does create its file).
    control = tmp_path / "control.txt"
    pickle.loads(malicious_pickle(control)).close()
    assert control.exists()
    with pytest.raises(ModelFileError, match="is a Python pickle"):
        load_model(path)
    assert not target.exists()


@pytest.mark.parametrize(("version", "words"), [
    (FORMAT_VERSION + 1, ["format version 2", "newer", "format version 1", "pip install -U custseg"]),
    (0, ["format version 0", "older", "format version 1", "custseg run"]),
])
def test_other_format_versions_name_both_versions(model_path, version, words):
    rewrite(model_path, lambda d: d.update(format_version=version))
    with pytest.raises(ModelFileError) as info:
        load_model(model_path)
    for word in words:
        assert word in str(info.value)


def test_older_version_is_upgraded_when_an_upgrade_exists(model_path, mall_df, monkeypatch):
    data = model_path.read_bytes()
    # As if this custseg read format version 2 and the file were version 1. parse binds the
    # version when imported (patching custseg.modelfile.format's alone changes nothing there);
    # the upgrades are format's dict itself.
    monkeypatch.setattr(model_parse, "FORMAT_VERSION", 2)
    with pytest.raises(ModelFileError, match="format version 1, which this custseg cannot upgrade "
                                             "to 2"):
        parse_document(data, str(model_path))

    def to_v2(doc):
        doc["upgraded"] = True
        return doc

    assert model_parse.UPGRADES is model_format.UPGRADES
    monkeypatch.setitem(model_format.UPGRADES, 1, to_v2)
    document = parse_document(data, str(model_path))
    assert document["format_version"] == 2
    assert document["upgraded"] is True
    loaded = load_model(model_path)
    assert loaded.format_version == 2
    assert np.array_equal(loaded.predict(mall_df), run_clusters("mall"))


def test_scikit_learn_version_is_only_information(model_path, mall_df, mall):
    rewrite(model_path, lambda d: d["versions"].update({"scikit-learn": "0.20.0", "numpy": "1.0"}))
    model = load_model(model_path)
    assert model.versions["scikit-learn"] == "0.20.0"
    assert np.array_equal(model.predict(mall_df), run_clusters("mall"))


def test_missing_model_file_and_folder_without_model(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.custseg.json")
    (tmp_path / "model.pkl").write_bytes(b"\x80")
    with pytest.raises(ModelFileError, match=r"No model file .* It has model.pkl, a pickle"):
        load_model(tmp_path)


def test_checksum_covers_canonical_values_not_layout(model_path, mall_df):
    doc = json.loads(model_path.read_text(encoding="utf-8"))
    model_path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    assert load_model(model_path).n_segments == 5
    assert canonical_json({"b": [1.0, 2], "a": None}) == b'{"a":null,"b":[1.0,2]}'


def test_every_cut_and_every_flipped_byte_is_refused(model_path):
    data = model_path.read_bytes()
    rng = np.random.default_rng(0)
    for cut in np.linspace(1, len(data) - 3, 60).astype(int):
        model_path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_model(model_path)
    for position in rng.choice(len(data) - 2, 60, replace=False):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        model_path.write_bytes(bytes(flipped))
        with pytest.raises(ModelFileError):
            load_model(model_path)


# --------------------------------------------------------------------------- stable segment ids

STABLE_IDS = [4, 0, 7, 2, 9]


def test_stable_segment_ids_are_what_predict_returns(tmp_path, mall, mall_df):
    result, _ = mall
    model = _build(result, segment_ids=STABLE_IDS)
    loaded = load_model(save_model(model, tmp_path / MODEL_FILE))
    assert loaded.clusters.tolist() == STABLE_IDS
    assert loaded.names == tuple(f"Segment {i}" for i in STABLE_IDS)
    expected = np.asarray(STABLE_IDS)[_positions(result)]
    assert np.array_equal(loaded.predict(mall_df), expected)
    scores = loaded.score(mall_df)
    assert scores["Segment"].tolist() == [f"Segment {i}" for i in expected]


def test_segment_ids_must_fit_the_segments(mall):
    result, _ = mall
    with pytest.raises(ConfigError, match="distinct non-negative segment ids"):
        _build(result, segment_ids=[0, 0, 1, 2, 3])
    with pytest.raises(ConfigError, match="distinct non-negative segment ids"):
        _build(result, segment_ids=[-1, 0, 1, 2, 3])
    with pytest.raises(ConfigError, match="distinct non-negative segment ids"):
        _build(result, segment_ids=[0, 1, 2, 3])
    with pytest.raises(ConfigError, match="differ from segment_ids"):
        _build(result, segments=result.segments, segment_ids=STABLE_IDS)


def test_trusted_pickle_with_stable_ids_ignores_placeholder_centres(tmp_path, mall, mall_df):
    from custseg.modelfile import load_trusted_pickle

    result, _ = mall
    path = tmp_path / "model.pkl"
    joblib.dump(result.segmenter.to_pipeline(np.asarray(STABLE_IDS)), path)
    model = load_trusted_pickle(path)
    assert model.clusters.tolist() == sorted(STABLE_IDS)
    expected = np.asarray(STABLE_IDS)[_positions(result)]
    assert np.array_equal(model.predict(mall_df), expected)
    scores = model.score(mall_df)
    assert not scores["atypical"].any()
    assert np.all(scores["distance"] < 10)


# --------------------------------------------------------------------------- every engine

#: ``--engine batches`` at one row per batch, a prime number of rows, and more rows than the data.
BATCH_ROWS = [1, 7, 10**6]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mall", "wholesale"])
def test_model_file_is_the_same_bytes_on_every_engine(tmp_path, monkeypatch, dataset):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    if dataset == "mall":
        config = RunConfig()
    else:
        config = RunConfig(input=wholesale_path(), features=WHOLESALE_FEATURES)
    memory = run(config.with_(out=tmp_path / "memory" / "out", engine="memory"))
    assert memory.engine["name"] == "memory"
    reference = memory.outputs["model"].read_bytes()
    assert memory.outputs["model"].name == MODEL_FILE
    # The run's file is its model(): and it has nothing that says which engine wrote it.
    assert save_model(memory.model(), tmp_path / MODEL_FILE).read_bytes() == reference
    document = json.loads(reference)
    assert not {"engine", "batch_rows", "memory_budget"} & set(document)
    assert "batch" not in reference.decode("utf-8").lower()
    for rows in BATCH_ROWS:
        batches = run(config.with_(out=tmp_path / f"batches-{rows}" / "out", engine="batches",
                                   batch_rows=rows))
        assert batches.engine["name"] == "batches"
        assert batches.engine["batch_rows"] == rows
        assert batches.outputs["model"].read_bytes() == reference, f"batch_rows={rows}"


def test_segment_and_run_give_the_same_model(tmp_path, mall, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    result, _ = mall
    computed = segment(result.config)  # writes nothing
    assert computed.outputs == {}
    with pytest.raises(ConfigError, match="wrote no clustered file"):
        computed.clustered  # noqa: B018 - the property raises
    written = save_model(result.model(), tmp_path / "run.custseg.json")
    assert save_model(computed.model(), tmp_path / "segment.custseg.json").read_bytes() == \
        written.read_bytes()
