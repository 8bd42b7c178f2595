"""Segment identity across runs: match new segments to previous ones, keep their ids and names.

K-Means numbers its clusters arbitrarily, so "segment 3 = our VIPs" breaks on the next run. custseg
therefore gives every segment a *stable id*: on the first run the stable id is the segment number;
on every later run (``--previous``) each new segment is matched to a previous one and inherits its
id (and so its name), and an unmatched new segment gets a fresh id never used before.

Matching rule
-------------
Both runs' centroids are compared in the *previous* model's scaled space (transform the new
centroids, in original units, with the previous scaler), so distances mean the same thing the
previous segments were built on. An optimal one-to-one assignment on Euclidean centroid distance
(the Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`; K may differ between runs)
pairs the segments. A pair farther apart than ``threshold`` is not a match: its new segment is
reported as *new*, its previous one as *retired*. The assignment first maximises the number of
pairs within the threshold, then minimises their total distance, so a far pair never crowds out a
close one.

Default threshold (:func:`default_threshold`): the median *radius* of the previous segments (root
mean square distance of a segment's customers to its centroid, :func:`segment_radii`). A new
centroid closer than that to a previous one sits inside the previous segment's customer cloud: the
same kind of customer. A centroid that moved farther than a typical segment's radius describes a
different group. When the radii are unknown, half the smallest distance between two previous
centroids is used instead (a new centroid that close to a previous one is nearer to it than to any
other previous centroid), and 1.0 scaled unit (one standard deviation of each feature) with a
single previous segment.

Splits and merges are read from customer flows, not centroids (:mod:`custseg.tracking.flows`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist, pdist

from custseg.exceptions import ConfigError, DataValidationError


@dataclasses.dataclass(frozen=True, eq=False)
class SegmentMatch:
    """How the new segments correspond to the previous ones.

    Segments are referred to by their *position*: row ``i`` of the centroid arrays given to
    :func:`match_segments` (the ``Cluster`` number of that run).

    Attributes
    ----------
    pairs : tuple of (int, int, float)
        ``(previous position, new position, distance)`` of each match, by previous position.
    new : tuple of int
        New positions matched to no previous segment, ascending.
    retired : tuple of int
        Previous positions matched to no new segment, ascending.
    ids : dict of int to int
        Stable id of each new position: the matched previous segment's id, or a fresh one
        (see :func:`assign_ids`).
    distances : numpy.ndarray
        Centroid distances, shape (k_previous, k_new), in the previous scaled space.
    threshold : float
        Largest distance accepted as a match.
    previous_ids : tuple of int
        Stable id of each previous position.
    """

    pairs: tuple[tuple[int, int, float], ...]
    new: tuple[int, ...]
    retired: tuple[int, ...]
    ids: dict[int, int]
    distances: np.ndarray
    threshold: float
    previous_ids: tuple[int, ...] = ()

    @property
    def new_ids(self) -> tuple[int, ...]:
        """Stable ids given to the new (unmatched) segments."""
        return tuple(self.ids[n] for n in self.new)

    @property
    def retired_ids(self) -> tuple[int, ...]:
        """Stable ids of the retired (unmatched) previous segments."""
        return tuple(self.previous_ids[p] for p in self.retired)

    @property
    def matched(self) -> dict[int, int]:
        """Previous position of each matched new position."""
        return {n: p for p, n, _ in self.pairs}

    @property
    def is_identity(self) -> bool:
        """Whether every segment was matched to the one at the same position (same K)."""
        k_prev, k_new = self.distances.shape
        return k_prev == k_new and not self.new and all(p == n for p, n, _ in self.pairs)


def _centers(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise DataValidationError(f"{what} centroids must be a (segments, features) array, "
                                  f"got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise DataValidationError(f"{what} centroids contain NaN or infinity: check the model file.")
    return array


def segment_radii(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Root mean square distance of each segment's rows to their centroid (mean of the rows).

    Parameters
    ----------
    Z : numpy.ndarray
        Rows in a scaled space, shape (n, d).
    labels : numpy.ndarray
        Segment of each row, in 0..k-1.
    k : int
        Number of segments.

    Returns
    -------
    numpy.ndarray
        Radius of each segment, shape (k,); NaN for an empty segment.

    Examples
    --------
    >>> segment_radii(np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]]), np.array([0, 0, 1]), 2).tolist()
    [1.0, 0.0]
    """
    Z = np.asarray(Z, dtype=np.float64)
    labels = np.asarray(labels)
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.stack([np.bincount(labels, weights=Z[:, j], minlength=k) for j in range(Z.shape[1])],
                         axis=1) / sizes[:, None]
        sq = ((Z - means[labels]) ** 2).sum(axis=1)
        return np.sqrt(np.bincount(labels, weights=sq, minlength=k) / sizes)


def default_threshold(previous_centers: np.ndarray, previous_radii: np.ndarray | None = None) -> float:
    """The largest centroid distance accepted as "the same segment" (module docstring: why).

    Parameters
    ----------
    previous_centers : numpy.ndarray
        Previous centroids in their scaled space, shape (k_previous, d).
    previous_radii : numpy.ndarray, optional
        Radius of each previous segment (:func:`segment_radii`); NaN entries are ignored.

    Returns
    -------
    float
        Median previous radius; else half the smallest distance between previous centroids;
        else (one previous segment) 1.0.

    Examples
    --------
    >>> default_threshold(np.array([[0.0, 0.0], [4.0, 0.0]]))
    2.0
    >>> default_threshold(np.array([[0.0, 0.0], [4.0, 0.0]]), np.array([0.5, 0.7]))
    0.6
    """
    centers = _centers(previous_centers, "Previous")
    if previous_radii is not None:
        radii = np.asarray(previous_radii, dtype=np.float64)
        radii = radii[np.isfinite(radii)]
        if radii.size and np.median(radii) > 0:
            return float(np.median(radii))
    if centers.shape[0] > 1:
        nearest = float(pdist(centers).min())
        if nearest > 0:
            return nearest / 2
    return 1.0


