"""Compiled per-row counts: the same counts as the NumPy and scikit-learn code they replace."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from custseg.describe.rules import RuleAgreement, fit_rules
from custseg.engines import kernels
from custseg.engines.base import AssignedBatch
from custseg.engines.rowcounts import UNDECIDED, fenced_counts, text_codes, tree_agreement
from custseg.io.csvlines import text_buffers
from custseg.segmentation.outliers import OutlierCounter, OutlierRule


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_fenced_counts_are_the_rules_flags_after_the_scaler(rng, d):
    X = rng.standard_t(2, size=(5000, d)) * 10 + 40
    scaler = StandardScaler().fit(X[:1000])
    rule = OutlierRule.fit(scaler.transform(X[:1000]))
    # Rows exactly on a fence (in the scaled space, as the scaler's arithmetic lands).
    X[:d, :] = (rule.high * scaler.scale_ + scaler.mean_)[None, :]
    labels = rng.integers(0, 4, len(X))
    expected = np.bincount(labels[rule.flag(scaler.transform(X))], minlength=4)
    counts = np.zeros(4, dtype=np.int64)
    fenced_counts(X, scaler.mean_, scaler.scale_, rule.low, rule.high, labels, counts)
    assert counts.tolist() == expected.tolist()
    assert expected.sum() > 0


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_tree_agreement_is_scikit_learns_predict(rng, depth):
    X = rng.normal(size=(4000, 3)) * [1.0, 100.0, 1e-3]
    labels = (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 30)
    tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X[:500], labels[:500])
    # Values on and a float32 step around every threshold.
    t = tree.tree_
    for node in np.flatnonzero(t.children_left >= 0):
        j, threshold = t.feature[node], np.float32(t.threshold[node])
        X[3 * node:3 * node + 3, j] = [threshold, np.nextafter(threshold, np.float32(np.inf)),
                                       np.nextafter(threshold, np.float32(-np.inf))]
    leaf = tree.classes_.take(np.argmax(t.value[:, 0, :], axis=1)).astype(np.int64)
    agree = tree_agreement(X, t.feature.astype(np.int64), t.threshold,
                           t.children_left.astype(np.int64), t.children_right.astype(np.int64),
                           leaf, labels)
    assert agree == int((tree.predict(X) == labels).sum())


def test_text_codes_leave_cells_trimming_could_change():
    categories = pa.array(["Female", "Male", "M"])
    cells = pa.array(["Other", "Male", "Female", "M", "", " Male", "Male\t", "\u00a0Male", "Mal", "Males",
                      "male", "é", "Malé"]).slice(1)  # a slice: offsets from 1
    codes = np.empty(len(cells), dtype=np.int64)
    text_codes(*text_buffers(cells), *text_buffers(categories), codes)
    u = UNDECIDED
    assert codes.tolist() == [1, 0, 2, -1, u, u, u, -1, -1, -1, u, u]


@pytest.mark.parametrize("compiled", [False, True])
def test_the_observers_count_the_same_either_way(monkeypatch, rng, compiled):
    monkeypatch.setattr(kernels, "FUSED_MIN_ROWS", 0 if compiled else 1 << 62)
    X = rng.standard_t(2, size=(3000, 2)) * 10 + 40
    scaler = StandardScaler().fit(X)
    labels = (X[:, 0] > 40).astype(np.int64) + 2 * (X[:, 1] > 45)
    rules = fit_rules(X, labels, ("a", "b"), 4, seed=0)
    agreement = RuleAgreement(rules)
    counter = OutlierCounter(OutlierRule.fit(scaler.transform(X)), scaler, 4)
    for part in np.array_split(np.arange(len(X)), 3):
        batch = AssignedBatch(None, part, X[part], labels[part], np.zeros(len(part)))
        agreement.observe(batch)
        counter.observe(batch)
    from custseg.describe.rules import tree_predict

    flags = counter.rule.flag(scaler.transform(X))
    assert counter.per_segment.tolist() == np.bincount(labels[flags], minlength=4).tolist()
    assert agreement.agree == int((tree_predict(rules.tree, X) == labels).sum())
    assert counter.total > 0
