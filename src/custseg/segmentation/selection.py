"""Choosing the number of segments K, with evidence.

For every K in the range, custseg fits the best partition it can (k-means++ starts plus random
swap) and scores it with five criteria:

========================  =============================================  ==================
criterion                 what it measures                               its pick
========================  =============================================  ==================
elbow                     inertia against K; knee located by Kneedle     the knee
silhouette                how much closer customers are to their own     highest
                          segment than to the next (sampled)
Calinski-Harabasz         between- vs within-segment dispersion          highest
Davies-Bouldin            similarity of each segment to its closest one  lowest
gap statistic             log inertia vs uniform reference data; 1-SE    smallest K within
                          rule (Tibshirani, Walther & Hastie 2001)       one SE of the best
========================  =============================================  ==================

plus **stability**: the mean adjusted Rand index between partitions fitted on pairs of
seeded subsamples (80% each), compared on the same customers.

Consensus rule
--------------
1. A K is *admissible* when every fitted segment holds at least ``min_segment_share`` of the
   customers (a segment must be able to carry a campaign). Criteria pick among admissible K.
2. Each criterion votes for its pick. The K with most votes wins; ties go to the more stable K,
   then to the smaller K.
3. Confidence: ``no structure`` when the data are no more clustered than uniform random data
   of the same extent (structure test below; K = 1 is then chosen unless K is forced);
   ``clear`` when more than half of the voting criteria agree; ``weak`` otherwise.

Gap statistic and structure test: see :mod:`custseg.segmentation.criteria`.

Cost is bounded whatever the number of customers: everything here runs on a seeded sample of
at most ``SELECTION_SAMPLE`` rows, and the silhouette on at most ``SELECTION_SILHOUETTE_ROWS`` of
those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, pairwise_distances
from threadpoolctl import threadpool_limits

from custseg.config import DEFAULT_K_MAX, DEFAULT_K_MIN, DEFAULT_MIN_SEGMENT_SHARE, check_k_range
from custseg.engines.kernels import compiles
from custseg.exceptions import ConfigError
from custseg.forking import ForkedCall
from custseg.segmentation.criteria import (
    STRUCTURE_Z,
    compare_with_uniform,
    data_free_evidence,
    refined_knee,
    selection_sample,
    structure_range,
)
from custseg.segmentation.kmeans import fit_kmeans
from custseg.segmentation.krange import KRange, plan_k_range
from custseg.segmentation.metrics import silhouette_from_distances
from custseg.segmentation.swap import prepare_compiled, random_swap

#: Rows of the selection sample the silhouette of each K is computed on (the same rows for every
#: K; one distance matrix of this size serves them all).
SELECTION_SILHOUETTE_ROWS = 3_000
#: From this many sample rows, half the K evidence is computed in a forked child (below, the
#: fork's copy-on-write faults cost about what it saves: 0.25 s against 0.30 s on 200 rows).
FORKED_EVIDENCE_ROWS = 2_000

CRITERIA = ("elbow", "silhouette", "calinski_harabasz", "davies_bouldin", "gap")
CRITERION_LABELS = {
    "elbow": "elbow", "silhouette": "silhouette", "calinski_harabasz": "Calinski-Harabasz",
    "davies_bouldin": "Davies-Bouldin", "gap": "gap statistic",
}
CLEAR, WEAK, NO_STRUCTURE = "clear", "weak", "no structure"


@dataclass(frozen=True)
class KSelection:
    """The evidence for K and the choice made from it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per K (1 .. k_max), index ``k``: ``inertia``, ``silhouette``,
        ``calinski_harabasz``, ``davies_bouldin``, ``gap``, ``gap_se``, ``stability``,
        ``min_share`` (smallest segment's share), ``admissible``, ``votes``.
    picks : dict
        Each criterion's K (``None`` when it has none in range).
    chosen_k : int
        The K used.
    confidence : str
        ``"clear"``, ``"weak"`` or ``"no structure"``.
    explanation : str
        The choice in plain words.
    recommended_k : int
        What the criteria chose (equals ``chosen_k`` unless K was forced).
    forced : bool
        True when the user fixed K.
    k_min, k_max : int
        The range searched (``k_max`` lowered to what the rows support, see
        :mod:`custseg.segmentation.krange`).
    min_segment_share : float
        The admissibility threshold.
    sample_size, n_rows : int
        Rows used for the choice, and rows in all.
    structure_z : float
        Structure test score (see the module notes); below ``STRUCTURE_Z``: no structure.
    seed : int
        Seed used.
    sample_centers : numpy.ndarray or None
        Best centroids found for ``chosen_k`` on the sample (k-means++ starts, then random
        swap), scaled: the warm start of the final fit on all rows.
    k_range : KRange or None
        The range asked for and how it was narrowed (``k_range.note()`` says so in words).
    """

    table: pd.DataFrame
    picks: dict[str, int | None]
    chosen_k: int
    confidence: str
    explanation: str
    recommended_k: int
    forced: bool
    k_min: int
    k_max: int
    min_segment_share: float
    sample_size: int
    n_rows: int
    structure_z: float
    seed: int = field(default=0)
    sample_centers: np.ndarray | None = field(default=None, repr=False, compare=False)
    k_range: KRange | None = field(default=None, repr=False, compare=False)

    @property
    def knee(self) -> int | None:
        """The elbow's knee (K), if found."""
        return self.picks.get("elbow")

    def votes_for(self, k: int) -> list[str]:
        """Criteria that picked ``k``."""
        return [c for c in CRITERIA if self.picks.get(c) == k]

    def to_dict(self) -> dict:
        """JSON-ready form (the ``k_selection`` block of ``segments.json``)."""
        rows = []
        for k, row in self.table.iterrows():
            rows.append({"k": int(k), **{c: _num(row[c]) for c in self.table.columns
                                         if c not in ("admissible", "votes")},
                         "admissible": bool(row["admissible"]), "votes": list(row["votes"])})
        return {
            "chosen_k": self.chosen_k, "recommended_k": self.recommended_k, "forced": self.forced,
            "confidence": self.confidence, "explanation": self.explanation,
            "picks": {c: self.picks.get(c) for c in CRITERIA},
            "k_min": self.k_min, "k_max": self.k_max, "min_segment_share": self.min_segment_share,
            "sample_size": self.sample_size, "n_rows": self.n_rows, "seed": self.seed,
            "structure_z": round(self.structure_z, 3),
            "per_k": rows,
            **({"k_max_requested": self.k_range.requested_k_max}
               if self.k_range is not None and self.k_range.capped else {}),
        }


def _num(value: object) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 6)


