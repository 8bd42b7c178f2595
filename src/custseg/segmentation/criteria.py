"""The criteria behind the K choice that compare the data with something else: uniform reference
data (the gap statistic and the structure test), subsamples of itself (stability), and the shape
of the inertia curve (the elbow's knee).

Gap statistic details: the reference data are uniform in the tighter (smaller-volume) of the
data's axis-aligned and principal-axes bounding boxes, ``GAP_REFERENCES`` sets. The 1-SE rule is
applied around the global maximum of the gap ("globalSEmax", Dudoit & Fridlyand 2002): the
smallest K with gap(K) >= gap(K*) - s(K*). Tibshirani's first-local-maximum variant stops at
K = 1 on the Mall data, whose gap dips at K = 2..4 before rising to its plateau.

Structure test: the data and ``GAP_REFERENCES`` uniform reference sets are fitted the same way
for K = 2..``STRUCTURE_K_MAX`` (whatever range of K is searched, so that the answer to "is there
any structure?" does not change with ``--k-min``/``--k-max``); the data's best (simplified)
silhouette must stand at least ``STRUCTURE_Z`` standard deviations above the references' best
silhouettes.

Elbow: the knee of the inertia curve found by Kneedle (as ``kneed`` finds it) moves right as the
curve gets longer, so the search window is narrowed as in the L-method's iterative refinement
(Salvador & Chan 2004): the knee is looked for again on K = 1..max(2 x knee,
``ELBOW_MIN_WINDOW``) until it stays put.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import adjusted_rand_score

from custseg.segmentation.knee import kneedle
from custseg.segmentation.leankmeans import LeanFit, lean_kmeans
from custseg.segmentation.metrics import simplified_silhouette
from custseg.segmentation.swap import assign

#: Rows used for choosing K (a seeded uniform sample above this).
SELECTION_SAMPLE = 5_000
#: Uniform reference data sets for the gap statistic and the structure test.
GAP_REFERENCES = 10
#: Rows of the selection sample used for the gap statistic and the structure test.
GAP_SAMPLE = 2_000
#: The data's best silhouette must stand this many standard deviations above uniform
#: references' for the data to count as clustered. Uniform noise scores about 0 (at most 4.8 in
#: 80 trials, 1 to 5 dimensions); the Mall data scores 7 to 15, Fränti's s4 (heavy overlap) 7.
STRUCTURE_Z = 5.0
#: The structure test compares the best silhouette over K = 2..this (fewer when the data have
#: fewer distinct rows), the same K for every range searched.
STRUCTURE_K_MAX = 10
#: The elbow's knee is looked for on K = 1..max(2 x knee, this) at the narrowest.
ELBOW_MIN_WINDOW = 10
#: Pairs of subsample fits for the stability score.
STABILITY_PAIRS = 3
#: Share of the selection sample in each stability subsample.
STABILITY_FRACTION = 0.8

def selection_sample(Z: np.ndarray, seed: int, size: int = SELECTION_SAMPLE) -> np.ndarray:
    """The rows K is chosen on: all of ``Z``, or a seeded uniform sample of ``size`` rows."""
    if len(Z) <= size:
        return Z
    rng = np.random.default_rng([seed, 1])
    return Z[np.sort(rng.choice(len(Z), size=size, replace=False))]


def reference_box(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform reference frame for the gap statistic: (rotation, low, high).

    The tighter of the axis-aligned and the principal-axes bounding boxes: the reference that
    looks most like the data without clusters.
    """
    d = Z.shape[1]
    mean = Z.mean(axis=0)
    _, _, vt = np.linalg.svd(Z - mean, full_matrices=False)
    best = None
    for rotation in (np.eye(d), vt.T):
        R = (Z - mean) @ rotation
        low, high = R.min(axis=0), R.max(axis=0)
        volume = float(np.sum(np.log(np.maximum(high - low, 1e-12))))
        if best is None or volume < best[0] - 1e-9:
            best = (volume, rotation, low, high)
    _, rotation, low, high = best
    return rotation, low + 0, high + 0


#: k-means++ starts and Lloyd iterations of the quick fits behind the gap statistic, the
#: structure test and the stability score.
QUICK_N_INIT = 2
QUICK_MAX_ITER = 30


