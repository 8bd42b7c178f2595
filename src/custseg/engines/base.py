"""What every K-Means engine returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KMeansFit:
    """A K-Means partition in the scaled feature space.

    Attributes
    ----------
    centers : numpy.ndarray
        Shape (k, n_features): the centroid of each cluster.
    labels : numpy.ndarray
        Cluster of each row (int32), indexes ``centers``.
    inertia : float
        Sum of squared distances of rows to their centroid.
    n_iter : int
        Lloyd iterations of the kept run.
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int

    @property
    def k(self) -> int:
        """Number of clusters."""
        return int(self.centers.shape[0])