def choose_k(
    Z: np.ndarray,
    *,
    k_min: int = DEFAULT_K_MIN,
    k_max: int = DEFAULT_K_MAX,
    min_segment_share: float = DEFAULT_MIN_SEGMENT_SHARE,
    seed: int = 0,
    n_init: int = 10,
    force_k: int | None = None,
    advance: Callable[[float], None] | None = None,
    n_rows: int | None = None,
    source: str = "the data",
    kept: np.ndarray | None = None,
) -> KSelection:
    """Score every K from ``k_min`` to ``k_max`` on scaled data ``Z`` and choose one.

    Parameters
    ----------
    Z : numpy.ndarray
        Scaled features, shape (n_rows, n_features).
    k_min, k_max : int, default 2, 10
        Range of K searched (K = 1 is always scored too, for the elbow and the gap).
    min_segment_share : float, default 0.01
        A K whose smallest segment holds less than this share of customers is not chosen.
    seed : int, default 0
        Seed of every sample and fit.
    n_init : int, default 10
        k-means++ starts per K (refined by random swap).
    force_k : int, optional
        Use this K whatever the criteria say (the evidence is still computed and reported).
    advance : callable, optional
        Called with 1 after each K (progress).
    n_rows : int, optional
        Customers in all, when ``Z`` is already the sample of them (default ``len(Z)``).
    source : str, default "the data"
        The input's name, for the error when ``k_min`` is more than the rows can hold.
    kept : numpy.ndarray, optional
        bool per column of ``Z``: the categories' indicators, which the uniform references of
        the structure test and the gap draw from the data's rows
        (:func:`custseg.segmentation.criteria.compare_with_uniform`).

    Returns
    -------
    KSelection

    Raises
    ------
    DataValidationError
        When ``k_min`` segments cannot be formed from the rows (unless K is forced).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = np.vstack([rng.normal(c, 0.3, size=(100, 2)) for c in ([0, 0], [4, 0], [0, 4])])
    >>> sel = choose_k(Z, k_max=6, seed=0)
    >>> sel.chosen_k, sel.confidence
    (3, 'clear')
    """
    check_k_range(k_min, k_max)
    if not 0 <= min_segment_share < 1:
        raise ConfigError(f"--min-segment-share must be in [0, 1) (got {min_segment_share}).")
    # Everything below runs on a sample of at most SELECTION_SAMPLE rows, where OpenMP/BLAS
    # threads only add overhead (and stall badly when another process holds a core).
    # The passes over every row of a run this large load the compiled kernels anyway: the
    # random swap then runs compiled too (same bits).
    compiled = compiles(len(Z) if n_rows is None else n_rows)
    with threadpool_limits(1):
        selection = _choose_k(Z, k_min, k_max, min_segment_share, seed, n_init, force_k, advance,
                              source, kept, compiled)
    return replace(selection, n_rows=n_rows) if n_rows is not None else selection