def _quick_fit(X: np.ndarray, k: int, seed: int) -> LeanFit | None:
    if k == 1:
        return None
    # Few iterations suffice: inertia settles long before Lloyd's tolerance on uniform data.
    return lean_kmeans(X, k, n_init=QUICK_N_INIT, max_iter=QUICK_MAX_ITER, seed=seed)


@dataclass(frozen=True)
class NullComparison:
    """The data against uniform reference data of the same extent.

    Attributes
    ----------
    gap, gap_se : dict of int to float
        Gap statistic and its standard error per K.
    structure_z : float
        How far the data's best silhouette stands above the references' best silhouettes, in
        standard deviations (a t-like score; below ``STRUCTURE_Z`` means no structure).
    """

    gap: dict[int, float]
    gap_se: dict[int, float]
    structure_z: float


def compare_with_uniform(Z: np.ndarray, centers: dict[int, np.ndarray], structure_ks: list[int],
                         seed: int, n_refs: int = GAP_REFERENCES,
                         kept: np.ndarray | None = None,
                         references: ReferenceProfiles | None = None) -> NullComparison:
    """Fit the data and ``n_refs`` uniform reference sets the same (quick) way and compare.

    Two comparisons come from the same reference fits. The gap statistic (Tibshirani et al.
    2001) compares log inertia per K, the data's taken at its best centroids ``centers[k]``.
    The structure test compares the best (simplified) silhouette over K: data without clusters (uniform
    noise) score like their references, clustered data far above them. For it the data are
    fitted exactly as the references, so a better optimiser on one side cannot fake structure.
    The structure test takes the best silhouette over ``structure_ks`` (K = 2..``STRUCTURE_K_MAX``
    as the data allow, see :func:`structure_range`), the gap every K of ``centers``.

    ``kept`` (bool per column): columns the references draw from the data's rows, jointly and
    independently of the others, instead of uniformly: the indicators of categorical features
    (``--categorical``), whose two-valued columns no uniform box resembles.

    ``references``: :func:`reference_profiles` of the same arguments, computed beforehand (in
    another process, say), else computed here.
    """
    ks = sorted(centers)
    if references is None:
        references = reference_profiles(Z, ks, structure_ks, seed, n_refs, kept)
    G = selection_sample(Z, seed, GAP_SAMPLE)
    _, sil_data = _profile(G, ks, structure_ks, seed)
    log_data = np.log([max(assign(G, centers[k])[1], 1e-300) for k in ks])
    log_ref, sil_ref = references.log_inertia, references.best_silhouette
    gap = {k: float(log_ref[:, i].mean() - log_data[i]) for i, k in enumerate(ks)}
    se = {k: float(log_ref[:, i].std() * np.sqrt(1 + 1 / n_refs)) for i, k in enumerate(ks)}
    spread = max(float(sil_ref.std()) * np.sqrt(1 + 1 / n_refs), 1e-3)
    scored = any(k >= 2 for k in structure_ks)
    z = (sil_data - float(sil_ref.mean())) / spread if scored else 0.0
    return NullComparison(gap, se, float(z))


@dataclass(frozen=True)
class ReferenceProfiles:
    """The uniform reference sets' side of :func:`compare_with_uniform`.

    Attributes
    ----------
    log_inertia : numpy.ndarray
        Shape (n_refs, len(ks)): log inertia of each reference set at each K.
    best_silhouette : numpy.ndarray
        Shape (n_refs,): each reference set's best simplified silhouette over the structure Ks.
    """

    log_inertia: np.ndarray
    best_silhouette: np.ndarray


def reference_profiles(Z: np.ndarray, ks: list[int], structure_ks: list[int], seed: int,
                       n_refs: int = GAP_REFERENCES, kept: np.ndarray | None = None
                       ) -> ReferenceProfiles:
    """Draw ``n_refs`` uniform reference sets like ``Z`` (see :func:`compare_with_uniform`) and
    fit each at every K of ``ks`` and ``structure_ks``: the costly, data-independent half of
    the comparison, which needs no centroid of the data."""
    G = selection_sample(Z, seed, GAP_SAMPLE)
    rng = np.random.default_rng([seed, 2])
    kept = np.zeros(G.shape[1], dtype=bool) if kept is None else np.asarray(kept, dtype=bool)
    rotation, low, high = reference_box(G[:, ~kept])
    mean = G[:, ~kept].mean(axis=0)
    log_ref = np.empty((n_refs, len(ks)))
    sil_ref = np.empty(n_refs)
    for b in range(n_refs):
        ref = np.empty_like(G)
        ref[:, ~kept] = rng.uniform(low, high, size=(len(G), len(low))) @ rotation.T + mean
        if kept.any():
            ref[:, kept] = G[rng.permutation(len(G))][:, kept]
        log_ref[b], sil_ref[b] = _profile(ref, ks, structure_ks, (seed + b + 1) % 2**32)
    return ReferenceProfiles(log_ref, sil_ref)


