"""The run's seeded uniform sample of valid rows, the same whatever the engine and batch size.

A row's chance of being kept depends only on its spreadsheet row number and the seed
(bottom-k sampling: the rows with the smallest hashed keys), so the in-memory engine, the batch
engine at any batch size, and a later reader of the same file all keep the same rows. When the
table has no more valid rows than the sample's capacity, the sample is every valid row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


def mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a well-spread 64-bit hash of each value (uint64 wraps around).

    Examples
    --------
    >>> int(mix(np.array([0], dtype=np.uint64))[0])
    16294208416658607535
    """
    # In place on one copy and one scratch array: the hash of ten million rows allocates two
    # arrays, not ten.
    x = np.add(x, np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
    scratch = np.empty_like(x)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(x, np.uint64(shift), out=scratch)
        x ^= scratch
        x *= np.uint64(factor)
    np.right_shift(x, np.uint64(31), out=scratch)
    x ^= scratch
    return x


@dataclass(frozen=True)
class Sample:
    """A uniform sample of the valid rows, in row order.

    Attributes
    ----------
    table : pyarrow.Table or None
        Every input column of the sampled rows, cells as read (None for a bare matrix).
    rows : numpy.ndarray
        Their spreadsheet row numbers (int64, increasing).
    values : numpy.ndarray
        Their feature values, original units, shape (size, n_features).
    """

    table: pa.Table | None
    rows: np.ndarray
    values: np.ndarray

    @property
    def size(self) -> int:
        """Rows in the sample."""
        return len(self.rows)


class Reservoir:
    """Keeps the ``capacity`` rows with the smallest hashed keys among those offered.

    Offered rows go to a pool; a row whose key is above the ``capacity``-th smallest key seen
    (in the pool, or in its own batch) can never be kept and is dropped at once. The pool is cut
    back to ``capacity`` rows only when it holds twice as many (and by :meth:`sample`), so the
    kept rows' cells are taken once per cut, not once per batch.

    Examples
    --------
    >>> r = Reservoir(2, seed=0)
    >>> r.offer(np.arange(2, 12), np.arange(10.0)[:, None])
    >>> r.sample().rows.tolist() == sorted(r.sample().rows.tolist()), r.sample().size
    (True, 2)
    """

    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity = capacity
        self.salt = mix(np.array([seed % 2**64], dtype=np.uint64))[0]
        self.keys = np.empty(0, dtype=np.uint64)
        self._rows: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._tables: list[pa.Table] = []
        self._bound: np.uint64 | None = None  # keys above it can never be kept

    def offer(self, rows: np.ndarray, values: np.ndarray, table: pa.Table | None = None) -> None:
        """Offer valid rows: their row numbers, feature values and (optionally) cells."""
        if len(rows) == 0 or self.capacity <= 0:
            return
        keys = mix(rows.astype(np.uint64) ^ self.salt)
        bound = self._bound
        if len(keys) > self.capacity:  # no more than capacity of this batch can be kept either
            own = np.partition(keys, self.capacity - 1)[self.capacity - 1]
            bound = own if bound is None else min(bound, own)
        # Copies (fancy indexing, take) in every case: the pool never pins the caller's memory.
        chosen = (np.arange(len(keys)) if bound is None
                  else np.flatnonzero(keys <= bound))
        if len(chosen) == 0:
            return
        self.keys = np.concatenate([self.keys, keys[chosen]])
        self._rows.append(rows[chosen])
        self._values.append(np.asarray(values)[chosen])
        if table is not None:
            self._tables.append(table.take(pa.array(chosen)))
        if len(self.keys) > 2 * self.capacity:
            self._cut()
        if len(self.keys) >= self.capacity:
            self._bound = np.partition(self.keys, self.capacity - 1)[self.capacity - 1]

    def _cut(self) -> None:
        """Keep the pool's ``capacity`` smallest keys, in pool order."""
        rows, values, table = self._pooled()
        if len(self.keys) > self.capacity:
            keep = np.sort(np.argpartition(self.keys, self.capacity - 1)[:self.capacity])
            self.keys, rows, values = self.keys[keep], rows[keep], values[keep]
            table = None if table is None else table.take(pa.array(keep))
        self._rows, self._values = [rows], [values]
        self._tables = [] if table is None else [table]

    def _pooled(self) -> tuple[np.ndarray, np.ndarray, pa.Table | None]:
        rows = (np.concatenate(self._rows) if len(self._rows) != 1 else self._rows[0]
                ) if self._rows else np.empty(0, dtype=np.int64)
        values = (np.concatenate(self._values) if len(self._values) != 1 else self._values[0]
                  ) if self._values else np.empty((0, 0))
        table = (None if not self._tables else self._tables[0] if len(self._tables) == 1
                 else pa.concat_tables(self._tables).combine_chunks())
        return rows, values, table

    def sample(self) -> Sample:
        """The kept rows, in row order."""
        self._cut()
        rows, values, table = self._pooled()
        order = np.argsort(rows, kind="stable")
        return Sample(None if table is None else table.take(pa.array(order)), rows[order],
                      values[order])
