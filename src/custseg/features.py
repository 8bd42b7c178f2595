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
    """The matrix to cluster: the validated feature values, named."""
    return FeatureMatrix(values=validated.values, names=validated.features)


def check_features(features: FeatureMatrix, k: int, validated: ValidatedTable) -> None:
    """Raise unless ``features`` can hold ``k`` segments.

    Raises
    ------
    DataValidationError
        If there are fewer valid rows than ``k``, or a feature has one value for every row.
    """
    name = validated.source.name
    rejected = f" ({len(validated.rejects)} rejected)" if len(validated.rejects) else ""
    if features.n_rows < k:
        raise DataValidationError(
            f"Only {features.n_rows} valid row(s) in {name}{rejected}, fewer than K={k} segments. "
            "Use a smaller --k, or fix the rejected rows."
        )
    values = features.values
    for j, feature in enumerate(features.names):
        column = values[:, j]
        if column.size > 1 and np.all(column == column[0]):
            raise DataValidationError(
                f"Feature {feature!r} has the same value ({column[0]:g}) in all {column.size} valid "
                f"rows of {name}, so it cannot separate segments. Remove it from --features."
            )


def check_distinct(features: FeatureMatrix, k: int, sizes: np.ndarray, source_name: str) -> None:
    """Raise when K-Means left a segment empty: there are fewer distinct customers than K."""
    if np.any(sizes == 0):
        distinct = len(np.unique(features.values, axis=0))
        raise DataValidationError(
            f"Only {distinct} distinct combination(s) of feature values in {source_name}, "
            f"fewer than K={k} segments. Use a smaller --k, or add features."
        )
