"""Extreme customers: flagged, fitted with the rest, never deciding K or owning a segment.

The rule, after the features' transform (:mod:`custseg.engines.prepare`) and scaling: a
customer is an **outlier** when some feature lies beyond the far-out fences of Tukey's rule,
``Q1 - 3·IQR`` or ``Q3 + 3·IQR``, with the quartiles of the run's sample (every customer up to
200,000). The IQR is floored at :data:`MIN_IQR` standard deviations (a normal distribution's
IQR), so a feature where most customers share one value (no cash advance at all) does not
flag everyone else. On standard-normal data the rule flags fewer than 1 in 100,000 customers per
feature.

What follows from the flag:

- K is chosen, and k-means++ starts, on the sample *without* its outliers, so a handful of
  extreme customers cannot exclude a K (a segment under ``--min-segment-share``) or be handed a
  centroid of their own;
- the Lloyd passes and the assignment use every customer: outliers are segmented with the rest;
- the clustered file gets an ``outlier`` column (1 or 0) when the run's sample holds any outlier,
  ``segments.json`` and the report count them (exactly, over every customer).

``atypical`` (from ``custseg predict``) keeps its own meaning: farther from the segment's centre
than 99% of its training customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import StandardScaler

from custseg.engines.kernels import compiles

#: Fences at this many IQRs beyond the quartiles (Tukey's "far out").
FENCE_IQR = 3.0
#: Smallest IQR used, in standard deviations (the IQR of a normal distribution).
MIN_IQR = 1.349


@dataclass(frozen=True)
class OutlierRule:
    """Per-feature fences in the scaled space (see the module notes).

    Examples
    --------
    >>> Z = np.column_stack([np.linspace(-1, 1, 101), np.zeros(101)])
    >>> rule = OutlierRule.fit(Z)
    >>> rule.flag(np.array([[0.0, 0.0], [9.0, 0.0], [0.0, -6.0]])).tolist()
    [False, True, True]
    """

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, Z: np.ndarray) -> OutlierRule:
        """Fences from scaled customers ``Z`` (rows = customers)."""
        q1, q3 = np.quantile(Z, [0.25, 0.75], axis=0) if len(Z) else (np.zeros(Z.shape[1]),) * 2
        iqr = np.maximum(q3 - q1, MIN_IQR)
        return cls(q1 - FENCE_IQR * iqr, q3 + FENCE_IQR * iqr)

    def flag(self, Z: np.ndarray) -> np.ndarray:
        """Whether each scaled customer is an outlier."""
        # Column by column: eight times faster than np.any(..., axis=1) on two columns.
        flags = np.zeros(len(Z), dtype=bool)
        for j in range(Z.shape[1]):
            flags |= Z[:, j] < self.low[j]
            flags |= Z[:, j] > self.high[j]
        return flags

    def to_dict(self) -> dict:
        """For ``segments.json``: the rule in words and the fences (scaled units)."""
        return {"rule": (f"some feature, after transform and scaling, beyond Q1 - {FENCE_IQR:g} IQR "
                         f"or Q3 + {FENCE_IQR:g} IQR (IQR at least {MIN_IQR} standard deviations)"),
                "low": [float(v) for v in self.low], "high": [float(v) for v in self.high]}


class OutlierCounter:
    """Observer of the assignment pass: outliers per segment, over every customer.

    Parameters
    ----------
    rule : OutlierRule
        The fences.
    scaler : sklearn.preprocessing.StandardScaler
        The fitted scaler (original units to the scaled space: its ``transform``).
    k : int
        Segments.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from custseg.engines.base import AssignedBatch
    >>> counter = OutlierCounter(OutlierRule(np.array([-3.0]), np.array([3.0])),
    ...                          StandardScaler().fit([[8.0], [12.0]]), 2)
    >>> counter.observe(AssignedBatch(None, np.arange(3), np.array([[10.0], [17.0], [0.0]]),
    ...                               np.array([0, 1, 1]), np.zeros(3)))
    >>> counter.per_segment.tolist()  # 17 and 0 scale to 3.5 and -5: both beyond the fences
    [0, 2]
    """

    def __init__(self, rule: OutlierRule, scaler: StandardScaler, k: int) -> None:
        self.rule, self.scaler = rule, scaler
        self.per_segment = np.zeros(k, dtype=np.int64)

    def observe(self, batch: object) -> None:
        """Count one batch (:class:`custseg.engines.base.AssignedBatch`)."""
        X, labels = batch.values, batch.labels
        # A plain scaler's (x - mean) / scale in one compiled pass, no scaled copy (a scaler of
        # prepared features transforms first: its own transform).
        if type(self.scaler) is StandardScaler and compiles(len(X)):
            from custseg.engines.rowcounts import fenced_counts

            fenced_counts(np.ascontiguousarray(X, dtype=np.float64), self.scaler.mean_,
                          self.scaler.scale_, self.rule.low, self.rule.high,
                          np.ascontiguousarray(labels), self.per_segment)
            return
        flags = self.rule.flag(self.scaler.transform(X))
        self.per_segment += np.bincount(labels[flags], minlength=len(self.per_segment))

    @property
    def total(self) -> int:
        """Outliers over every customer."""
        return int(self.per_segment.sum())
