"""Rules a CRM can use: a shallow decision tree that mimics the segments, printed as if-then rules.

K-Means assigns a customer to the nearest centroid, which a CRM filter cannot express. A shallow
decision tree fitted to the segment labels gives threshold rules on the original columns
(``Annual Income (k$) > 69.5 and Spending Score (1-100) <= 40 -> High income · Low spending``).
Its *fidelity* is the share of customers the rules assign as K-Means does.

The tree is fitted on the run's sample (above :data:`FIT_SAMPLE` rows, on a seeded part of it).
It grows from depth 2 to :data:`MAX_DEPTH` and stops at the first depth whose fidelity on the
sample reaches :data:`TARGET_FIDELITY`; leaves hold at least 0.5% of the customers so no rule is
about a handful of people. The fidelity reported is then measured on every customer, during the
assignment pass (:class:`RuleAgreement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from custseg.engines.kernels import compiles

TARGET_FIDELITY = 0.95
MAX_DEPTH = 5
MIN_LEAF_SHARE = 0.005
FIT_SAMPLE = 50_000


@dataclass(frozen=True)
class SegmentRules:
    """Threshold rules per segment and how faithful they are.

    Attributes
    ----------
    rules : dict of int to list of str
        Per segment id, the conditions of each leaf assigned to it (a customer matching any
        one is in the segment). A segment no leaf predicts has an empty list.
    fidelity : float
        Share of customers the rules assign to their K-Means segment.
    depth : int
        Depth of the tree.
    tree : sklearn.tree.DecisionTreeClassifier or None
        The fitted tree (predicts segment positions from the features).
    """

    rules: dict[int, list[str]]
    fidelity: float
    depth: int
    tree: DecisionTreeClassifier | None = field(default=None, repr=False, compare=False)

    def lines(self, names: Sequence[str]) -> list[str]:
        """Readable rules, ``conditions -> segment name``, one per leaf, in segment order."""
        return [f"{cond} -> {names[seg]}" for seg, conds in sorted(self.rules.items())
                for cond in conds]


def fit_rules(values: np.ndarray, labels: np.ndarray, features: Sequence[str], k: int,
              seed: int = 0) -> SegmentRules:
    """Fit the shallowest tree (depth 2..MAX_DEPTH) that reaches the target fidelity.

    Examples
    --------
    >>> X = np.array([[1.0, 5.0], [2.0, 6.0], [8.0, 5.0], [9.0, 6.0]] * 50)
    >>> r = fit_rules(X, (X[:, 0] > 5).astype(int), ["Income", "Score"], 2)
    >>> r.fidelity, r.rules[1]
    (1.0, ['Income > 5'])
    """
    n = len(values)
    fit_idx = (np.sort(np.random.default_rng(seed).choice(n, FIT_SAMPLE, replace=False))
               if n > FIT_SAMPLE else slice(None))
    X, y = values[fit_idx], labels[fit_idx]
    min_leaf = max(1, int(MIN_LEAF_SHARE * len(X)))
    best = None
    for depth in range(2, MAX_DEPTH + 1):
        tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=min_leaf, random_state=seed)
        tree.fit(X, y)
        fidelity = float((tree.predict(values) == labels).mean()) if n else 1.0
        best = (tree, fidelity, depth)
        if fidelity >= TARGET_FIDELITY:
            break
    tree, fidelity, depth = best
    return SegmentRules(_leaf_rules(tree, features, k), fidelity, depth, tree)


class RuleAgreement:
    """Observer of the assignment pass: how many customers the rules place as K-Means does.

    Examples
    --------
    >>> from custseg.engines.base import AssignedBatch
    >>> X = np.array([[1.0], [2.0], [8.0], [9.0]] * 50)
    >>> rules = fit_rules(X, (X[:, 0] > 5).astype(int), ["Income"], 2)
    >>> agreement = RuleAgreement(rules)
    >>> agreement.observe(AssignedBatch(None, np.arange(4), X[:4], np.array([0, 0, 1, 0]), np.zeros(4)))
    >>> agreement.result().fidelity
    0.75
    """

    #: What an engine computing natively fills in (:mod:`custseg.engines.base`): agreement of
    #: ``rules.tree`` with the segments.
    native = "rule_agreement"

    def __init__(self, rules: SegmentRules) -> None:
        self.rules = rules
        self.agree = 0
        self.n = 0

    def absorb(self, agree: int, n: int) -> None:
        """Take counts an engine made itself (instead of :meth:`observe`)."""
        self.agree += int(agree)
        self.n += int(n)

    def observe(self, batch: object) -> None:
        X, labels = batch.values, batch.labels
        if compiles(len(X)):  # one compiled walk per row, no masks
            from custseg.engines.rowcounts import tree_agreement

            t = self.rules.tree.tree_
            self.agree += int(tree_agreement(
                np.ascontiguousarray(X, dtype=np.float64), t.feature.astype(np.int64),
                t.threshold, t.children_left.astype(np.int64), t.children_right.astype(np.int64),
                _leaf_classes(self.rules.tree).astype(np.int64), np.ascontiguousarray(labels)))
        else:
            self.agree += int((tree_predict(self.rules.tree, X) == labels).sum())
        self.n += len(labels)

    def result(self) -> SegmentRules:
        """The rules with their fidelity over every customer observed."""
        return replace(self.rules, fidelity=self.agree / self.n if self.n else 1.0)


def tree_predict(tree: DecisionTreeClassifier, X: np.ndarray) -> np.ndarray:
    """``tree.predict(X)`` in NumPy: one comparison of a feature column per split node, the rows
    reaching each leaf found with boolean masks (no per-call validation or per-row walk: many
    times faster on millions of rows). As scikit-learn does, features are compared as float32.

    Examples
    --------
    >>> X = np.array([[1.0], [2.0], [8.0], [9.0]])
    >>> tree = DecisionTreeClassifier(max_depth=1).fit(X, [0, 0, 1, 1])
    >>> tree_predict(tree, np.array([[0.0], [7.5]])).tolist()
    [0, 1]
    """
    t = tree.tree_
    leaf_class = _leaf_classes(tree)
    columns: dict[int, np.ndarray] = {}
    out = np.empty(len(X), dtype=leaf_class.dtype)
    stack: list[tuple[int, np.ndarray | None]] = [(0, None)]  # (node, rows reaching it; None: all)
    while stack:
        node, reach = stack.pop()
        left = t.children_left[node]
        if left < 0:
            out[slice(None) if reach is None else reach] = leaf_class[node]
            continue
        feature = int(t.feature[node])
        if feature not in columns:
            columns[feature] = np.asarray(X[:, feature], dtype=np.float32)
        goes_left = columns[feature] <= t.threshold[node]
        if reach is None:
            stack += [(int(t.children_right[node]), ~goes_left), (int(left), goes_left)]
        else:
            stack += [(int(t.children_right[node]), reach & ~goes_left), (int(left), reach & goes_left)]
    return out


def _leaf_classes(tree: DecisionTreeClassifier) -> np.ndarray:
    """The class each node predicts (its majority), by node."""
    return tree.classes_.take(np.argmax(tree.tree_.value[:, 0, :], axis=1))


def _leaf_rules(tree: DecisionTreeClassifier, features: Sequence[str], k: int) -> dict[int, list[str]]:
    t = tree.tree_
    rules: dict[int, list[str]] = {seg: [] for seg in range(k)}

    def uniform(node: int) -> int | None:
        # The segment every leaf under ``node`` predicts, or None: such subtrees become one rule.
        if t.children_left[node] == -1:
            return int(tree.classes_[int(np.argmax(t.value[node][0]))])
        left, right = uniform(t.children_left[node]), uniform(t.children_right[node])
        return left if left is not None and left == right else None

    def walk(node: int, bounds: dict[int, list[float]]) -> None:
        segment = uniform(node)
        if segment is not None:
            rules[segment].append(_conditions(bounds, features))
            return
        j, threshold = int(t.feature[node]), float(t.threshold[node])
        low, high = bounds.get(j, [-np.inf, np.inf])
        walk(t.children_left[node], {**bounds, j: [low, min(high, threshold)]})
        walk(t.children_right[node], {**bounds, j: [max(low, threshold), high]})

    walk(0, {})
    return rules


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _conditions(bounds: dict[int, list[float]], features: Sequence[str]) -> str:
    parts = []
    for j in sorted(bounds):
        low, high = bounds[j]
        name = features[j]
        if np.isfinite(low) and np.isfinite(high):
            parts.append(f"{_fmt(low)} < {name} <= {_fmt(high)}")
        elif np.isfinite(low):
            parts.append(f"{name} > {_fmt(low)}")
        elif np.isfinite(high):
            parts.append(f"{name} <= {_fmt(high)}")
    return " and ".join(parts) or "all customers"
