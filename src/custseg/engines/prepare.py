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

3. **scale**: standardise (``--scaler standard``, default), or centre on the median and
   divide by the IQR on the sample (``--scaler robust``). For untransformed and ``log1p``
   features the mean and variance are exact over every valid row (the scan totals both);
   with imputed cells they are combined exactly with the filled value; ``quantile`` features
   take theirs from the sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import skew
from sklearn.preprocessing import StandardScaler

from custseg.engines.kernels import scaled
from custseg.engines.scan import Scan

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
        ``"none"``, ``"log1p"`` or ``"quantile"`` per feature.
    fill : numpy.ndarray
        Value given to a missing cell of each feature (original units); NaN: never filled.
    references : tuple of numpy.ndarray or None
        Per ``quantile`` feature, its :data:`N_QUANTILES` sample quantiles (None otherwise).
    reasons : tuple of str
        Why each feature got its transform (for the report).
    imputed : tuple of int
        Cells filled per feature in the run (exact).

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

    @property
    def identity(self) -> bool:
        """Whether the preparation changes nothing."""
        return all(t == "none" for t in self.transforms) and bool(np.all(np.isnan(self.fill)))

    def filled(self, X: np.ndarray) -> np.ndarray:
        """``X`` with missing cells (NaN) filled; original units."""
        X = np.asarray(X, dtype=np.float64)
        missing = np.isnan(X)
        if not missing.any():
            return X
        return np.where(missing, self.fill, X)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """``X`` filled and transformed (the space the scaler standardises)."""
        out = np.array(self.filled(X), dtype=np.float64, copy=True)
        for j, kind in enumerate(self.transforms):
            if kind == "log1p":
                out[:, j] = np.log1p(np.maximum(out[:, j], 0.0))
            elif kind == "quantile":
                ref = self.references[j]
                out[:, j] = np.interp(out[:, j], ref, np.linspace(0.0, 1.0, len(ref)))
        return out

    def inverse(self, T: np.ndarray) -> np.ndarray:
        """Transformed values back in original units."""
        out = np.array(T, dtype=np.float64, copy=True)
        for j, kind in enumerate(self.transforms):
            if kind == "log1p":
                out[:, j] = np.expm1(out[:, j])
            elif kind == "quantile":
                ref = self.references[j]
                out[:, j] = np.interp(out[:, j], np.linspace(0.0, 1.0, len(ref)), ref)
        return out

    def to_dict(self, features: tuple[str, ...] | list[str]) -> dict:
        """The model file's ``prepare`` block (JSON-ready)."""
        return {"features": [
            {"name": name, "transform": self.transforms[j],
             "fill": None if np.isnan(self.fill[j]) else float(self.fill[j]),
             **({"references": [float(v) for v in self.references[j]]}
                if self.transforms[j] == "quantile" else {})}
            for j, name in enumerate(features)]}

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
        transforms, fill, references = [], [], []
        for item in block["features"]:
            kind = item.get("transform") if isinstance(item, dict) else None
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
        return cls(tuple(transforms), np.array(fill, dtype=np.float64), tuple(references))


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
        mean = np.asarray(mean, dtype=np.float64)
        var = np.maximum(np.asarray(var, dtype=np.float64), 0.0)
        scale = np.sqrt(var)
        scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
        scaler.mean_, scaler.var_, scaler.scale_ = mean, var, scale
        scaler.n_samples_seen_ = np.int64(n)
        scaler.n_features_in_ = len(mean)
        return scaler

    def transform(self, X: object, copy: bool | None = None) -> np.ndarray:
        return scaled(self.prep.forward(np.asarray(X, dtype=np.float64)), self.mean_, self.scale_)

    def inverse_transform(self, X: object, copy: bool | None = None) -> np.ndarray:
        T = np.asarray(X, dtype=np.float64) * self.scale_ + self.mean_
        return self.prep.inverse(T)


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
        g = float(skew(column)) if len(column) > 2 and np.ptp(column) > 0 else 0.0
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
    values = scan.sample.values
    d = values.shape[1]
    missing = np.array(scan.missing or (0,) * d, dtype=np.int64)
    kinds, reasons = choose_transforms(values, scan.low, transform)
    fill = np.full(d, np.nan)
    for j in range(d) if scan.spec.missing == "impute" else ():
        observed = values[:, j][np.isfinite(values[:, j])]
        fill[j] = float(np.median(observed)) if len(observed) else 0.0
    references = tuple(
        np.quantile(values[:, j][np.isfinite(values[:, j])], np.linspace(0, 1, N_QUANTILES))
        if kind == "quantile" else None for j, kind in enumerate(kinds))
    prep = FeaturePrep(kinds, fill, references, reasons, tuple(int(m) for m in missing))
    if prep.identity and scaler == "standard":
        return scan, prep
    filled = prep.filled(values)
    forward = prep.forward(values)
    observed = np.broadcast_to(np.asarray(scan.scaler.n_samples_seen_, dtype=np.float64), (d,))
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
            value = prep.forward(fill[None, :])[0, j]
            n = n_obs + m
            delta = value - mean[j]
            mean[j] = mean[j] + delta * m / n
            var[j] = (var[j] * n_obs + delta * delta * n_obs * m / n) / n
    fitted = PreparedScaler.from_moments(prep, mean, var, scan.n_valid)
    if scaler == "robust":
        q1, median, q3 = np.quantile(forward, [0.25, 0.5, 0.75], axis=0)
        spread = q3 - q1
        spread = np.where(spread > 0, spread, fitted.scale_)
        fitted.mean_, fitted.scale_ = median, spread
    sample = replace(scan.sample, values=filled)
    return replace(scan, scaler=fitted, sample=sample), prep
