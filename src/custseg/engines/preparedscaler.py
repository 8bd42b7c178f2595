"""The seed's ``.pkl`` pipeline's scaler step when a run prepared its features: a fitted
scikit-learn ``StandardScaler`` that takes original units through the run's
:class:`~custseg.engines.prepare.FeaturePrep`."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from sklearn.preprocessing import StandardScaler

from custseg.engines.kernels import scaled
from custseg.engines.scan import scaler_from_moments


class Preparation(Protocol):
    """What the scaler uses of a :class:`~custseg.engines.prepare.FeaturePrep` (named
    structurally: :mod:`custseg.engines.prepare` finds this class for old pickles)."""

    categories: tuple

    def forward(self, X: np.ndarray) -> np.ndarray: ...

    def inverse(self, T: np.ndarray) -> np.ndarray: ...

    def frame_values(self, frame: object) -> np.ndarray: ...


class PreparedScaler(StandardScaler):
    """A fitted StandardScaler of the prepared features that takes original units: its
    ``transform`` fills, transforms and standardises, ``inverse_transform`` goes back to
    original units. It is the ``scaler`` step of the seed's ``.pkl`` pipeline when a run
    transformed or imputed features (loading that file needs custseg installed).

    Examples
    --------
    >>> from custseg.engines.prepare import FeaturePrep
    >>> s = PreparedScaler.from_moments(FeaturePrep(("log1p",), np.array([np.nan])),
    ...                                 np.array([1.0]), np.array([4.0]), 10)
    >>> s.transform(np.array([[np.e - 1]])).tolist(), s.inverse_transform([[0.0]]).round(4).tolist()
    ([[0.0]], [[1.7183]])
    """

    prep: Preparation

    @classmethod
    def from_moments(cls, prep: Preparation, mean: np.ndarray, var: np.ndarray,
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
