"""Fill and transform before scaling (custseg.engines.prepare), through the whole run."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from custseg import RunConfig
from custseg.engines.categories import Category
from custseg.engines.prepare import FeaturePrep
from custseg.engines.preparedscaler import PreparedScaler
from custseg.engines.prepfit import choose_transforms
from custseg.exceptions import ConfigError
from custseg.io.levels import level_code
from custseg.modelfile import load_model
from custseg.pipeline import run, segment
from custseg.scoring import predict_file
from tests.conftest import shared_dataset

SPEND = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]


@pytest.fixture(scope="module")
def wholesale():
    return shared_dataset("wholesale", "wholesale_customers.csv")


@pytest.fixture(scope="module")
def cc_general():
    return shared_dataset("cc_general", "cc_general.csv")


@pytest.mark.parametrize(("mode", "expected"), [
    ("auto", ("log1p", "none", "none")),
    ("log", ("log1p", "log1p", "none")),
    ("quantile", ("quantile",) * 3),
    ("none", ("none",) * 3),
])
def test_transform_per_feature(mode, expected):
    rng = np.random.default_rng(1)
    values = np.column_stack([rng.lognormal(3, 1.2, 500), rng.uniform(0, 100, 500),
                              rng.normal(0, 1, 500)])
    kinds, reasons = choose_transforms(values, values.min(axis=0), mode)
    assert kinds == expected
    if mode == "auto":
        assert reasons[0].startswith("skewness ")
        assert reasons[0].endswith("> 1")
        assert reasons[2].startswith("has negative values")


def test_prepared_scaler_round_trips_and_fills():
    prep = FeaturePrep(("log1p", "quantile"), np.array([4.0, np.nan]),
                       (None, np.array([0.0, 1.0, 10.0])))
    scaler = PreparedScaler.from_moments(prep, np.array([1.0, 0.5]), np.array([1.0, 0.25]), 3)
    X = np.array([[np.nan, 1.0], [9.0, 10.0]])
    Z = scaler.transform(X)
    assert Z[0, 0] == pytest.approx(np.log1p(4.0) - 1.0)
    assert Z[0, 1] == pytest.approx(0.0)
    back = scaler.inverse_transform(Z)
    np.testing.assert_allclose(back, [[4.0, 1.0], [9.0, 10.0]])


def test_model_file_block_round_trips():
    prep = FeaturePrep(("log1p", "none"), np.array([np.nan, 2.5]))
    block = prep.to_dict(["a", "b"])
    again = FeaturePrep.from_dict(json.loads(json.dumps(block)), 2)
    assert again.transforms == ("log1p", "none")
    np.testing.assert_array_equal(again.fill, prep.fill)
    with pytest.raises(ValueError, match="unknown transform"):
        FeaturePrep.from_dict({"features": [{"transform": "sqrt"}, {"transform": "none"}]}, 2)


def test_unknown_options_are_config_errors():
    with pytest.raises(ConfigError, match="--transform must be one of"):
        RunConfig(transform="sqrt")
    with pytest.raises(ConfigError, match="--missing must be one of"):
        RunConfig(missing="drop")


def test_mall_is_not_transformed_and_keeps_its_oracle():
    result = segment(RunConfig(k=5))
    assert result.preparation.transforms == ("none", "none")
    assert result.sizes.tolist() == [81, 39, 35, 23, 22]
    assert round(result.silhouette, 4) == 0.5547


def test_wholesale_log_spend_agrees_with_channel(wholesale, engine):
    result = segment(RunConfig(input=wholesale, k=2, **engine))
    assert result.preparation.transforms == ("log1p",) * 6
    table = pd.read_csv(wholesale)
    labels = result.segmenter.predict(table[SPEND])
    assert adjusted_rand_score(table["Channel"], labels) >= 0.45
    raw = segment(RunConfig(input=wholesale, k=2, transform="none", **engine))
    assert adjusted_rand_score(table["Channel"], raw.segmenter.predict(table[SPEND])) < 0.3


def test_transform_is_part_of_model_pkl_predict_and_previous(wholesale, tmp_path):
    first = run(RunConfig(input=wholesale, k=3, out=tmp_path / "first"))
    clustered = pd.read_csv(tmp_path / "first" / "wholesale_customers_clustered.csv")
    model = load_model(tmp_path / "first" / "segments_model.custseg.json")
    assert model.prepare.transforms == ("log1p",) * 6
    document = json.loads((tmp_path / "first" / "segments_model.custseg.json").read_text())
    assert [f["transform"] for f in document["prepare"]["features"]] == ["log1p"] * 6
    table = pd.read_csv(wholesale)
    pipeline = joblib.load(tmp_path / "first" / "kmeans_customer_segmentation_model.pkl")
    positions = pipeline.predict(table[SPEND])
    by_position = dict(enumerate(first.segment_ids.tolist()))
    assert [by_position[p] for p in positions] == clustered["Cluster"].tolist()
    again = run(RunConfig(input=wholesale, k=3, out=tmp_path / "again",
                          previous=tmp_path / "first"))
    customers = again.changes.to_dict()["customers"]
    assert customers["moved"] == 0
    assert customers["both"] == 440
    profile = pd.read_csv(tmp_path / "first" / "segment_profiles.csv")
    assert profile.filter(like="Grocery").to_numpy().max() > 1000  # original units, not logs


def test_missing_impute_segments_every_cc_general_customer(cc_general, tmp_path):
    result = run(RunConfig(input=cc_general, missing="impute", out=tmp_path / "cc"))
    assert result.n_clustered == 8950
    assert result.n_rejected == 0
    imputed = dict(zip(result.features, result.preparation.imputed, strict=True))
    assert imputed["MINIMUM_PAYMENTS"] == 313
    assert imputed["CREDIT_LIMIT"] == 1
    assert result.sizes.min() / result.n_clustered >= 0.01
    assert "excluded" not in result.k_selection.explanation  # no K lost to a tiny outlier segment
    summary = json.loads((tmp_path / "cc" / "segments.json").read_text())["preparation"]
    assert summary["missing"]["imputed"]["MINIMUM_PAYMENTS"] == 313
    assert summary["missing"]["fill"]["MINIMUM_PAYMENTS"] == pytest.approx(
        pd.read_csv(cc_general)["MINIMUM_PAYMENTS"].median())
    model = load_model(tmp_path / "cc" / "segments_model.custseg.json")
    assert model.prepare.fill[result.features.index("MINIMUM_PAYMENTS")] == pytest.approx(
        summary["missing"]["fill"]["MINIMUM_PAYMENTS"])
    scored = predict_file(model, cc_general, tmp_path / "scored.csv")
    assert scored.n_rejected == 0
    clustered = pd.read_csv(tmp_path / "cc" / "cc_general_clustered.csv")
    assert pd.read_csv(tmp_path / "scored.csv")["Cluster"].tolist() == clustered["Cluster"].tolist()


def test_missing_reject_stays_the_default(cc_general):
    result = segment(RunConfig(input=cc_general, k=3))
    assert result.n_rejected == 314
    assert result.rows.reasons == {"missing value": 314}


def test_robust_scaler_centres_on_medians_and_divides_by_iqr(mall_df):
    result = segment(RunConfig(k=5, scaler="robust"))
    features = ["Annual Income (k$)", "Spending Score (1-100)"]
    q1, median, q3 = np.quantile(mall_df[features].to_numpy(float), [0.25, 0.5, 0.75], axis=0)
    np.testing.assert_allclose(result.segmenter.scaler_.mean_, median)
    np.testing.assert_allclose(result.segmenter.scaler_.scale_, q3 - q1)
    assert sorted(result.sizes.tolist()) == [22, 23, 35, 39, 81]


# --------------------------------------------------------------------------- categorical features

def _gender_prep(fill: float = np.nan) -> FeaturePrep:
    return FeaturePrep(("none",), np.array([np.nan, fill]),
                       categories=(Category("Gender", ("Female", "Male")),))


def test_categories_become_indicators_after_the_numeric_features():
    prep = _gender_prep()
    X = np.array([[3.0, level_code("Male")], [4.0, level_code("Female")]])
    assert prep.width == 3
    assert not prep.identity
    assert prep.forward(X).tolist() == [[3.0, 0.0, 1.0], [4.0, 1.0, 0.0]]
    assert prep.inverse(prep.forward(X)).tolist() == [[3.0], [4.0]]  # numeric features only


@pytest.mark.parametrize("fill", [None, "Male"])
def test_categories_round_trip_through_the_model_block(fill):
    prep = _gender_prep(np.nan if fill is None else level_code(fill))
    block = prep.to_dict(["Income", "Gender"])
    assert block["features"][1] == {"name": "Gender", "transform": "onehot", "fill": fill,
                                    "levels": ["Female", "Male"],
                                    "weight": pytest.approx(2 ** -0.5)}
    back = FeaturePrep.from_dict(block, 2)
    X = np.array([[1.0, level_code("Male")], [2.0, np.nan]])
    if fill is None:
        X = X[:1]
    assert np.array_equal(back.forward(X), prep.forward(X))


@pytest.mark.parametrize(("change", "message"), [
    ({"levels": ["Male", "Female"]}, "sorted"),
    ({"levels": ["Male"]}, "2 or more"),
    ({"weight": -1}, "weight"),
    ({"fill": "Other"}, "fill"),
])
def test_bad_category_blocks_are_refused(change, message):
    block = _gender_prep().to_dict(["Income", "Gender"])
    block["features"][1].update(change)
    with pytest.raises(ValueError, match=message):
        FeaturePrep.from_dict(block, 2)


def test_prepared_scaler_takes_category_text_in_a_data_frame():
    prep = _gender_prep()
    scaler = PreparedScaler.from_moments(prep, np.array([2.0, 0.0, 0.0]),
                                         np.array([1.0, 2.0, 2.0]), 10)
    frame = pd.DataFrame({"Income": [3.0, 1.0], "Gender": ["Male", "Female"]})
    codes = np.array([[3.0, level_code("Male")], [1.0, level_code("Female")]])
    expected = [[1.0, 0.0, 2 ** -0.5], [-1.0, 2 ** -0.5, 0.0]]
    assert np.allclose(scaler.transform(frame), expected)
    assert np.allclose(scaler.transform(codes), expected)
    assert np.allclose(scaler.transform(pd.DataFrame(codes, columns=["Income", "Gender"])),
                       expected)


@pytest.mark.parametrize("seed", range(4))
def test_skewness_is_scipys(seed):
    from scipy.stats import skew

    from custseg.engines.prepfit import skewness

    rng = np.random.default_rng(seed)
    for values in (rng.lognormal(size=500) * 10 ** seed, rng.normal(size=50), -rng.gamma(2, size=9),
                   np.array([3.0, 3.0, 3.0 + 1e-9])):
        assert skewness(values) == pytest.approx(skew(values), rel=1e-12)
    assert np.isnan(skewness(np.full(10, 7.0)))


def test_pickles_naming_the_scalers_former_module_still_load():
    """``PreparedScaler`` moved to its own module; seed pickles written before name the old one."""
    import pickle

    prep = FeaturePrep(("log1p", "none"), np.array([np.nan, np.nan]))
    scaler = PreparedScaler.from_moments(prep, np.array([1.0, 0.5]), np.array([1.0, 0.25]), 3)
    data = pickle.dumps(scaler, protocol=2)
    assert b"custseg.engines.preparedscaler" in data
    old = pickle.loads(data.replace(b"custseg.engines.preparedscaler", b"custseg.engines.prepare"))
    assert type(old) is PreparedScaler
    X = np.array([[3.0, 1.0], [0.0, 2.0]])
    assert old.transform(X).tolist() == scaler.transform(X).tolist()
