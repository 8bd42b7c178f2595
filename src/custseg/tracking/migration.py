"""Who moved where between two runs: transitions counted customer by customer, in batches.

The previous run's customers are held as sorted 64-bit id keys with their segment
(:class:`PreviousCustomers`, 12 bytes a customer; keys as :func:`custseg.io.ids.id_keys` makes
them: plain integer ids exactly, other ids as trimmed text, hashed). The later run's customers
stream past a :class:`MigrationCounter` batch by batch, during its assignment pass or while its
clustered file is read: each is looked up, counted in the transition matrix, and (when a writer
is given) written to ``migration.csv`` with its previous and new segment, in the later run's
order. Memory does not grow with the later run.

Segments are *stable ids* (:mod:`custseg.tracking.matching`): a customer whose previous and new
segment have the same id stayed in the same segment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import DataValidationError
from custseg.io.csvsafe import TableWriter
from custseg.io.ids import id_keys

ID_COLUMN = "customer_id"
PREVIOUS_COLUMN = "previous_segment"
NEW_COLUMN = "new_segment"


def customer_keys(ids: pa.Array | pa.ChunkedArray | None, rows: np.ndarray) -> np.ndarray:
    """64-bit keys of customers: of their ids (as trimmed text, or typed integers), or of their
    row numbers when the run had no id column."""
    if ids is None:
        return np.asarray(rows, dtype=np.uint64)
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    if not pa.types.is_integer(ids.type):
        ids = pc.utf8_trim_whitespace(pc.cast(ids, pa.string()))
    if ids.null_count:
        raise DataValidationError(f"{ids.null_count} customer(s) have no id: every customer needs "
                                  "an id to be followed across runs.")
    return id_keys(ids)


def id_text(ids: pa.Array | pa.ChunkedArray | None, rows: np.ndarray) -> pa.Array:
    """Customer ids as text (row numbers when there is no id column), for ``migration.csv``."""
    if ids is None:
        return pc.cast(pa.array(np.asarray(rows, dtype=np.int64)), pa.string())
    return pc.utf8_trim_whitespace(pc.cast(ids, pa.string()))


class PreviousCustomers:
    """The previous run's customers: sorted id keys and each one's segment (stable id).

    Examples
    --------
    >>> prev = PreviousCustomers(id_keys(pa.array(["a", "b", "c"])), np.array([0, 1, 2]))
    >>> at = prev.lookup(id_keys(pa.array(["c", "x"])))
    >>> prev.labels[at[0]].item(), at[1].item()
    (2, -1)
    """

    def __init__(self, keys: np.ndarray, labels: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = np.asarray(keys, dtype=np.uint64)[order]
        self.labels = np.asarray(labels, dtype=np.int64)[order]
        if len(self.keys) > 1 and np.any(self.keys[1:] == self.keys[:-1]):
            raise DataValidationError("A customer id appears more than once in the previous run: "
                                      "ids must be unique to follow customers across runs.")

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Position of each key in the sorted :attr:`keys` (and :attr:`labels`); -1 for a customer
        the previous run did not have."""
        if len(self.keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, pos, -1).astype(np.int64)


@dataclass(frozen=True)
class Migration:
    """Customers of two runs, joined on their id.

    Attributes
    ----------
    n_both, n_moved, n_new, n_departed : int
        Customers in both runs, of those whose segment id changed, only in the new run, only in
        the previous run.
    transitions : TransitionMatrix
        Customers per (previous segment, new segment).
    """

    n_both: int
    n_moved: int
    n_new: int
    n_departed: int
    transitions: TransitionMatrix


@dataclass(frozen=True, eq=False)
class TransitionMatrix:
    """Customers per (previous segment, new segment).

    Attributes
    ----------
    counts : pandas.DataFrame
        Rows previous segment ids (index ``previous_segment``), columns new segment ids
        (``new_segment``), int64 counts; every segment listed, even with no customer.
    percent : pandas.DataFrame
        ``counts`` as a percentage of each row (each previous segment's customers present in both
        runs); NaN for a previous segment none of whose customers is in the new run.
    """

    counts: pd.DataFrame
    percent: pd.DataFrame

    @property
    def diagonal_percent(self) -> float:
        """Share (%) of customers in both runs who kept their segment id; NaN when there are none."""
        same = sum(int(self.counts.at[i, i]) for i in self.counts.index if i in self.counts.columns)
        total = int(self.counts.to_numpy().sum())
        return 100.0 * same / total if total else float("nan")


