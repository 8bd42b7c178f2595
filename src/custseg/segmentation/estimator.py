"""The :class:`Segmenter` estimator: scaling, K-Means, and stable segment numbering.

``Segmenter.fit`` runs the same fit as ``custseg run`` on a matrix held in memory: the scaler
over fixed blocks of rows, the seeded uniform sample, the K choice (with ``n_clusters="auto"``)
and the best start on the sample, then Lloyd passes over every row through the in-memory engine
(:mod:`custseg.segmentation.lloyd`). Segments are numbered by the stable rule there (largest
first). A fit made elsewhere (a run of any engine) becomes an estimator through
:meth:`Segmenter.from_centers`.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from custseg.config import DEFAULT_SAMPLE_ROWS
from custseg.engines.memory import MemoryEngine
from custseg.engines.sample import Reservoir
from custseg.engines.scan import block_scaler
from custseg.exceptions import ConfigError
from custseg.segmentation.kmeans import seed_int
from custseg.segmentation.lloyd import MAX_ITER, TOL, fit_centroids
from custseg.segmentation.selection import KSelection, choose_k

#: Centre of an id no segment uses, in a pickled pipeline (scaled units: standard deviations).
PLACEHOLDER = 1e12
#: Scalers by the name ``scaling`` takes. Standardising gives income (k$) and a 1-100 score equal
#: weight in the distance; without it the wider-ranged feature would decide the segments alone.
SCALINGS = ("standard",)


def kmeans_from_centers(centers: np.ndarray) -> KMeans:
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


class _Labels:
    """Observer collecting the assignment pass's labels (an estimator keeps every row's)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def observe(self, batch: object) -> None:
        self.parts.append(batch.labels)

    def labels(self) -> np.ndarray:
        return np.concatenate(self.parts).astype(np.int32) if self.parts else np.zeros(0, np.int32)