def assign_ids(match: SegmentMatch, previous_ids: Sequence[int], *, used_ids: Iterable[int] = ()
               ) -> dict[int, int]:
    """Stable id of each new segment: the matched previous segment's id, or a fresh one.

    Parameters
    ----------
    match : SegmentMatch
        Result of :func:`match_segments`.
    previous_ids : sequence of int
        Stable id of each previous position (``previous_ids[i]`` is previous segment ``i``'s id).
    used_ids : iterable of int, default ()
        Ids used by any earlier run (retired segments included, from the run history), so a
        fresh id never reuses a retired segment's id (and name).

    Returns
    -------
    dict of int to int
        New position -> stable id. Unmatched new segments get ``max(previous and used ids) + 1``,
        ``+ 2``, ... in ascending new position (largest segment first).

    Raises
    ------
    ConfigError
        If ``previous_ids`` has the wrong length or repeats an id.

    Examples
    --------
    >>> m = match_segments(np.array([[0.0], [5.0]]), np.array([[5.1], [20.0], [0.1]]), threshold=1.0)
    >>> assign_ids(m, [7, 3])
    {0: 3, 1: 8, 2: 7}
    """
    previous_ids = [int(i) for i in previous_ids]
    k_prev, k_new = match.distances.shape
    if len(previous_ids) != k_prev:
        raise ConfigError(f"{len(previous_ids)} previous segment ids given for {k_prev} previous segments.")
    if len(set(previous_ids)) != k_prev:
        raise ConfigError(f"Previous segment ids repeat an id: {previous_ids}.")
    matched = match.matched
    taken = set(previous_ids) | {int(i) for i in used_ids}
    fresh = max(taken) + 1 if taken else 0
    ids: dict[int, int] = {}
    for position in range(k_new):
        if position in matched:
            ids[position] = previous_ids[matched[position]]
        else:
            ids[position] = fresh
            fresh += 1
    return ids


def match_segments(previous_centers: np.ndarray, new_centers: np.ndarray, *, threshold: float | None = None,
                   previous_ids: Sequence[int] | None = None, previous_radii: np.ndarray | None = None,
                   used_ids: Iterable[int] = ()) -> SegmentMatch:
    """Match new segments to previous ones by optimal assignment on centroid distance.

    Parameters
    ----------
    previous_centers : numpy.ndarray
        Previous centroids, shape (k_previous, d), in the previous model's scaled space.
    new_centers : numpy.ndarray
        New centroids, shape (k_new, d), in the *same* (previous) scaled space:
        ``previous.scaler_.transform(new.cluster_centers_original_)``.
    threshold : float, optional
        Largest distance accepted as a match; default :func:`default_threshold` (using
        ``previous_radii`` when given). ``numpy.inf`` matches as many segments as possible.
    previous_ids : sequence of int, optional
        Stable ids of the previous segments; default their positions 0..k_previous-1.
    previous_radii : numpy.ndarray, optional
        Previous segments' radii, only used for the default threshold.
    used_ids : iterable of int, default ()
        Ids used by earlier runs, never given to a new segment (:func:`assign_ids`).

    Returns
    -------
    SegmentMatch

    Raises
    ------
    DataValidationError
        If the centroid arrays are not 2-D, not finite, or differ in their number of features.
    ConfigError
        If ``threshold`` is negative or NaN.

    Examples
    --------
    >>> m = match_segments(np.array([[0.0, 0.0], [5.0, 5.0]]), np.array([[5.2, 5.0], [0.0, 0.1]]),
    ...                    threshold=1.0)
    >>> [(p, n) for p, n, _ in m.pairs], m.new, m.retired, m.ids
    ([(0, 1), (1, 0)], (), (), {0: 1, 1: 0})
    """
    previous = _centers(previous_centers, "Previous")
    new = _centers(new_centers, "New")
    if previous.shape[1] != new.shape[1]:
        raise DataValidationError(
            f"Previous segments have {previous.shape[1]} features, new segments {new.shape[1]}: "
            "compare runs made on the same features."
        )
    if threshold is None:
        threshold = default_threshold(previous, previous_radii)
    threshold = float(threshold)
    if not threshold >= 0:
        raise ConfigError(f"Matching threshold must be a distance >= 0, got {threshold}.")
    distances = cdist(previous, new)
    within = distances <= threshold
    # A pair beyond the threshold costs more than all within-threshold pairs together, so the
    # assignment with the most matches wins, then the smallest total distance among those.
    cost = np.where(within, distances, 1.0 + distances[within].sum())
    rows, cols = linear_sum_assignment(cost)
    pairs = tuple((int(p), int(n), float(distances[p, n])) for p, n in zip(rows, cols, strict=True)
                  if within[p, n])
    matched_new = {n for _, n, _ in pairs}
    matched_prev = {p for p, _, _ in pairs}
    result = SegmentMatch(
        pairs=pairs,
        new=tuple(n for n in range(new.shape[0]) if n not in matched_new),
        retired=tuple(p for p in range(previous.shape[0]) if p not in matched_prev),
        ids={},
        distances=distances,
        threshold=threshold,
        previous_ids=tuple(int(i) for i in (range(len(previous)) if previous_ids is None else previous_ids)),
    )
    return dataclasses.replace(result, ids=assign_ids(result, result.previous_ids, used_ids=used_ids))
