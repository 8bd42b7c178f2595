"""What a run does to the features before scaling: fill missing cells, transform skewed ones.

A :class:`FeaturePrep` is part of the model: engines apply it to every row before scaling
(:meth:`custseg.engines.base.Engine.use_preparation`), the model file stores it, the seed's
``.pkl`` pipeline carries it (:class:`PreparedScaler`), ``custseg predict`` and ``--previous``
matching apply it. Profiles and names stay in original units: observers get the filled values,
untransformed.

Per feature, in this order:

1. **fill** (``--missing impute``): an empty cell takes the feature's median, computed on the
   run's sample of valid rows (every valid row up to 200,000); every feature gets one, so
   ``custseg predict`` fills any feature's empty cells the same way. With ``--missing reject`` (the
   default), a row with an empty feature cell is rejected as before.
2. **transform** (``--transform``):

   - ``auto`` (default): ``log1p`` for a feature whose values are all >= 0 and whose skewness
     (Fisher, on the sample) is above :data:`SKEW_LIMIT`; nothing otherwise;
   - ``log``: ``log1p`` for every non-negative feature (others untouched);
   - ``quantile``: each feature mapped to its quantile (0..1) on the sample, by linear
     interpolation between :data:`N_QUANTILES` stored references;
   - ``none``: nothing (the Fränti benchmark sets are geometry, not spend).

3. **categories** (``--categorical``): each categorical feature (the last features; its values
   are level codes) becomes one weighted indicator per level (:mod:`custseg.engines.categories`:
   levels, weight and why); ``inverse`` gives back the numeric features only.
4. **scale**: standardise (``--scaler standard``, default), or centre on the median and
   divide by the IQR on the sample (``--scaler robust``). For untransformed and ``log1p``
   features the mean and variance are exact over every valid row (the scan totals both);
   with imputed cells they are combined exactly with the filled value; ``quantile`` features
   take theirs from the sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.preprocessing import StandardScaler

from custseg.engines.categories import Category, encode
from custseg.engines.columns import ColumnPlan
from custseg.engines.kernels import scaled
from custseg.engines.scan import Scan, scaler_from_moments
from custseg.io.levels import level_code, level_codes

#: ``--transform auto`` applies log1p to non-negative features more skewed than this.
SKEW_LIMIT = 1.0
#: References kept per ``quantile`` feature.
N_QUANTILES = 101


@dataclass(frozen=True, eq=False)
class FeaturePrep:
    """Fill and transform per feature (see the module notes).

    Attributes
    ----------
    transforms : tuple of str
        ``"none"``, ``"log1p"`` or ``"quantile"`` per numeric feature.
    fill : numpy.ndarray
        Value given to a missing cell of each feature (original units; a category's: a level
        code), numeric features first; NaN: never filled.
    references : tuple of numpy.ndarray or None
        Per ``quantile`` feature, its :data:`N_QUANTILES` sample quantiles (None otherwise).
    reasons : tuple of str
        Why each feature got its transform (for the report).
    imputed : tuple of int
        Cells filled per feature in the run (exact).
    categories : tuple of Category
        The categorical features (after the numeric ones), one-hot encoded after the transforms.

    Examples
    --------
    >>> prep = FeaturePrep(("log1p", "none"), np.array([np.nan, 5.0]))
    >>> prep.forward(np.array([[0.0, np.nan], [np.e - 1, 2.0]])).round(6).tolist()
    [[0.0, 5.0], [1.0, 2.0]]
    >>> prep.inverse(np.array([[1.0, 2.0]])).round(6).tolist()
    [[1.718282, 2.0]]
    """

    transforms: tuple[str, ...]
    fill: np.ndarray
    references: tuple[np.ndarray | None, ...] | None = None
    reasons: tuple[str, ...] = ()
    imputed: tuple[int, ...] = ()
    categories: tuple[Category, ...] = ()

    @property
    def identity(self) -> bool:
        """Whether the preparation changes nothing."""
        return (all(t == "none" for t in self.transforms) and bool(np.all(np.isnan(self.fill)))
                and not self.categories)

    @property
    def n_numeric(self) -> int:
        """Numeric features (the first columns of the values)."""
        return len(self.transforms)

    @property
    def width(self) -> int:
        """Columns after the preparation (the scaled space's dimension)."""
        return self.n_numeric + sum(len(c.levels) for c in self.categories)

    def filled(self, X: np.ndarray) -> np.ndarray:
        """``X`` with missing cells (NaN) filled; original units."""
        X = np.asarray(X, dtype=np.float64)
        missing = np.isnan(X)
        if not missing.any():
            return X
        return np.where(missing, self.fill, X)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """``X`` filled and transformed (the space the scaler standardises): numeric features,
        then each category's indicators."""
        filled = self.filled(X)
        d = self.n_numeric
        out = np.array(filled[:, :d], dtype=np.float64, copy=True)
        if self.categories:
            out = np.hstack([out, *(c.indicators(filled[:, d + j])
                                    for j, c in enumerate(self.categories))])
        for j, kind in enumerate(self.transforms):
            if kind == "log1p":
                out[:, j] = np.log1p(np.maximum(out[:, j], 0.0))
            elif kind == "quantile":
                ref = self.references[j]
                out[:, j] = np.interp(out[:, j], ref, np.linspace(0.0, 1.0, len(ref)))
        return out

    def inverse(self, T: np.ndarray) -> np.ndarray:
        """Transformed values back in original units (the numeric features only: a category's
        mix per segment is in the profile)."""
        out = np.array(np.asarray(T)[:, :self.n_numeric], dtype=np.float64, copy=True)
        for j, kind in enumerate(self.transforms):
            if kind == "log1p":
                out[:, j] = np.expm1(out[:, j])
            elif kind == "quantile":
                ref = self.references[j]
                out[:, j] = np.interp(out[:, j], np.linspace(0.0, 1.0, len(ref)), ref)
        return out

    def to_dict(self, features: tuple[str, ...] | list[str]) -> dict:
        """The model file's ``prepare`` block (JSON-ready)."""
        d = self.n_numeric
        texts = {level_code(v): v for c in self.categories for v in c.levels}
        return {"features": [
            {"name": name, "transform": self.transforms[j],
             "fill": None if np.isnan(self.fill[j]) else float(self.fill[j]),
             **({"references": [float(v) for v in self.references[j]]}
                if self.transforms[j] == "quantile" else {})}
            for j, name in enumerate(features[:d])] + [
            {"name": name, "transform": "onehot",
             "fill": None if np.isnan(self.fill[d + j]) else texts[float(self.fill[d + j])],
             **self.categories[j].to_dict()}
            for j, name in enumerate(features[d:])]}

    @classmethod
    def from_dict(cls, block: object, n_features: int) -> FeaturePrep:
        """Read a model file's ``prepare`` block.

        Raises
        ------
        ValueError
            The block is malformed (the model reader turns it into a model-file error).
        """
        if not isinstance(block, dict) or not isinstance(block.get("features"), list) \
                or len(block["features"]) != n_features:
            raise ValueError(f"prepare.features must list the {n_features} features")
        transforms, fill, references, categories, category_fill = [], [], [], [], []
        for item in block["features"]:
            kind = item.get("transform") if isinstance(item, dict) else None
            if kind == "onehot":
                categories.append(_category_from_dict(item))
                level = item.get("fill")
                if level is not None and level not in categories[-1].levels:
                    raise ValueError("prepare: a category's fill is not one of its levels")
                category_fill.append(np.nan if level is None else level_code(level))
                continue
            if categories:
                raise ValueError("prepare: categorical features come after the numeric ones")
            if kind not in ("none", "log1p", "quantile"):
                raise ValueError(f"prepare: unknown transform {kind!r}")
            value = item.get("fill")
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not np.isfinite(value)):
                raise ValueError("prepare: a fill value is not a finite number")
            ref = None
            if kind == "quantile":
                raw = item.get("references")
                ref = np.asarray(raw if isinstance(raw, list) else [], dtype=np.float64)
                if len(ref) < 2 or not np.all(np.isfinite(ref)) or np.any(np.diff(ref) < 0):
                    raise ValueError("prepare: quantile references must be increasing numbers")
            transforms.append(kind)
            fill.append(np.nan if value is None else float(value))
            references.append(ref)
        return cls(tuple(transforms), np.array(fill + category_fill, dtype=np.float64),
                   tuple(references), categories=tuple(categories))

    def frame_values(self, frame: object) -> np.ndarray:
        """A data frame's feature columns (in feature order) as the values the preparation
        takes: numbers, and each category's cells as level codes."""
        import pandas as pd
        import pyarrow as pa

        d = self.n_numeric
        frame = pd.DataFrame(frame)
        out = np.empty((len(frame), frame.shape[1]), dtype=np.float64)
        out[:, :d] = frame.iloc[:, :d].to_numpy(dtype=np.float64, na_value=np.nan)
        for j in range(d, frame.shape[1]):
            column = frame.iloc[:, j]
            if pd.api.types.is_float_dtype(column.dtype):  # level codes already (custseg predict)
                codes = column.to_numpy(dtype=np.float64, na_value=np.nan)
                if np.isin(codes[np.isfinite(codes)], self.categories[j - d].codes).all():
                    out[:, j] = codes
                    continue
            cells = column.astype("string").to_numpy(dtype=object, na_value=None)
            out[:, j] = level_codes(pa.array(cells, pa.string()))[0]
        return out


