"""Features: the numeric matrix to cluster, checked, and the scaler that puts it on one scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import StandardScaler

from custseg.data.validate import ValidatedTable
from custseg.exceptions import ConfigError, DataValidationError

#: Scalers by the name options use. Standardising gives income (k$) and a 1-100 score equal
#: weight in the distance; without it the wider-ranged feature would decide the segments alone.
SCALERS = {"standard": StandardScaler}


@dataclass(frozen=True)
class FeatureMatrix:
    """Feature values of the clean rows, in original units.

    Attributes
    ----------
    values : numpy.ndarray
        float64, shape (n_rows, n_features), no NaN or infinity.
    names : tuple of str
        Feature names, in column order.
    """

    values: np.ndarray
    names: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.values.shape[0])


def make_scaler(kind: str = "standard") -> StandardScaler:
    """A new, unfitted scaler of the named kind.

    Examples
    --------
    >>> make_scaler()
    StandardScaler()
    """
    try:
        return SCALERS[kind]()
    except KeyError:
        raise ConfigError(f"Unknown scaling {kind!r}. Use one of: {', '.join(SCALERS)}.") from None


def feature_matrix(validated: ValidatedTable) -> FeatureMatrix:
    """The matrix to cluster, after checking each feature can separate customers.

    Raises
    ------
    DataValidationError
        If a feature has the same value for every valid row.
    """
    values = validated.values
    for j, name in enumerate(validated.features):
        column = values[:, j]
        if column.size and np.all(column == column[0]):
            raise DataValidationError(
                f"Feature {name!r} has the same value ({column[0]:g}) in all {column.size} valid "
                f"rows of {validated.source.name}, so it cannot separate segments. "
                "Remove it from --features."
            )
    return FeatureMatrix(values=values, names=validated.features)


def check_enough_rows(n_rows: int, k: int, source_name: str) -> None:
    """Raise when there are fewer valid rows than segments asked for."""
    if n_rows < k:
        raise DataValidationError(
            f"Only {n_rows} valid row(s) in {source_name}, fewer than K={k} segments. "
            "Use a smaller --k, or check rejected_rows.csv."
        )
