"""The :class:`Segmenter` estimator: scaling, K-Means, and stable segment numbering.

Segment numbering rule
----------------------
K-Means numbers its clusters arbitrarily, so custseg renumbers them: segment 0 is the largest,
then by descending size; segments of equal size are ordered by their centroid coordinates
(first feature first, ascending). The same data therefore gives the same ``Cluster`` column
whatever the seed, as long as the seeds reach the same partition.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from custseg.engines.base import KMeansFit
from custseg.engines.local import fit_kmeans, seed_int
from custseg.features import make_scaler


def chunked_inertia(Z: np.ndarray, centers: np.ndarray, labels: np.ndarray,
                    chunk: int = 1_000_000) -> float:
    """Sum of squared distances to the assigned centres, a million rows at a time (flat memory).

    Examples
    --------
    >>> chunked_inertia(np.array([[0.0], [2.0]]), np.array([[1.0]]), np.array([0, 0]), chunk=1)
    2.0
    """
    total = 0.0
    for start in range(0, len(Z), chunk):
        d = Z[start:start + chunk] - centers[labels[start:start + chunk]]
        total += float(np.einsum("ij,ij->", d, d))
    return total


#: Centre of an id no segment uses, in a pickled pipeline (scaled units: standard deviations).
PLACEHOLDER = 1e12


def stable_order(centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Order clusters by descending size, ties by centroid coordinates (ascending).

    Returns the permutation ``order`` such that new segment ``i`` is old cluster ``order[i]``.

    Examples
    --------
    >>> stable_order(np.array([[5.0], [1.0], [3.0]]), np.array([0, 1, 1, 2, 2])).tolist()
    [1, 2, 0]
    """
    sizes = np.bincount(labels, minlength=centers.shape[0])
    keys = [centers[:, j] for j in range(centers.shape[1] - 1, -1, -1)]
    return np.lexsort([*keys, -sizes])