class Segmenter(ClusterMixin, TransformerMixin, BaseEstimator):
    """Customer segmenter: standardise the features, then K-Means with the best start found.

    Follows the scikit-learn estimator contract: ``__init__`` only stores its arguments, ``fit``
    learns, learned state ends in ``_``.

    Parameters
    ----------
    n_clusters : int or "auto", default 5
        Number of segments; ``"auto"`` chooses it from the data
        (:func:`custseg.segmentation.selection.choose_k`), between ``k_min`` and ``k_max``.
    scaling : {"standard"}, default "standard"
        How features are scaled before clustering.
    n_init : int, default 10
        k-means++ starts on the sample; the best one (lowest inertia), refined by random swap,
        starts the Lloyd iterations on every row.
    max_iter : int, default 300
        Most Lloyd iterations.
    tol : float, default 1e-4
        Convergence tolerance (as scikit-learn's KMeans).
    random_state : int, RandomState or None, default None
        Seed for the sample and the starts.
    k_min, k_max : int, default 2, 10
        Range of K compared when ``n_clusters="auto"``. When the data show no structure
        (the choice would be K = 1), ``k_min`` segments are fitted.
    min_segment_share : float, default 0.01
        With ``n_clusters="auto"``, a K leaving a segment under this share is not chosen.
    init : array-like of shape (n_clusters, n_features), optional
        Starting centroids in the scaled space: skip the starts on the sample and run Lloyd on
        every row from these.

    Attributes
    ----------
    scaler_ : sklearn.preprocessing.StandardScaler
        Fitted scaler.
    kmeans_ : sklearn.cluster.KMeans
        Fitted KMeans on the scaled features, centroids in segment order.
    cluster_centers_ : numpy.ndarray
        Centroids in the scaled space, shape (n_clusters, n_features), in segment order.
    labels_ : numpy.ndarray
        Segment of each training row (absent on an estimator built by :meth:`from_centers`
        without labels).
    cluster_sizes_ : numpy.ndarray
        Number of training rows per segment.
    inertia_ : float
        Sum of squared scaled distances to the centroids.
    n_iter_ : int
        Lloyd iterations (at least 1).
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
                 max_iter: int = MAX_ITER, tol: float = TOL, random_state=None, k_min: int = 2,
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
        if self.scaling not in SCALINGS:
            raise ConfigError(f"Unknown scaling {self.scaling!r}. Use one of: {', '.join(SCALINGS)}.")
        if auto and X.shape[0] < self.k_min:
            raise ValueError(f"n_samples={X.shape[0]} should be >= k_min={self.k_min}.")
        if not auto and X.shape[0] < k:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={k}.")
        seed = seed_int(self.random_state)
        scaler = block_scaler(X)
        engine = MemoryEngine.from_matrix(X)
        reservoir = Reservoir(DEFAULT_SAMPLE_ROWS, seed)
        reservoir.offer(engine.rows, X)
        sample = scaler.transform(reservoir.sample().values)
        selection = None
        if auto:
            selection = choose_k(sample, k_min=self.k_min, k_max=self.k_max,
                                 min_segment_share=self.min_segment_share, seed=seed,
                                 n_init=self.n_init, n_rows=len(X))
            k = max(selection.chosen_k, self.k_min)
        init = None if self.init is None else np.asarray(self.init, dtype=np.float64)
        fit = fit_centroids(engine, scaler, sample, int(k), selection=selection, init=init,
                            n_init=self.n_init, seed=seed, max_iter=self.max_iter, tol=self.tol)
        labels = _Labels()
        engine.assign(fit.centers, scaler.mean_, scaler.scale_, [labels])
        self._set_fit(fit.centers, scaler, fit.sizes, fit.inertia, fit.n_iter, labels.labels(),
                      selection)
        return self

    @classmethod
    def from_centers(cls, centers: np.ndarray, scaler: StandardScaler, *,
                     sizes: np.ndarray | None = None, inertia: float = float("nan"),
                     n_iter: int = 1, labels: np.ndarray | None = None,
                     k_selection: KSelection | None = None,
                     feature_names: list[str] | None = None, **params: object) -> Segmenter:
        """A fitted Segmenter holding a fit made elsewhere (a run of any engine).

        Parameters
        ----------
        centers : numpy.ndarray
            Centroids in the scaled space, segment order, shape (k, d).
        scaler : sklearn.preprocessing.StandardScaler
            Fitted.
        sizes : numpy.ndarray, optional
            Training rows per segment.
        inertia : float, default NaN
            Training inertia.
        n_iter : int, default 1
            Lloyd iterations.
        labels : numpy.ndarray, optional
            Segment of each training row (``labels_``), when known.
        k_selection : KSelection, optional
            How K was chosen.
        feature_names : list of str, optional
            The features' column names (``feature_names_in_``).
        **params
            Constructor parameters (``n_init``, ``random_state``...).

        Examples
        --------
        >>> scaler = StandardScaler().fit([[0.0], [2.0]])
        >>> seg = Segmenter.from_centers(np.array([[-1.0], [1.0]]), scaler)
        >>> seg.predict([[0.2], [1.9]]).tolist()
        [0, 1]
        """
        centers = np.ascontiguousarray(centers, dtype=np.float64)
        segmenter = cls(int(centers.shape[0]), **params)
        segmenter.n_features_in_ = int(centers.shape[1])
        if feature_names is not None:
            segmenter.feature_names_in_ = np.asarray(feature_names, dtype=object)
        sizes = np.zeros(len(centers), np.int64) if sizes is None else np.asarray(sizes, np.int64)
        segmenter._set_fit(centers, scaler, sizes, inertia, n_iter, labels, k_selection)
        return segmenter

    def _set_fit(self, centers: np.ndarray, scaler: StandardScaler, sizes: np.ndarray,
                 inertia: float, n_iter: int, labels: np.ndarray | None,
                 selection: KSelection | None) -> None:
        self.scaler_ = scaler
        self.kmeans_ = kmeans_from_centers(np.ascontiguousarray(centers))
        self.cluster_centers_ = np.ascontiguousarray(centers)
        self.cluster_sizes_ = np.asarray(sizes, dtype=np.int64)
        self.inertia_ = float(inertia)
        self.n_iter_ = max(1, int(n_iter))
        self.k_selection_ = selection
        if labels is not None:
            self.labels_ = np.asarray(labels, dtype=np.int32)
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
            kmeans = kmeans_from_centers(centers)
        return Pipeline([("scaler", scaler), ("kmeans", kmeans)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