def _choose_k(Z: np.ndarray, k_min: int, k_max: int, min_segment_share: float, seed: int,
              n_init: int, force_k: int | None, advance: Callable[[float], None] | None,
              source: str = "the data", kept: np.ndarray | None = None,
              compiled: bool = False) -> KSelection:
    n_rows = len(Z)
    S = selection_sample(Z, seed)
    distinct = len(np.unique(S, axis=0))
    # A forced K gets its evidence as far as the rows go; a choice needs the whole --k-min.
    k_range = plan_k_range(k_min, k_max, len(S), distinct, strict=force_k is None,
                           source=source)
    ks = list(range(1, max(k_range.k_max, 1) + 1))
    structure_ks = structure_range(distinct)
    # The uniform references and the stability subsamples need no fit of the data: on samples
    # large enough to repay a fork, a child computes them while this process fits every K (the
    # same values either way).
    evidence = ForkedCall(data_free_evidence, S, ks, structure_ks,
                          [k for k in ks if k >= max(2, k_min)], seed, kept,
                          fork=len(S) >= FORKED_EVIDENCE_ROWS)
    try:
        rows, centers = _score_every_k(S, ks, n_init, seed, advance)
        if compiled:  # Numba's start-up, while the child may still be at work
            compiled = prepare_compiled()
        references, stabilities = evidence.result()
    finally:  # an error here stops the child too
        evidence.close()
    for row in rows:
        if row["k"] >= 2:
            row["stability"] = stabilities.get(row["k"], np.nan)
    null = compare_with_uniform(S, centers, structure_ks, seed, kept=kept, references=references)
    table = pd.DataFrame(rows).set_index("k")
    table = table.reindex(columns=["inertia", "silhouette", "calinski_harabasz", "davies_bouldin",
                                   "gap", "gap_se", "stability", "min_share"])
    table["gap"] = pd.Series(null.gap)
    table["gap_se"] = pd.Series(null.gap_se)
    in_range = (table.index >= k_min) & (table.index <= k_range.k_max)
    table["admissible"] = in_range & (table["min_share"] >= min_segment_share)
    share_filter_ignored = bool(in_range.any() and not table["admissible"].any())
    if share_filter_ignored:
        # Every K isolates a tiny group (outliers, say): better a weak choice than none.
        table["admissible"] = in_range & table["min_share"].notna()
    picks = _picks(table, ks)
    table["votes"] = [[c for c in CRITERIA if picks.get(c) == k] for k in table.index]
    recommended, confidence = _consensus(table, picks, null.structure_z)
    if share_filter_ignored and confidence == CLEAR:
        confidence = WEAK
    chosen = force_k if force_k is not None else recommended
    explanation = _explain(table, picks, recommended, confidence, force_k, min_segment_share,
                           null.structure_z)
    if share_filter_ignored:
        explanation += (f" Every K from {k_min} to {k_range.k_max} leaves a segment under "
                        f"{min_segment_share:.0%} of customers (outliers?), so that rule was "
                        "set aside.")
    if k_range.capped:
        explanation += " " + k_range.note()
    warm = None
    if chosen in centers:
        # The final fit's warm start: this K's best start, refined by random swap on the sample.
        warm = (random_swap(S, centers[chosen], seed=np.random.default_rng([seed, 5]),
                            compiled=compiled).centers
                if chosen > 1 else centers[chosen])
    return KSelection(table=table, picks=picks, chosen_k=int(chosen), confidence=confidence,
                      explanation=explanation, recommended_k=int(recommended),
                      forced=force_k is not None, k_min=k_min, k_max=k_range.k_max,
                      min_segment_share=min_segment_share, sample_size=len(S), n_rows=n_rows,
                      structure_z=null.structure_z, seed=seed, sample_centers=warm,
                      k_range=k_range)


