"""Drift between runs: PSI (checked against hand arithmetic), sizes, atypical share (also counted
batch by batch), recommendation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from custseg.config import RunConfig
from custseg.exceptions import ConfigError, DataValidationError
from custseg.pipeline import segment
from custseg.tracking.drift import (
    ATYPICAL_MAX,
    EPSILON,
    KEEP,
    PSI_MAJOR,
    PSI_MODERATE,
    REFIT,
    SHARE_SHIFT_MAX,
    AtypicalCounter,
    atypical_share,
    psi,
    psi_edges,
    psi_reading,
    psi_table,
    recommend,
    size_changes,
)
from custseg.tracking.matching import match_segments

EXPECTED_1_TO_8 = [1, 2, 3, 4, 5, 6, 7, 8]


def test_psi_matches_hand_computation():
    # 4 quantile bins of 1..8: edges at the 25/50/75% quantiles 2.75, 4.5, 6.25 (linear
    # interpolation), so the previous shares are e = 2/8 = 0.25 in every bin.
    # New values 1,1,1,1 | 3,3,3 | 5,5 | 7 -> a = 0.4, 0.3, 0.2, 0.1.
    # PSI = (0.4-0.25) ln(0.4/0.25) + (0.3-0.25) ln(0.3/0.25) + (0.2-0.25) ln(0.2/0.25) + (0.1-0.25) ln(0.1/0.25)
    #     = 0.15 * 0.4700036 + 0.05 * 0.1823216 + (-0.05) * (-0.2231436) + (-0.15) * (-0.9162907)
    #     = 0.0705005 + 0.0091161 + 0.0111572 + 0.1374436
    #     = 0.2282174
    assert psi_edges(EXPECTED_1_TO_8, bins=4).tolist() == [2.75, 4.5, 6.25]
    assert psi(EXPECTED_1_TO_8, [1, 1, 1, 1, 3, 3, 3, 5, 5, 7], bins=4) == pytest.approx(0.2282174, abs=1e-7)


def test_psi_empty_bin_uses_epsilon_by_hand():
    # New values 1,1 | 3 | 5 | (none) -> a = 0.5, 0.25, 0.25, 0 -> the empty bin counts as 1e-4.
    # PSI = (0.5-0.25) ln 2 + 0 + 0 + (0.0001-0.25) ln(0.0001/0.25)
    #     = 0.25 * 0.6931472 + (-0.2499) * (-7.8240460)
    #     = 0.1732868 + 1.9552291
    #     = 2.1285159
    assert EPSILON == 1e-4
    assert psi(EXPECTED_1_TO_8, [1, 1, 3, 5], bins=4) == pytest.approx(2.1285159, abs=1e-7)


def test_psi_repeated_edges_are_merged_by_hand():
    # A constant previous feature: every quantile is 5, one edge remains: bins (-inf, 5] and (5, inf).
    # e = 1, 0 -> 1e-4;  a = 0.5, 0.5.
    # PSI = (0.5-1) ln(0.5/1) + (0.5-0.0001) ln(0.5/0.0001) = 0.3465736 + 0.4999 * 8.5171932 = 4.6043185
    assert psi_edges([5, 5, 5, 5]).tolist() == [5.0]
    assert psi([5, 5, 5, 5], [5, 5, 6, 6]) == pytest.approx(4.6043185, abs=1e-7)


def test_psi_bins_are_closed_on_the_right_and_open_ended():
    # 2.75 is the first edge: it belongs to the first bin; far values fall in the outer bins.
    first_bin = psi(EXPECTED_1_TO_8, [2.75], bins=4)
    assert first_bin == pytest.approx(psi(EXPECTED_1_TO_8, [-1e9], bins=4))
    assert psi(EXPECTED_1_TO_8, [1e9], bins=4) == pytest.approx(first_bin)
    assert first_bin == pytest.approx((1 - 0.25) * math.log(1 / 0.25) + 3 * (EPSILON - 0.25) * math.log(EPSILON / 0.25))


def test_psi_of_identical_distributions_is_zero():
    values = np.random.default_rng(0).normal(size=1_000)
    assert psi(values, values) == 0.0
    assert psi(values, values[::-1]) == 0.0


@pytest.mark.parametrize(("shift", "reading"), [(0.0, "stable"), (0.4, "moderate shift"), (1.0, "major shift")])
def test_psi_reading_of_shifted_normal_samples(shift, reading):
    rng = np.random.default_rng(1)
    value = psi(rng.normal(size=20_000), rng.normal(loc=shift, size=20_000))
    assert psi_reading(value) == reading


@pytest.mark.parametrize(("value", "reading"), [(0.0, "stable"), (0.0999, "stable"), (0.1, "moderate shift"),
                                                (0.25, "moderate shift"), (0.2501, "major shift")])
def test_psi_reading_thresholds(value, reading):
    assert psi_reading(value) == reading


@pytest.mark.parametrize(
    ("expected", "actual", "bins", "error", "message"),
    [
        ([], [1.0], 10, DataValidationError, "No previous values"),
        ([1.0], [], 10, DataValidationError, "No new values"),
        ([1.0, np.nan], [1.0], 10, DataValidationError, "NaN or infinity"),
        ([1.0], [np.inf], 10, DataValidationError, "NaN or infinity"),
        ([1.0, 2.0], [1.0], 1, ConfigError, "at least 2 bins"),
        ([1.0, 2.0], [1.0], True, ConfigError, "at least 2 bins"),
    ],
)
def test_psi_refuses_bad_input(expected, actual, bins, error, message):
    with pytest.raises(error, match=message):
        psi(expected, actual, bins=bins)


def test_psi_table_per_feature():
    prev = np.column_stack([EXPECTED_1_TO_8, EXPECTED_1_TO_8])
    new = np.column_stack([[1, 1, 1, 1, 3, 3, 3, 5, 5, 7], [1, 2, 3, 4, 5, 6, 7, 8, 8, 1]])
    table = psi_table(prev, new, ["Income", "Spending"], bins=4)
    assert table.columns.tolist() == ["feature", "psi", "reading"]
    assert table["feature"].tolist() == ["Income", "Spending"]
    assert table.loc[0, "psi"] == pytest.approx(0.2282174, abs=1e-7)
    assert table["reading"].tolist() == ["moderate shift", "stable"]
    with pytest.raises(DataValidationError, match="Cannot compare features"):
        psi_table(prev, new[:, :1], ["Income", "Spending"])


def test_size_changes_in_percentage_points():
    table = size_changes({0: 60, 1: 30, 2: 10}, {0: 45, 2: 30, 3: 25})
    assert table.index.tolist() == [0, 1, 2, 3]
    assert table.index.name == "segment"
    assert table["previous_size"].tolist() == [60, 30, 10, 0]
    assert table["new_size"].tolist() == [45, 0, 30, 25]
    np.testing.assert_allclose(table["previous_pct"], [60, 30, 10, 0])
    np.testing.assert_allclose(table["new_pct"], [45, 0, 30, 25])
    np.testing.assert_allclose(table["change_pp"], [-15, -30, 20, 25])
    assert table["status"].tolist() == ["kept", "retired", "kept", "new"]
    with pytest.raises(DataValidationError, match=">= 0"):
        size_changes({0: -1}, {0: 1})


def test_atypical_share_per_segment_and_global_threshold():
    distances = np.array([0.5, 1.5, 2.0, 0.1, 3.0])
    labels = np.array([0, 0, 1, 1, 1])
    assert atypical_share(distances, labels, np.array([1.0, 2.5])) == pytest.approx(2 / 5)
    assert atypical_share(distances, labels, 1.8) == pytest.approx(2 / 5)
    assert atypical_share(distances, labels, np.array([1.5, 2.0])) == 0.2  # equal is not beyond
    assert atypical_share(np.array([]), np.array([], dtype=int), 1.0) == 0.0
    with pytest.raises(DataValidationError, match="one of each per customer"):
        atypical_share(distances, labels[:2], 1.0)


STABLE_SIZES = size_changes({0: 50, 1: 50}, {0: 52, 1: 48})


@pytest.fixture(scope="module")
def identity_match():
    return match_segments(np.array([[0.0], [5.0]]), np.array([[0.0], [5.0]]), threshold=1.0)


@pytest.fixture(scope="module")
def new_segment_match():
    return match_segments(np.array([[0.0], [5.0]]), np.array([[0.0], [5.0], [50.0]]), threshold=1.0)


@pytest.mark.parametrize(
    ("psis", "sizes", "atypical", "match", "action", "reason"),
    [
        ({"Income": 0.02, "Spending": 0.12}, STABLE_SIZES, 0.01, "identity_match", KEEP,
         "Every feature is within a moderate shift (largest PSI: Spending 0.12"),
        ({"Income": 0.02, "Spending": 0.3}, STABLE_SIZES, 0.01, "identity_match", REFIT,
         "Spending has shifted (PSI 0.30 > 0.25)."),
        ({"Income": 0.02}, STABLE_SIZES, 0.08, "identity_match", REFIT,
         "8.0% of the customers are atypical under the previous model (more than 5%)."),
        ({"Income": 0.02}, STABLE_SIZES, 0.01, "new_segment_match", REFIT,
         "1 new segment appeared that the previous model does not have."),
        ({"Income": 0.02}, size_changes({0: 50, 1: 50}, {0: 60, 1: 40}), 0.01, "identity_match", REFIT,
         "VIPs went from 50.0% to 60.0% of the customers (more than 5 points)."),
        ({"Income": 0.02}, size_changes({0: 50, 1: 50}, {0: 55, 1: 45}), 0.01, "identity_match", KEEP,
         "No segment's share moved by more than 5 percentage points."),
        ({"Income": 0.02}, size_changes({0: 50, 1: 50}, {0: 50, 2: 50}), None, None, REFIT,
         "1 previous segment no longer exists."),
    ],
)
def test_recommendation_rule(psis, sizes, atypical, match, action, reason, request):
    match = request.getfixturevalue(match) if match else None
    result = recommend(psis, sizes, atypical, match, names={0: "VIPs"})
    assert result.action == action
    assert result.refit is (action == REFIT)
    assert any(r.startswith(reason) for r in result.reasons), result.reasons
    assert result.message.startswith("Keep" if action == KEEP else "Re-fit")


def test_recommendation_lists_every_reason_and_accepts_psi_table(new_segment_match):
    table = pd.DataFrame({"feature": ["Income", "Spending"], "psi": [0.4, 0.5], "reading": ["", ""]})
    result = recommend(table, size_changes({0: 50, 1: 50}, {0: 80, 1: 20}), 0.2, new_segment_match)
    assert result.action == REFIT
    assert len(result.reasons) == 2 + 1 + 1 + 2  # two features, atypical, new segment, two shares


def test_keep_gives_the_evidence(identity_match):
    result = recommend({"Income": 0.01}, STABLE_SIZES, 0.009, identity_match)
    assert result.action == KEEP
    assert result.reasons == (
        "Every feature is stable (largest PSI: Income 0.01 <= 0.25).",
        "Only 0.9% of the customers are atypical under the previous model (at most 5%).",
        "Every segment matches a previous one.",
        "No segment's share moved by more than 5 percentage points.",
    )


def test_rule_constants_are_the_documented_ones():
    assert (PSI_MODERATE, PSI_MAJOR, ATYPICAL_MAX, SHARE_SHIFT_MAX) == (0.1, 0.25, 0.05, 5.0)


# --------------------------------------------------------------------------- AtypicalCounter

#: A previous model in one feature: scaler mean 10, scale 2; centroids at scaled 0 and 5 with
#: thresholds 1 and 0.5 (original units: centroids 10 and 20, radii 2 and 1).
MEAN, SCALE = np.array([10.0]), np.array([2.0])
CENTERS, THRESHOLDS = np.array([[0.0], [5.0]]), np.array([1.0, 0.5])


def test_atypical_counter_by_hand():
    counter = AtypicalCounter(MEAN, SCALE, CENTERS, THRESHOLDS)
    assert np.isnan(counter.share)  # nothing counted yet
    # Scaled: 0.5 (typical), 1.0 (exactly the threshold: typical), 1.5 (atypical), 3.0 (nearest
    # centroid 5, 2 away > 0.5: atypical), 5.25 (typical), 5.5 (equal: typical), 6.0 (atypical).
    counter.count(np.array([[11.0], [12.0], [13.0], [16.0], [20.5], [21.0], [22.0]]))
    assert (counter.atypical, counter.n) == (3, 7)
    assert counter.share == pytest.approx(3 / 7)


@pytest.mark.parametrize("batch_rows", [1, 7, 64, 1000])
def test_atypical_counter_in_batches_equals_atypical_share(batch_rows):
    rng = np.random.default_rng(5)
    X = rng.normal(loc=[12.0, 50.0], scale=[6.0, 20.0], size=(500, 2))
    mean, scale = np.array([10.0, 45.0]), np.array([5.0, 15.0])
    centers = np.array([[-1.0, -1.0], [0.0, 1.0], [1.5, 0.0]])
    thresholds = np.array([0.8, 1.2, 0.5])
    counter = AtypicalCounter(mean, scale, centers, thresholds)
    counter.count(np.empty((0, 2)))  # an empty batch counts nothing
    for start in range(0, len(X), batch_rows):
        counter.count(X[start:start + batch_rows])
    Z = (X - mean) / scale
    d = np.sqrt(((Z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    labels = d.argmin(axis=1)
    expected = atypical_share(d[np.arange(len(X)), labels], labels, thresholds)
    assert counter.n == len(X)
    assert 0 < counter.atypical < len(X)
    assert counter.share == pytest.approx(expected)


def test_atypical_counter_agrees_with_the_model_file():
    result = segment(RunConfig(k=5))
    model = result.model()
    values = result.sample.values  # every Mall customer (the sample holds them all)
    assert len(values) == result.n_clustered
    counter = AtypicalCounter(model.mean, model.scale, model.centroids, model.thresholds)
    for start in range(0, len(values), 13):
        counter.count(values[start:start + 13])
    _, _, atypical = model.assign(values)
    assert counter.atypical == int(atypical.sum())
    assert counter.share == pytest.approx(atypical.mean())
    assert 0 < counter.share < ATYPICAL_MAX  # the training data: about 1% per segment
