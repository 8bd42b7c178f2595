"""Category columns as features (``--categorical Gender``): levels, one-hot encoding, weight.

A categorical feature reaches the engines as level codes (:mod:`custseg.io.levels`). The scan
counts each level over the valid rows (:class:`LevelCounts`, exact on every engine); after it,
the levels are the distinct texts, **sorted** (at most :data:`MAX_LEVELS`, at least 2). Before
scaling, each category becomes one indicator column per level (1 for the customer's level, 0
for the others; a level the model does not know gives all zeros, though ``custseg predict``
rejects such a row first with the reason ``category not seen in training``).

**Weight.** Each indicator is multiplied by :data:`CATEGORY_WEIGHT` = 1/√2 (the scaler divides
it by √2 and does not centre it). Why this rule:

- Numeric features are standardised: one standard deviation apart on one feature is a squared
  distance of 1. Two customers of different levels differ in exactly two indicators, each by
  1/√2, so their squared distance is 2 · 1/2 = **1**: a change of level weighs as much as one
  standard deviation of one numeric feature, whatever the number of levels and however rare a
  level is. (Scaling the indicators to a total variance of 1 instead would put the customers
  of a 1% level about 7 standard deviations from everybody else: a segment of their own.)
- What a category adds to k-means' total inertia is the sum of its indicators' variances,
  ``(1 - Σ p²) / 2`` for level shares ``p``: at most **one half** of a numeric feature's 1
  (Gender on the Mall data, 56% / 44%: 0.25). A category can take part, never outvote the
  numeric features.

Measured on the Mall data (``--categorical Gender``, adjusted Rand index against the plain
K = 5 run): with this weight K = 6 is chosen (weak; the five income/spending segments, the
average one split into its women and its men: ARI 0.75), and with K = 5 forced the segments
are the plain run's (ARI 1.0). With indicators of total variance 1, or plain 0/1 indicators,
K = 10 is chosen (each segment split by Gender; ARI 0.58) and at K = 5 the ARI falls to 0.40
and 0.60: Gender outvotes income and spending.

Missing cells follow ``--missing``: rejected (``missing value``), or, with ``impute``, given
the most frequent level (ties: the first in sorted order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from custseg.exceptions import DataValidationError
from custseg.io.levels import level_code

#: Factor of each one-hot indicator (see the module notes).
CATEGORY_WEIGHT = 1 / math.sqrt(2)
#: The rule in words (``segments.json``, the report).
CATEGORY_RULE = ("one indicator per category, times 1/sqrt(2): customers of two categories are as "
                 "far apart as one standard deviation of one numeric feature, and a category "
                 "carries at most half the variance of one numeric feature")
#: Most levels a categorical feature may have.
MAX_LEVELS = 20
#: Most distinct levels counted per column; beyond, the scan only knows there are too many.
MAX_TRACKED = 1000


@dataclass(frozen=True, eq=False)
class Category:
    """One categorical feature's encoding.

    Attributes
    ----------
    name : str
        The feature (its column).
    levels : tuple of str
        Sorted level texts; indicator ``i`` is ``levels[i]``.
    weight : float
        Factor of each indicator (:data:`CATEGORY_WEIGHT`).

    Examples
    --------
    >>> c = Category("Gender", ("Female", "Male"))
    >>> c.indicators(np.array([level_code("Male"), level_code("Female"), 1.0])).tolist()
    [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
    """

    name: str
    levels: tuple[str, ...]
    weight: float = CATEGORY_WEIGHT

    @property
    def codes(self) -> np.ndarray:
        """Each level's code, in level order."""
        return np.array([level_code(v) for v in self.levels], dtype=np.float64)

    def indicators(self, codes: np.ndarray) -> np.ndarray:
        """One 0/1 column per level for each code (all zeros for an unknown code or NaN)."""
        return (np.asarray(codes, dtype=np.float64)[:, None] == self.codes[None, :]).astype(np.float64)

    def to_dict(self) -> dict:
        """The model file's entry (beside the feature's ``transform: onehot``)."""
        return {"levels": list(self.levels), "weight": float(self.weight)}


class LevelCounts:
    """Valid rows per level code of each categorical feature, batch by batch (exact)."""

    def __init__(self, n: int) -> None:
        self.counts: list[dict[float, int] | None] = [{} for _ in range(n)]

    def add(self, codes: np.ndarray) -> None:
        """Fold in the code columns of a batch's valid rows (NaN: missing, not counted)."""
        for j, counts in enumerate(self.counts):
            if counts is None:
                continue
            column = codes[:, j]
            found, n = np.unique(column[~np.isnan(column)], return_counts=True)
            for code, count in zip(found.tolist(), n.tolist(), strict=True):
                counts[code] = counts.get(code, 0) + count
            if len(counts) > MAX_TRACKED:
                self.counts[j] = None

    def result(self, texts: dict[float, str]) -> tuple[dict[str, int] | None, ...]:
        """Per feature, rows per level text, sorted by text (None: too many levels)."""
        out = []
        for counts in self.counts:
            named = None if counts is None else [(texts.get(code), n) for code, n in counts.items()]
            out.append(None if named is None or any(t is None for t, _ in named)
                       else dict(sorted(named)))
        return tuple(out)


def check_levels(features: Sequence[str], levels: Sequence[dict[str, int] | None],
                 source: str) -> None:
    """Raise unless every categorical feature has 2 to :data:`MAX_LEVELS` levels.

    Examples
    --------
    >>> check_levels(["Gender"], [{"Female": 3, "Male": 2}], "x.csv")
    >>> try:
    ...     check_levels(["Age"], [{str(a): 1 for a in range(51)}], "x.csv")
    ... except DataValidationError as exc:
    ...     print(str(exc).split(";")[0])
    Categorical feature 'Age' has 51 distinct values in x.csv, more than 20
    """
    for feature, counts in zip(features, levels, strict=True):
        if counts is None or len(counts) > MAX_LEVELS:
            many = f"more than {MAX_TRACKED:,}" if counts is None else f"{len(counts):,}"
            raise DataValidationError(
                f"Categorical feature {feature!r} has {many} distinct values in {source}, more "
                f"than {MAX_LEVELS}; --categorical is for columns with a few categories (give a "
                "numeric column with --features).")
        if len(counts) < 2:
            raise DataValidationError(
                f"Categorical feature {feature!r} has {len(counts)} category in the valid rows "
                f"of {source}, so it cannot separate segments. Remove it from --categorical.")


def encode(features: Sequence[str], levels: Sequence[dict[str, int]], impute: bool
           ) -> tuple[tuple[Category, ...], np.ndarray]:
    """The categories' encodings (levels sorted) and each one's fill code: with ``impute``, the
    most frequent level's (ties: the first in sorted order), else NaN.

    Examples
    --------
    >>> cats, fill = encode(["Gender"], [{"Female": 112, "Male": 88}], impute=True)
    >>> cats[0].levels, bool(fill[0] == level_code("Female"))
    (('Female', 'Male'), True)
    """
    categories = tuple(Category(f, tuple(sorted(counts))) for f, counts in zip(features, levels,
                                                                              strict=True))
    fill = np.full(len(categories), np.nan)
    for j, counts in enumerate(levels) if impute else ():
        most = max(sorted(counts), key=lambda level: counts[level])
        fill[j] = level_code(most)
    return categories, fill