def _profile(X: np.ndarray, ks: list[int], structure_ks: list[int], fit_seed: int
             ) -> tuple[np.ndarray, float]:
    """Log inertia of quick fits of ``X`` at each K of ``ks``, and their best simplified
    silhouette over ``structure_ks`` (K >= 2)."""
    scored = [k for k in structure_ks if k >= 2]
    log_w = np.empty(len(ks))
    best_sil = -1.0
    for k in sorted(set(ks) | set(structure_ks)):
        model = _quick_fit(X, k, fit_seed)
        if k in ks:
            inertia = (float(((X - X.mean(axis=0)) ** 2).sum()) if model is None
                       else float(model.inertia_))
            log_w[ks.index(k)] = np.log(max(inertia, 1e-300))
        if k in scored and model is not None:
            best_sil = max(best_sil, simplified_silhouette(X, model.cluster_centers_,
                                                           model.labels_))
    return log_w, best_sil


def structure_range(n_distinct: int) -> list[int]:
    """The K the structure test compares: 2..``STRUCTURE_K_MAX``, fewer than the distinct rows."""
    return list(range(2, min(STRUCTURE_K_MAX, n_distinct - 1) + 1))


def stability(Z: np.ndarray, k: int, seed: int, pairs: int = STABILITY_PAIRS) -> float:
    """Mean adjusted Rand index between fits on pairs of seeded 80% subsamples."""
    rng = np.random.default_rng([seed, 3, k])
    m = max(k, int(STABILITY_FRACTION * len(Z)))
    scores = []
    for p in range(pairs):
        labels = []
        for side in range(2):
            idx = rng.choice(len(Z), size=m, replace=False)
            model = _quick_fit(Z[idx], k, (seed + 2 * p + side) % 2**32)
            labels.append(model.predict(Z))
        scores.append(adjusted_rand_score(*labels))
    return float(np.mean(scores))


def data_free_evidence(Z: np.ndarray, ks: list[int], structure_ks: list[int],
                       stability_ks: list[int], seed: int, kept: np.ndarray | None = None
                       ) -> tuple[ReferenceProfiles, dict[int, float]]:
    """The evidence for K that needs no fit of the data at every K: the uniform references'
    :func:`reference_profiles` and the :func:`stability` of each K of ``stability_ks``.

    About half the K choice's work, independent of the other half (which can run meanwhile in
    another process).
    """
    return (reference_profiles(Z, ks, structure_ks, seed, kept=kept),
            {k: stability(Z, k, seed) for k in stability_ks})


def knee_of(ks: list[int], inertias: list[float]) -> int | None:
    """The knee of a decreasing convex inertia curve (Kneedle, as ``kneed`` finds it: see
    :mod:`custseg.segmentation.knee`), or ``None``."""
    if len(ks) < 3:
        return None
    knee = kneedle(ks, inertias)
    return None if knee is None else int(knee)


def refined_knee(ks: list[int], inertias: list[float]) -> int | None:
    """The knee of the inertia curve, the window narrowed until the knee stays put.

    Kneedle on K = 1..80 finds a knee further right than on K = 1..10 for the same data; as in
    the L-method (Salvador & Chan 2004), the knee is looked for again on K up to
    max(2 x knee, ``ELBOW_MIN_WINDOW``) until that window no longer shrinks.

    Examples
    --------
    >>> ks = list(range(1, 41))
    >>> inertia = [100 / k if k <= 5 else 20 - 0.1 * k for k in ks]
    >>> knee_of(ks, inertia) == refined_knee(ks[:10], inertia[:10])
    False
    >>> refined_knee(ks, inertia) == refined_knee(ks[:10], inertia[:10])
    True
    """
    window = len(ks)
    knee = knee_of(ks, inertias)
    while knee is not None:
        narrower = sum(k <= max(2 * knee, ELBOW_MIN_WINDOW) for k in ks)
        if narrower >= window:
            break
        window = narrower
        knee = knee_of(ks[:window], inertias[:window])
    return knee
