"""Classic RFM: 1–5 quintile scores for recency, frequency and monetary value, and named groups.

Scores are quintiles of each customer's rank among all customers. Ties share a score: a
customer's rank is the number of customers strictly below its value (the lowest rank of its
ties), and the score is ``1 + floor(5 * rank / n)``, so equal values always get equal scores and
the result depends on nothing but the values. Recency is reversed (R = 5: the most recent fifth).
With many ties (most customers bought once) some scores stay unused: F goes from 1 straight to 3
when half the customers share the lowest frequency.

The named groups (:data:`RFM_GROUPS`) place each customer on the usual R × F grid, first matching
row wins (every cell of the 5 × 5 grid is covered):

=====================  =========  =========
group                  R          F
=====================  =========  =========
Champions              5          4–5
Loyal                  3–4        4–5
Potential loyalists    4–5        2–3
New customers          5          1
Promising              4          1
Need attention         3          3
About to sleep         3          1–2
Can't lose them        1–2        5
At risk                1–2        3–4
Hibernating            2          1–2
Lost                   1          1–2
=====================  =========  =========
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: Column names added to the customer table.
SCORE_COLUMNS = ("R", "F", "M", "RFM_group")
#: (group, R scores, F scores), first match wins.
RFM_GROUPS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("Champions", (5,), (4, 5)),
    ("Loyal", (3, 4), (4, 5)),
    ("Potential loyalists", (4, 5), (2, 3)),
    ("New customers", (5,), (1,)),
    ("Promising", (4,), (1,)),
    ("Need attention", (3,), (3,)),
    ("About to sleep", (3,), (1, 2)),
    ("Can't lose them", (1, 2), (5,)),
    ("At risk", (1, 2), (3, 4)),
    ("Hibernating", (2,), (1, 2)),
    ("Lost", (1,), (1, 2)),
)
GROUP_NAMES: tuple[str, ...] = tuple(name for name, _, _ in RFM_GROUPS)


def quintile_scores(values: np.ndarray, reverse: bool = False) -> np.ndarray:
    """1–5 scores by quintile of rank; ties share the score of their lowest rank.

    Parameters
    ----------
    values : numpy.ndarray
        One value per customer.
    reverse : bool, default False
        Score the lowest values 5 (recency: fewest days since the last purchase is best).

    Examples
    --------
    >>> quintile_scores(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).tolist()
    [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    >>> quintile_scores(np.array([1, 1, 1, 1, 1, 1, 2, 3, 4, 5])).tolist()
    [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    >>> quintile_scores(np.array([10, 20, 30, 40, 50]), reverse=True).tolist()
    [5, 4, 3, 2, 1]
    """
    x = -np.asarray(values, dtype=np.float64) if reverse else np.asarray(values, dtype=np.float64)
    n = x.size
    if n == 0:
        return np.empty(0, dtype=np.int8)
    below = np.searchsorted(np.sort(x, kind="stable"), x, side="left")
    return (1 + (5 * below) // n).astype(np.int8)


def rfm_groups(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    """The named group of each customer from its R and F scores (:data:`RFM_GROUPS`).

    Examples
    --------
    >>> rfm_groups(np.array([5, 1, 2, 4]), np.array([5, 1, 5, 1])).tolist()
    ['Champions', 'Lost', "Can't lose them", 'Promising']
    """
    out = np.full(r.shape, "", dtype=object)
    for name, rs, fs in RFM_GROUPS:
        hit = (out == "") & np.isin(r, rs) & np.isin(f, fs)
        out[hit] = name
    return out


def rfm_columns(recency: np.ndarray, frequency: np.ndarray, monetary: np.ndarray
                ) -> dict[str, pa.Array]:
    """R, F, M scores and the named group, as Arrow columns.

    Examples
    --------
    >>> cols = rfm_columns(np.array([1, 300]), np.array([9, 1]), np.array([500.0, 5.0]))
    >>> [cols[c].to_pylist() for c in SCORE_COLUMNS]
    [[3, 1], [3, 1], [3, 1], ['Need attention', 'Lost']]
    """
    r = quintile_scores(recency, reverse=True)
    f = quintile_scores(frequency)
    m = quintile_scores(monetary)
    return {"R": pa.array(r), "F": pa.array(f), "M": pa.array(m),
            "RFM_group": pa.array(rfm_groups(r, f), pa.string())}
