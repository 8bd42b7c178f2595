"""Splits and merges between two runs, read from where customers went (not from centroids)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from custseg.exceptions import DataValidationError

#: A split: at least this share of a previous segment's customers land in the parts together...
SPLIT_TOTAL = 0.8
#: ...and each part receives at least this share of them (so at most five parts).
SPLIT_PART = 0.2
#: A merge: two or more previous segments each send at least this share (a majority) of their
#: customers into the same new segment.
MERGE_SHARE = 0.5
#: Previous segments with fewer customers present in both runs are not judged (noise, not events).
MIN_CUSTOMERS = 10


@dataclasses.dataclass(frozen=True)
class Split:
    """A previous segment whose customers now sit mostly in two or more new segments.

    Attributes
    ----------
    previous : int
        Previous segment id.
    new : tuple of int
        New segment ids receiving its customers, largest share first.
    shares : tuple of float
        Share (0..1) of the previous segment's customers in each of ``new``.
    customers : int
        Customers of the previous segment present in both runs.
    """

    previous: int
    new: tuple[int, ...]
    shares: tuple[float, ...]
    customers: int


@dataclasses.dataclass(frozen=True)
class Merge:
    """Two or more previous segments whose customers now sit mostly in one new segment.

    Attributes
    ----------
    new : int
        New segment id.
    previous : tuple of int
        Previous segment ids merged into it, by id order of the transition matrix.
    shares : tuple of float
        Share (0..1) of each previous segment's customers that went into ``new``.
    """

    new: int
    previous: tuple[int, ...]
    shares: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class SplitsMerges:
    """Splits and merges found in the customer flows, with sentences for a reader.

    Attributes
    ----------
    splits : tuple of Split
    merges : tuple of Merge
    sentences : tuple of str
        One plain-language sentence per split, then per merge.
    """

    splits: tuple[Split, ...]
    merges: tuple[Merge, ...]
    sentences: tuple[str, ...]


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def detect_splits_merges(transition_counts: pd.DataFrame | np.ndarray,
                         prev_ids: Sequence[int] | None = None, new_ids: Sequence[int] | None = None, *,
                         prev_names: Mapping[int, str] | None = None,
                         new_names: Mapping[int, str] | None = None, split_total: float = SPLIT_TOTAL,
                         split_part: float = SPLIT_PART, merge_share: float = MERGE_SHARE,
                         min_customers: int = MIN_CUSTOMERS) -> SplitsMerges:
    """Find splits and merges from the customers present in both runs.

    Rule (shares are of a previous segment's customers present in both runs):

    - **split**: a previous segment at least ``split_part`` (20%) of whose customers land in each
      of two or more new segments, these parts holding at least ``split_total`` (80%) of them
      together;
    - **merge**: a new segment into which two or more previous segments each send at least
      ``merge_share`` (50%, a majority) of their customers.

    Previous segments with fewer than ``min_customers`` (10) customers in both runs are not
    judged. A segment can take part in both a split and a merge.

    Parameters
    ----------
    transition_counts : pandas.DataFrame or numpy.ndarray
        Customers per (previous segment, new segment): rows previous, columns new
        (:func:`custseg.migration.transition_matrix`). A data frame's index and columns are used
        as ids unless ``prev_ids`` / ``new_ids`` are given.
    prev_ids, new_ids : sequence of int, optional
        Ids of the rows and columns; default the data frame's labels, else positions.
    prev_names, new_names : mapping of int to str, optional
        Segment names for the sentences; default ``segment <id>``.
    split_total, split_part, merge_share : float
        Thresholds of the rule above.
    min_customers : int, default 10
        Smallest previous segment judged.

    Returns
    -------
    SplitsMerges

    Raises
    ------
    DataValidationError
        If the counts are not a 2-D array of non-negative numbers matching the ids.

    Examples
    --------
    >>> counts = np.array([[50, 45, 5, 0], [0, 0, 80, 0], [0, 0, 0, 60], [0, 0, 0, 30]])
    >>> found = detect_splits_merges(counts, [0, 1, 2, 3], [0, 1, 2, 3])
    >>> [(s.previous, s.new) for s in found.splits], [(m.new, m.previous) for m in found.merges]
    ([(0, (0, 1))], [(3, (2, 3))])
    >>> found.sentences[0]
    'segment 0 split: 50% of its customers are now in segment 0 and 45% in segment 1.'
    """
    if isinstance(transition_counts, pd.DataFrame):
        prev_ids = list(transition_counts.index) if prev_ids is None else prev_ids
        new_ids = list(transition_counts.columns) if new_ids is None else new_ids
    counts = np.asarray(transition_counts, dtype=np.float64)
    if counts.ndim != 2 or not np.isfinite(counts).all() or (counts < 0).any():
        raise DataValidationError("Transition counts must be a 2-D table of customer counts >= 0.")
    prev_ids = [int(i) for i in (range(counts.shape[0]) if prev_ids is None else prev_ids)]
    new_ids = [int(i) for i in (range(counts.shape[1]) if new_ids is None else new_ids)]
    if (len(prev_ids), len(new_ids)) != counts.shape:
        raise DataValidationError(f"Transition counts have shape {counts.shape}, but "
                                  f"{len(prev_ids)} previous and {len(new_ids)} new ids were given.")
    prev_names = prev_names or {}
    new_names = new_names or {}

    def pname(i: int) -> str:
        return prev_names.get(i, f"segment {i}")

    def nname(i: int) -> str:
        return new_names.get(i, f"segment {i}")

    totals = counts.sum(axis=1)
    judged = totals >= max(min_customers, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(judged[:, None], counts / np.where(totals > 0, totals, 1)[:, None], 0.0)

    splits: list[Split] = []
    for r in np.flatnonzero(judged):
        parts = np.flatnonzero(shares[r] >= split_part)
        if parts.size >= 2 and shares[r, parts].sum() >= split_total:
            parts = parts[np.argsort(-shares[r, parts], kind="stable")]
            splits.append(Split(prev_ids[r], tuple(new_ids[c] for c in parts),
                                tuple(float(shares[r, c]) for c in parts), int(totals[r])))
    merges: list[Merge] = []
    for c in range(counts.shape[1]):
        sources = np.flatnonzero(judged & (shares[:, c] >= merge_share))
        if sources.size >= 2:
            merges.append(Merge(new_ids[c], tuple(prev_ids[r] for r in sources),
                                tuple(float(shares[r, c]) for r in sources)))

    sentences = [
        f"{pname(s.previous)} split: {_pct(s.shares[0])} of its customers are now in "
        + _join([f"{nname(n)}" if i == 0 else f"{_pct(sh)} in {nname(n)}"
                 for i, (n, sh) in enumerate(zip(s.new, s.shares, strict=True))]) + "."
        for s in splits
    ]
    sentences += [
        f"{_join([pname(p) for p in m.previous])} merged into {nname(m.new)} "
        f"({_join([_pct(sh) for sh in m.shares])} of their customers respectively)."
        for m in merges
    ]
    return SplitsMerges(tuple(splits), tuple(merges), tuple(sentences))