def _kmeans_from_centers(centers: np.ndarray) -> KMeans:
    """A fitted scikit-learn KMeans whose centroids are exactly ``centers``.

    Fitting on the centroids themselves, started from them, leaves each centroid in place, so
    ``predict`` is scikit-learn's own code and a pickled pipeline reproduces our labels.
    """
    k = centers.shape[0]
    model = KMeans(n_clusters=k, init=centers, n_init=1, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(centers)
    if not np.array_equal(model.cluster_centers_, centers):  # pragma: no cover - safety net
        model.cluster_centers_ = centers.copy()
    # labels_ would describe the k centroids, not the customers: leave it out.
    del model.labels_
    return model


class Segmenter(ClusterMixin, TransformerMixin, BaseEstimator):
    """Customer segmenter: standardise the features, then K-Means with several k-means++ starts.

    Follows the scikit-learn estimator contract: ``__init__`` only stores its arguments, ``fit``
    learns, learned state ends in ``_``.

    Parameters
    ----------
    n_clusters : int or "auto", default 5
        Number of segments; ``"auto"`` chooses it from the data (:func:`custseg.selection.choose_k`).
    scaling : {"standard"}, default "standard"
        How features are scaled before clustering.
    n_init : int, default 10
        k-means++ starts; the partition with the lowest inertia is kept.
    max_iter : int, default 300
        Lloyd iterations per start.
    tol : float, default 1e-4
        Convergence tolerance (as scikit-learn's KMeans).
    random_state : int, RandomState or None, default None
        Seed for the starts.
    k_min, k_max : int, default 2, 10
        Range of K compared when ``n_clusters="auto"``.
    min_segment_share : float, default 0.01
        With ``n_clusters="auto"``, a K leaving a segment under this share is not chosen.
    init : array-like of shape (n_clusters, n_features), optional
        Warm start in the scaled space: skip the k-means++ starts and random swap, run Lloyd
        on all rows from these centroids. With ``n_clusters="auto"`` on more rows than the K
        choice samples, the sample's best centroids are used this way.

    Attributes
    ----------
    scaler_ : sklearn.preprocessing.StandardScaler
        Fitted scaler.
    kmeans_ : sklearn.cluster.KMeans
        Fitted KMeans on the scaled features, centroids in segment order.
    cluster_centers_ : numpy.ndarray
        Centroids in the scaled space, shape (n_clusters, n_features), in segment order.
    labels_ : numpy.ndarray
        Segment of each training row.
    cluster_sizes_ : numpy.ndarray
        Number of training rows per segment.
    inertia_ : float
        Sum of squared scaled distances to the centroids.
    n_iter_ : int
        Lloyd iterations of the kept start.
    k_selection_ : KSelection or None
        The evidence for K when ``n_clusters="auto"``.

    Examples
    --------
    >>> from custseg.datasets import load_mall_customers
    >>> df = load_mall_customers()
    >>> seg = Segmenter(5, random_state=0).fit(df[["Annual Income (k$)", "Spending Score (1-100)"]])
    >>> seg.cluster_sizes_.tolist()
    [81, 39, 35, 23, 22]
    >>> seg.cluster_centers_original_.round(1)[0].tolist()
    [55.3, 49.5]
    """

    def __init__(self, n_clusters: int | str = 5, *, scaling: str = "standard", n_init: int = 10,
                 max_iter: int = 300, tol: float = 1e-4, random_state=None, k_min: int = 2,
                 k_max: int = 10, min_segment_share: float = 0.01, init=None) -> None:
        self.n_clusters = n_clusters
        self.scaling = scaling
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.k_min = k_min
        self.k_max = k_max
        self.min_segment_share = min_segment_share
        self.init = init

    def fit(self, X, y=None) -> Segmenter:
        """Learn the scaler and the segments from ``X`` (rows = customers, columns = features).

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=1)
        k = self.n_clusters
        auto = isinstance(k, str) and k == "auto"
        if not auto and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
            raise ValueError(f"n_clusters must be a whole number >= 1 or 'auto', got {k!r}.")
        if not auto and X.shape[0] < k:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={k}.")
        seed = seed_int(self.random_state)
        self.scaler_ = make_scaler(self.scaling).fit(X)
        Z = self.scaler_.transform(X)
        del X  # validate_data's copy: at 10^7 rows, 160 MB the fit does not need
        self.k_selection_ = None
        if auto:
            from custseg.selection import choose_k

            self.k_selection_ = choose_k(Z, k_min=self.k_min, k_max=self.k_max,
                                         min_segment_share=self.min_segment_share, seed=seed,
                                         n_init=self.n_init)
            k = self.k_selection_.chosen_k
        init = self.init
        if init is None and auto and len(Z) > self.k_selection_.sample_size:
            init = self.k_selection_.sample_centers  # large data: warm start from the sample
        fit = fit_kmeans(Z, int(k), n_init=self.n_init, seed=seed, max_iter=self.max_iter,
                         tol=self.tol, init=init)
        self._set_partition(fit, Z)
        return self

    def _set_partition(self, fit: KMeansFit, Z: np.ndarray) -> None:
        order = stable_order(fit.centers, fit.labels)
        centers = np.ascontiguousarray(fit.centers[order])
        self.kmeans_ = _kmeans_from_centers(centers)
        # Labels come from the same predict the pickled pipeline uses, so the two always agree.
        self.labels_ = self.kmeans_.predict(Z).astype(np.int32)
        self.cluster_centers_ = centers
        self.cluster_sizes_ = np.bincount(self.labels_, minlength=centers.shape[0])
        self.inertia_ = chunked_inertia(Z, centers, self.labels_)
        self.n_iter_ = fit.n_iter
        self.kmeans_.inertia_ = self.inertia_
        self.kmeans_.n_iter_ = self.n_iter_

    @property
    def cluster_centers_original_(self) -> np.ndarray:
        """Centroids in the features' original units, in segment order."""
        check_is_fitted(self)
        return self.scaler_.inverse_transform(self.cluster_centers_)

    def scale(self, X) -> np.ndarray:
        """``X`` in the scaled space the segments live in."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.scaler_.transform(X)

    def predict(self, X) -> np.ndarray:
        """Segment of each row of ``X`` (nearest centroid; never refits anything)."""
        Z = self.scale(X)
        return self.kmeans_.predict(Z).astype(np.int32)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit, then return the training rows' segments."""
        return self.fit(X).labels_

    def transform(self, X) -> np.ndarray:
        """Distance of each row of ``X`` to each centroid, in the scaled space."""
        Z = self.scale(X)
        return self.kmeans_.transform(Z)

    def score(self, X, y=None) -> float:
        """Opposite of the inertia of ``X`` under the fitted segments (higher is better)."""
        Z = self.scale(X)
        return float(self.kmeans_.score(Z))

    def to_pipeline(self, segment_ids: np.ndarray | None = None) -> Pipeline:
        """A scikit-learn Pipeline (scaler, KMeans) that predicts exactly as this segmenter.

        Parameters
        ----------
        segment_ids : numpy.ndarray, optional
            Stable id of each segment (``--previous`` runs keep earlier ids). The KMeans then
            predicts those ids: row ``segment_ids[j]`` of its centres is segment ``j``'s centroid,
            and ids no segment uses get a placeholder centre ``PLACEHOLDER`` scaled units away,
            which no customer is ever nearest to.
        """
        check_is_fitted(self)
        scaler = copy.deepcopy(self.scaler_)
        if hasattr(self, "feature_names_in_"):
            # The pipeline is used on data frames (joblib.load(p).predict(df[features])).
            scaler.feature_names_in_ = self.feature_names_in_
        kmeans = copy.deepcopy(self.kmeans_)
        if segment_ids is not None and not np.array_equal(segment_ids, np.arange(len(segment_ids))):
            centers = np.full((int(np.max(segment_ids)) + 1, self.cluster_centers_.shape[1]), PLACEHOLDER)
            centers[np.asarray(segment_ids)] = self.cluster_centers_
            kmeans = _kmeans_from_centers(centers)
        return Pipeline([("scaler", scaler), ("kmeans", kmeans)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
