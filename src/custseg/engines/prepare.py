"""What a run does to the features before scaling: fill missing cells, transform skewed ones.

A :class:`FeaturePrep` is part of the model: engines apply it to every row before scaling
(:meth:`custseg.engines.base.Engine.use_preparation`), the model file stores it, the seed's
``.pkl`` pipeline carries it (:class:`custseg.engines.preparedscaler.PreparedScaler`), ``custseg
predict`` and ``--previous`` matching apply it. Profiles and names stay in original units:
observers get the filled values, untransformed. Choosing and fitting it on a run's scan is
:mod:`custseg.engines.prepfit`'s (with scikit-learn's scaler); this module is what applying it
needs, so scoring with a saved model never imports scikit-learn.

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

from dataclasses import dataclass

import numpy as np

from custseg.engines.categories import Category
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


def __getattr__(name: str) -> object:
    """``PreparedScaler`` under its former home, for ``.pkl`` files written before it moved to
    :mod:`custseg.engines.preparedscaler` (imported only then: it needs scikit-learn)."""
    if name == "PreparedScaler":
        from custseg.engines.preparedscaler import PreparedScaler

        return PreparedScaler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
