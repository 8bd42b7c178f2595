"""CRM rules: readable, faithful to K-Means, and they mean what they say."""

from __future__ import annotations

import re

import numpy as np
import pytest

from custseg.describe.rules import TARGET_FIDELITY, fit_rules
from custseg.pipeline import RunResult

_BETWEEN = re.compile(r"^(?P<low>[-\d.e+]+) < (?P<name>.+) <= (?P<high>[-\d.e+]+)$")
_ABOVE = re.compile(r"^(?P<name>.+) > (?P<low>[-\d.e+]+)$")
_UPTO = re.compile(r"^(?P<name>.+) <= (?P<high>[-\d.e+]+)$")


def apply_rule(rule: str, frame: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate a printed rule on data, independently of the tree that produced it."""
    mask = np.ones(len(next(iter(frame.values()))), dtype=bool)
    if rule == "all customers":
        return mask
    for part in rule.split(" and "):
        if m := _BETWEEN.match(part):
            x = frame[m["name"]]
            mask &= (x > float(m["low"])) & (x <= float(m["high"]))
        elif m := _ABOVE.match(part):
            mask &= frame[m["name"]] > float(m["low"])
        elif m := _UPTO.match(part):
            mask &= frame[m["name"]] <= float(m["high"])
        else:  # pragma: no cover - a rule we cannot read is a failure
            raise AssertionError(f"unreadable condition {part!r}")
    return mask


def test_mall_rules_are_faithful_and_printed_fidelity_is_true(mall_run: RunResult):
    rules = mall_run.rules
    assert rules.fidelity >= TARGET_FIDELITY
    clustered = mall_run.clustered  # every customer, with the Cluster the run gave them
    frame = {name: clustered[name].astype(float).to_numpy() for name in mall_run.features}
    assigned = np.full(mall_run.n_clustered, -1)
    for segment, conditions in rules.rules.items():
        for condition in conditions:
            hit = apply_rule(condition, frame)
            assert (assigned[hit] == -1).all(), "leaves of a tree never overlap"
            assigned[hit] = segment
    assert (assigned >= 0).all(), "the rules cover every customer"
    # The fidelity counted during the assignment pass is the rules' agreement over everyone.
    assert (assigned == clustered["Cluster"].to_numpy()).mean() == pytest.approx(rules.fidelity)


def test_rule_lines_name_segments(mall_run: RunResult):
    lines = mall_run.rules.lines(mall_run.names)
    assert any(line.endswith("-> High income · Low spending") and "Annual Income (k$) >" in line
               for line in lines)
    assert all(" -> " in line for line in lines)


def test_shallowest_tree_that_is_good_enough():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(2000, 2))
    labels = (X[:, 0] > 5).astype(int)  # one split explains everything
    rules = fit_rules(X, labels, ["a", "b"], 2)
    assert rules.depth == 2
    assert rules.fidelity == 1.0
    (low,), (high,) = rules.rules[0], rules.rules[1]
    assert low.startswith("a <= ")
    assert high.startswith("a > ")
    assert float(low.split("<= ")[1]) == pytest.approx(5.0, abs=0.02)


def test_siblings_with_the_same_segment_collapse_into_one_rule():
    X = np.array([[x, y] for x in range(10) for y in range(10)], dtype=float)
    labels = (X[:, 0] >= 5).astype(int)
    rules = fit_rules(X, labels, ["x", "y"], 2)
    assert len(rules.rules[0]) == 1
    assert len(rules.rules[1]) == 1
    assert "y" not in rules.rules[0][0]


def test_large_inputs_fit_on_a_sample_but_score_on_all(monkeypatch):
    import custseg.describe.rules as rules_module

    monkeypatch.setattr(rules_module, "FIT_SAMPLE", 500)
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(5000, 1))
    labels = (X[:, 0] > 0.5).astype(int)
    rules = fit_rules(X, labels, ["x"], 2, seed=3)
    assert rules.fidelity > 0.98


def test_tree_predict_is_scikit_learn_predict():
    from sklearn.tree import DecisionTreeClassifier

    from custseg.describe.rules import tree_predict

    rng = np.random.default_rng(5)
    X = rng.integers(0, 150, size=(20_000, 3)).astype(np.float64) + rng.random((20_000, 3)) * 1e-3
    labels = (X[:, 0] > 60).astype(int) * 2 + (X[:, 1] > 40) + (X[:, 2] > 100) * 3
    for depth in (1, 2, 3, 5):
        tree = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X[:2_000], labels[:2_000])
        assert np.array_equal(tree_predict(tree, X), tree.predict(X))