def transition_matrix(counts: np.ndarray, prev_segments: Sequence[int], new_segments: Sequence[int]
                      ) -> TransitionMatrix:
    """A transition matrix from counts per (previous position, new position).

    Examples
    --------
    >>> t = transition_matrix(np.array([[1, 0, 0], [1, 1, 0]]), [0, 1], [0, 1, 2])
    >>> t.percent.to_numpy().tolist()
    [[100.0, 0.0, 0.0], [50.0, 50.0, 0.0]]
    """
    prev_axis = pd.Index([int(i) for i in prev_segments], name=PREVIOUS_COLUMN)
    new_axis = pd.Index([int(i) for i in new_segments], name=NEW_COLUMN)
    for axis, which in ((prev_axis, "previous"), (new_axis, "new")):
        if axis.has_duplicates:
            raise DataValidationError(f"The {which} segment ids repeat an id: {list(axis)}.")
    frame = pd.DataFrame(np.asarray(counts, dtype=np.int64), index=prev_axis, columns=new_axis)
    totals = frame.sum(axis=1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = pd.DataFrame(100.0 * frame.to_numpy() / totals[:, None], index=prev_axis,
                               columns=new_axis)
    return TransitionMatrix(frame, percent)


class MigrationCounter:
    """Counts where the previous run's customers went, batch by batch (see the module notes).

    Parameters
    ----------
    previous : PreviousCustomers
        The previous run's customers.
    previous_ids : sequence of int
        The previous run's segment ids (rows of the matrix).
    new_ids : sequence of int
        The later run's segment ids (columns).
    writer : TableWriter, optional
        Where to write ``migration.csv`` (customer id, previous and new segment).

    Examples
    --------
    >>> prev = PreviousCustomers(id_keys(pa.array(["a", "b", "c"])), np.array([0, 1, 1]))
    >>> counter = MigrationCounter(prev, [0, 1], [0, 1, 2])
    >>> counter.count(pa.array(["d", "c", "a"]), np.array([5, 6, 7]), np.array([2, 0, 0]))
    >>> m = counter.result()
    >>> m.n_both, m.n_moved, m.n_new, m.n_departed, m.transitions.counts.to_numpy().tolist()
    (2, 1, 1, 1, [[1, 0, 0], [1, 0, 0]])
    """

    def __init__(self, previous: PreviousCustomers, previous_ids: Sequence[int],
                 new_ids: Sequence[int], writer: TableWriter | None = None) -> None:
        self.previous = previous
        self.previous_ids = [int(i) for i in previous_ids]
        self.new_ids = [int(i) for i in new_ids]
        self._row = _positions(self.previous_ids, "previous")
        self._col = _positions(self.new_ids, "new")
        self.counts = np.zeros((len(self.previous_ids), len(self.new_ids)), dtype=np.int64)
        self.seen = np.zeros(len(previous), dtype=bool)
        self.n_new = 0
        self.departed: int | None = None  # set when an engine joined the runs itself
        self.writer = writer

    def count(self, ids: pa.Array | pa.ChunkedArray | None, rows: np.ndarray,
              segments: np.ndarray) -> None:
        """Count customers of the later run: their ids (None: row numbers), rows and segment ids."""
        at = self.previous.lookup(customer_keys(ids, rows))
        both = at >= 0
        repeated = both.any() and (self.seen[at[both]].any() or len(np.unique(at[both])) < both.sum())
        if repeated:
            raise DataValidationError("A customer id appears more than once in the later run: ids "
                                      "must be unique to follow customers across runs.")
        self.seen[at[both]] = True
        self.n_new += int((~both).sum())
        previous = self.previous.labels[at[both]]
        new = np.asarray(segments, dtype=np.int64)[both]
        r, c = _index(self._row, previous, "previous"), _index(self._col, new, "new")
        shape = self.counts.shape
        self.counts += np.bincount(r * shape[1] + c, minlength=shape[0] * shape[1]).reshape(shape)
        if self.writer is not None:
            text = id_text(ids, rows).filter(pa.array(both)) if len(both) else pa.array([], pa.string())
            self.writer.write(pa.table({ID_COLUMN: text, PREVIOUS_COLUMN: pa.array(previous),
                                        NEW_COLUMN: pa.array(new)}))

    def absorb(self, counts: np.ndarray, n_new: int, n_departed: int) -> None:
        """Take a whole migration an engine joined itself: counts per (previous position, new
        position), customers only in the later run, and only in the previous run."""
        self.counts += np.asarray(counts, dtype=np.int64)
        self.n_new += int(n_new)
        self.departed = int(n_departed)

    def result(self) -> Migration:
        """The counts so far (call after the last batch)."""
        n_both = int(self.counts.sum())
        same = sum(int(self.counts[r, c]) for r, p in enumerate(self.previous_ids)
                   for c, n in enumerate(self.new_ids) if p == n)
        departed = (int(len(self.previous) - self.seen.sum()) if self.departed is None
                    else self.departed)
        return Migration(n_both=n_both, n_moved=n_both - same, n_new=self.n_new,
                         n_departed=departed,
                         transitions=transition_matrix(self.counts, self.previous_ids, self.new_ids))


def _positions(ids: Sequence[int], which: str) -> np.ndarray:
    """Lookup table: segment id -> its position (-1 for an id not there)."""
    if len(set(ids)) != len(ids):
        raise DataValidationError(f"The {which} segment ids repeat an id: {list(ids)}.")
    table = np.full(max(ids, default=0) + 1, -1, dtype=np.int64)
    table[list(ids)] = np.arange(len(ids))
    return table


def _index(table: np.ndarray, values: np.ndarray, which: str) -> np.ndarray:
    inside = (values >= 0) & (values < len(table))
    out = np.where(inside, table[np.where(inside, values, 0)], -1)
    if (out < 0).any():
        unknown = int(values[out < 0][0])
        raise DataValidationError(f"A customer is in {which} segment {unknown}, which is not among "
                                  f"the {which} segments {np.flatnonzero(table >= 0).tolist()}.")
    return out


def _customers(n: int) -> str:
    return f"{n:,} customer" + ("" if n == 1 else "s")


def biggest_moves(counts: pd.DataFrame | TransitionMatrix, names_prev: Mapping[int, str] | None = None,
                  names_new: Mapping[int, str] | None = None, top: int = 3) -> list[str]:
    """The largest flows between different segments, in words.

    Parameters
    ----------
    counts : pandas.DataFrame or TransitionMatrix
        Transition counts (rows previous ids, columns new ids, :func:`transition_matrix`).
    names_prev, names_new : mapping of int to str, optional
        Segment names; default ``segment <id>``.
    top : int, default 3
        Most sentences returned.

    Returns
    -------
    list of str
        Largest off-diagonal flows first (a customer keeping their segment id did not move; empty
        flows are skipped); ties by row, then column order.

    Examples
    --------
    >>> t = transition_matrix(np.array([[1, 2], [1, 0]]), [0, 1], [0, 1])
    >>> names = {0: "Average", 1: "High income · Low spending"}
    >>> for sentence in biggest_moves(t, names, names):
    ...     print(sentence)
    2 customers moved from Average to High income · Low spending
    1 customer moved from High income · Low spending to Average
    """
    if isinstance(counts, TransitionMatrix):
        counts = counts.counts
    names_prev = names_prev or {}
    names_new = names_new or {}
    values = counts.to_numpy()
    prev_ids = [int(i) for i in counts.index]
    new_ids = [int(i) for i in counts.columns]
    moved = values * (np.asarray(prev_ids)[:, None] != np.asarray(new_ids)[None, :])
    flat = moved.ravel()
    order = np.argsort(-flat, kind="stable")[:max(int(top), 0)]
    sentences = []
    for cell in order:
        if flat[cell] <= 0:
            break
        r, c = divmod(int(cell), values.shape[1])
        sentences.append(f"{_customers(int(flat[cell]))} moved from "
                         f"{names_prev.get(prev_ids[r], f'segment {prev_ids[r]}')} to "
                         f"{names_new.get(new_ids[c], f'segment {new_ids[c]}')}")
    return sentences
