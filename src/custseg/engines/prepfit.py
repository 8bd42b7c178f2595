"""Fitting a run's feature preparation on its scan: the transforms chosen, the fill values, and
the scaler that takes original units (:class:`~custseg.engines.preparedscaler.PreparedScaler`).
The preparation itself, and applying it, is :mod:`custseg.engines.prepare`'s (the policy is
described there)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from custseg.engines.categories import encode
from custseg.engines.columns import ColumnPlan
from custseg.engines.prepare import N_QUANTILES, SKEW_LIMIT, FeaturePrep
from custseg.engines.preparedscaler import PreparedScaler
from custseg.engines.scan import Scan


def skewness(values: np.ndarray) -> float:
    """Sample skewness (the biased moment estimator, as ``scipy.stats.skew``): NaN for a
    constant column.

    Computed here rather than by SciPy, whose ``stats`` package alone takes longer to import
    than a 200-row run takes to segment.

    Examples
    --------
    >>> round(skewness(np.array([1.0, 2.0, 3.0, 10.0])), 4)
    1.0182
    """
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean()
    centred = values - mean
    squared = centred ** 2
    m2 = squared.mean()
    m3 = (squared * centred).mean()
    if m2 <= (np.finfo(np.float64).eps * mean) ** 2:  # equal values up to rounding
        return float("nan")
    return float(m3 / m2 ** 1.5)


def choose_transforms(values: np.ndarray, low: np.ndarray, mode: str
                      ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each feature's transform under ``mode``, and why (from the sample's ``values``, NaN
    ignored, and each feature's exact minimum ``low``).

    Examples
    --------
    >>> x = np.column_stack([np.exp(np.linspace(0, 8, 50)), np.linspace(0, 1, 50)])
    >>> choose_transforms(x, x.min(axis=0), "auto")[0]
    ('log1p', 'none')
    """
    d = values.shape[1]
    if mode == "none":
        return ("none",) * d, ("--transform none",) * d
    kinds, reasons = [], []
    for j in range(d):
        column = values[:, j][np.isfinite(values[:, j])]
        g = skewness(column) if len(column) > 2 and np.ptp(column) > 0 else 0.0
        if mode == "quantile":
            kinds.append("quantile")
            reasons.append(f"--transform quantile (skewness {g:.2f})")
        elif low[j] < 0:
            kinds.append("none")
            reasons.append(f"has negative values (skewness {g:.2f})")
        elif mode == "log" or g > SKEW_LIMIT:
            kinds.append("log1p")
            reasons.append(f"skewness {g:.2f} > {SKEW_LIMIT:g}" if mode == "auto" else
                           f"--transform log (skewness {g:.2f})")
        else:
            kinds.append("none")
            reasons.append(f"skewness {g:.2f} <= {SKEW_LIMIT:g}")
    return tuple(kinds), tuple(reasons)


def prepare_scan(scan: Scan, transform: str, scaler: str = "standard") -> tuple[Scan, FeaturePrep]:
    """The scan with its sample filled and its scaler taking original units through the
    features' preparation, and the preparation; the scan itself when nothing is to be done
    (then every bit is as before).

    With ``scaler="robust"`` (``--scaler robust``), each prepared feature is centred on its
    median and divided by its interquartile range, both on the sample (a feature whose IQR is
    0 is divided by its standard deviation instead, or 1 if that is 0 too)."""
    d = scan.spec.n_numeric
    values = scan.sample.values[:, :d]
    missing = np.array(scan.missing or (0,) * values.shape[1], dtype=np.int64)
    kinds, reasons = choose_transforms(values, scan.low[:d], transform)
    fill = np.full(d, np.nan)
    categories, category_fill = encode(scan.spec.features[d:], scan.levels,
                                       scan.spec.missing == "impute")
    for j in range(d) if scan.spec.missing == "impute" else ():
        observed = values[:, j][np.isfinite(values[:, j])]
        fill[j] = float(np.median(observed)) if len(observed) else 0.0
    references = tuple(
        np.quantile(values[:, j][np.isfinite(values[:, j])], np.linspace(0, 1, N_QUANTILES))
        if kind == "quantile" else None for j, kind in enumerate(kinds))
    prep = FeaturePrep(kinds, np.concatenate([fill, category_fill]), references, reasons,
                       tuple(int(m) for m in missing), categories)
    if prep.identity and scaler == "standard":
        return scan, prep
    filled = prep.filled(scan.sample.values)
    forward = prep.forward(filled)[:, :d]
    observed = np.broadcast_to(np.asarray(scan.scaler.n_samples_seen_, dtype=np.float64),
                               (len(scan.spec.features),))[:d]
    mean, var = np.empty(d), np.empty(d)
    for j, kind in enumerate(kinds):
        if kind == "quantile":
            mean[j], var[j] = forward[:, j].mean(), forward[:, j].var()
            continue
        moments = scan.log_scaler if kind == "log1p" else scan.scaler
        if moments is None:  # an engine that did not total log1p moments: the sample's
            mean[j], var[j] = forward[:, j].mean(), forward[:, j].var()
            continue
        mean[j], var[j] = moments.mean_[j], moments.var_[j]
        if missing[j]:  # the filled cells: missing[j] rows at one value, variance 0
            n_obs, m = observed[j], float(missing[j])
            value = prep.forward(prep.fill[None, :])[0, j]
            n = n_obs + m
            delta = value - mean[j]
            mean[j] = mean[j] + delta * m / n
            var[j] = (var[j] * n_obs + delta * delta * n_obs * m / n) / n
    # Indicators: not centred, divided by 1 / weight (engines.categories); var_ is that squared.
    weights = np.concatenate([np.full(len(c.levels), c.weight) for c in categories] or [[]])
    mean = np.concatenate([mean, np.zeros(len(weights))])
    var = np.concatenate([var, 1.0 / weights ** 2])
    fitted = PreparedScaler.from_moments(prep, mean, var, scan.n_valid)
    if scaler == "robust":
        q1, median, q3 = np.quantile(forward, [0.25, 0.5, 0.75], axis=0)
        spread = q3 - q1
        spread = np.where(spread > 0, spread, fitted.scale_[:d])
        fitted.mean_[:d], fitted.scale_[:d] = median, spread
    sample = replace(scan.sample, values=filled)
    # Each category is profiled as a text column of its levels (its shares per segment).
    plans = {**scan.plans, **{column: ColumnPlan("text", c.levels) for column, c in
                              zip(scan.spec.feature_columns[d:], categories, strict=True)}}
    return replace(scan, scaler=fitted, sample=sample, plans=plans), prep