def _score_every_k(S: np.ndarray, ks: list[int], n_init: int, seed: int,
                   advance: Callable[[float], None] | None
                   ) -> tuple[list[dict], dict[int, np.ndarray]]:
    """Fit every K on ``S``: a table row per K (inertia, silhouette, Calinski-Harabasz,
    Davies-Bouldin, smallest share) and the centroids by K."""
    sil_rows = np.random.default_rng([seed, 4]).permutation(len(S))[:SELECTION_SILHOUETTE_ROWS]
    sil_distances = pairwise_distances(S[sil_rows])  # once, for every K
    rows = []
    centers: dict[int, np.ndarray] = {}
    for k in ks:
        # Plain k-means++ starts here: random swap is kept for the final fit at the chosen K.
        fit = fit_kmeans(S, k, n_init=n_init, seed=seed, refine=False)
        centers[k] = fit.centers
        row = {"k": k, "inertia": fit.inertia}
        if k >= 2:
            labels = fit.labels
            sizes = np.bincount(labels, minlength=k)
            row["min_share"] = sizes.min() / len(S)
            if len(np.unique(labels[sil_rows])) > 1:
                row["silhouette"] = silhouette_from_distances(sil_distances, labels[sil_rows])
            row["calinski_harabasz"] = calinski_harabasz_score(S, labels)
            row["davies_bouldin"] = davies_bouldin_score(S, labels)
        rows.append(row)
        if advance is not None:
            advance(1)
    return rows, centers


def _picks(table: pd.DataFrame, ks: list[int]) -> dict[str, int | None]:
    ok = table[table["admissible"]]
    picks: dict[str, int | None] = dict.fromkeys(CRITERIA)
    if ok.empty:
        return picks
    knee = refined_knee(ks, [float(table.loc[k, "inertia"]) for k in ks])
    picks["elbow"] = knee if knee is not None and bool(table.loc[knee, "admissible"]) else None
    for name, best in (("silhouette", "idxmax"), ("calinski_harabasz", "idxmax"),
                       ("davies_bouldin", "idxmin")):
        column = ok[name].dropna()
        picks[name] = int(getattr(column, best)()) if not column.empty else None
    # Gap: 1-SE rule around the global maximum, among admissible K.
    candidates = ok
    k_star = int(candidates["gap"].idxmax())
    threshold = candidates.loc[k_star, "gap"] - candidates.loc[k_star, "gap_se"]
    picks["gap"] = int(candidates.index[candidates["gap"] >= threshold].min())
    return picks


def _consensus(table: pd.DataFrame, picks: dict[str, int | None], structure_z: float
               ) -> tuple[int, str]:
    if structure_z < STRUCTURE_Z:
        return 1, NO_STRUCTURE
    votes = {k: len(v) for k, v in table["votes"].items() if bool(table.loc[k, "admissible"])}
    if not votes or max(votes.values()) == 0:
        return 1, NO_STRUCTURE
    stab = table["stability"].fillna(-1.0)
    best = max(votes, key=lambda k: (votes[k], stab[k], -k))
    voting = sum(p is not None for p in picks.values())
    return int(best), CLEAR if votes[best] * 2 > voting else WEAK


def _explain(table: pd.DataFrame, picks: dict[str, int | None], k: int, confidence: str,
             force_k: int | None, min_share: float, structure_z: float) -> str:
    voting = [c for c in CRITERIA if picks[c] is not None]
    if confidence == NO_STRUCTURE:
        text = ("No natural segments: the customers are no more clustered than uniform random "
                f"data of the same extent (best silhouette {structure_z:.1f} standard deviations "
                f"above uniform data; {STRUCTURE_Z:g} needed)")
        if force_k is None:
            return text + ". Force a number of segments with --k to split them anyway."
        return text + f". K = {force_k} was forced with --k: the segments are an arbitrary split."
    agree = [c for c in voting if picks[c] == k]
    others = [f"{CRITERION_LABELS[c]} prefers {picks[c]}" for c in voting if picks[c] != k]
    row = table.loc[k]
    parts = [f"{k} segments: {len(agree)} of {len(voting)} criteria agree "
             f"({', '.join(CRITERION_LABELS[c] for c in agree)})"]
    if others:
        parts.append("; ".join(others))
    parts.append(f"stability {row['stability']:.2f}")
    parts.append(f"smallest segment {row['min_share']:.1%} of customers")
    excluded = table[(table.index >= 2) & ~table["admissible"] & table["min_share"].notna()
                     & (table["min_share"] < min_share)].index.tolist()
    if excluded:
        parts.append(f"K = {', '.join(map(str, excluded))} excluded (a segment under "
                     f"{min_share:.0%} of customers)")
    text = "; ".join(parts) + f". Confidence: {confidence}."
    if force_k is not None and force_k != k:
        text = f"K = {force_k} forced with --k; the criteria would choose {text}"
    return text
