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
        self.rows = np.empty(0, dtype=np.int64)
        self.values: np.ndarray | None = None
        self.table: pa.Table | None = None

    def offer(self, rows: np.ndarray, values: np.ndarray, table: pa.Table | None = None) -> None:
        """Offer valid rows: their row numbers, feature values and (optionally) cells."""
        if len(rows) == 0:
            return
        keys = mix(rows.astype(np.uint64) ^ self.salt)
        if len(self.keys) >= self.capacity:
            chosen = np.flatnonzero(keys < self.keys.max())
            if len(chosen) == 0:
                return
            keys, rows, values = keys[chosen], rows[chosen], values[chosen]
            table = None if table is None else table.take(pa.array(chosen))
        all_keys = np.concatenate([self.keys, keys])
        all_rows = np.concatenate([self.rows, rows])
        all_values = values if self.values is None else np.concatenate([self.values, values])
        all_table = table if self.table is None or table is None else pa.concat_tables([self.table, table])
        if len(all_keys) > self.capacity:
            keep = np.sort(np.argpartition(all_keys, self.capacity - 1)[:self.capacity])
            all_keys, all_rows, all_values = all_keys[keep], all_rows[keep], all_values[keep]
            all_table = None if all_table is None else all_table.take(pa.array(keep))
        self.keys, self.rows, self.values = all_keys, all_rows, np.array(all_values)
        self.table = None if all_table is None else all_table.combine_chunks()

    def sample(self) -> Sample:
        """The kept rows, in row order."""
        order = np.argsort(self.rows, kind="stable")
        values = self.values[order] if self.values is not None else np.empty((0, 0))
        table = None if self.table is None else self.table.take(pa.array(order))
        return Sample(table, self.rows[order], values)