def _category_from_dict(item: dict) -> Category:
    levels, weight = item.get("levels"), item.get("weight")
    if (not isinstance(levels, list) or len(levels) < 2
            or not all(isinstance(v, str) and v for v in levels) or levels != sorted(set(levels))):
        raise ValueError("prepare: a category's levels must be distinct sorted texts (2 or more)")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 10:
        raise ValueError("prepare: a category's weight must be a number above 0")
    return Category(str(item.get("name")), tuple(levels), float(weight))


class PreparedScaler(StandardScaler):
    """A fitted StandardScaler of the prepared features that takes original units: its
    ``transform`` fills, transforms and standardises, ``inverse_transform`` goes back to
    original units. It is the ``scaler`` step of the seed's ``.pkl`` pipeline when a run
    transformed or imputed features (loading that file needs custseg installed).

    Examples
    --------
    >>> s = PreparedScaler.from_moments(FeaturePrep(("log1p",), np.array([np.nan])),
    ...                                 np.array([1.0]), np.array([4.0]), 10)
    >>> s.transform(np.array([[np.e - 1]])).tolist(), s.inverse_transform([[0.0]]).round(4).tolist()
    ([[0.0]], [[1.7183]])
    """

    prep: FeaturePrep

    @classmethod
    def from_moments(cls, prep: FeaturePrep, mean: np.ndarray, var: np.ndarray,
                     n: int) -> PreparedScaler:
        """A fitted scaler from the prepared features' mean and population variance."""
        scaler = cls()
        scaler.prep = prep
        # The fitted attributes exactly as scan.scaler_from_moments leaves them.
        scaler.__dict__.update(vars(scaler_from_moments(n, mean, var)))
        return scaler

    def transform(self, X: object, copy: bool | None = None) -> np.ndarray:
        if self.prep.categories and hasattr(X, "iloc"):  # a data frame: category cells as text
            X = self.prep.frame_values(X)
        return scaled(self.prep.forward(np.asarray(X, dtype=np.float64)), self.mean_, self.scale_)

    def inverse_transform(self, X: object, copy: bool | None = None) -> np.ndarray:
        T = np.asarray(X, dtype=np.float64) * self.scale_ + self.mean_
        return self.prep.inverse(T)


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
