"""Customer ids as 64-bit keys, and the ids seen so far in a run (the duplicate check).

A duplicate is an id already seen on an earlier valid row; ids are compared as trimmed text.
Plain numeric ids (``0``, ``17``, not ``007``) are kept as their exact integer value
(:func:`id_keys`); any other id as a 64-bit hash, so two different such ids could be taken for
duplicates with a probability of about n² / 2⁶⁵ (3 in a million for ten million ids). Runs of
consecutive integer ids on consecutive rows (the usual export: ids 1, 2, 3, ...) are remembered
as spans, 24 bytes per span whatever its length; other ids cost 12 bytes each (8 for the key, 4
for the row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.io.numbers import COMPILED_MIN_CELLS
from custseg.optional import compiled_code_allowed, compiled_code_loaded

_PLAIN_INTEGER = r"^(0|[1-9][0-9]{0,17})$"
#: Largest integer id kept exactly (18 digits, as :data:`_PLAIN_INTEGER`); larger ones are hashed.
_PLAIN_LIMIT = 10**18
_HASHED = np.uint64(1 << 63)
_POWERS_OF_TEN = np.array([0] + [10**p for p in range(1, 19)], dtype=np.int64)
#: Sorted runs of remembered ids are merged while the result stays under this many ids.
MERGE_LIMIT = 4_000_000
#: Consecutive ids on consecutive rows are kept as a span when at least this many in a row.
SPAN_MIN = 4


class SeenIds:
    """Ids of valid rows seen so far (as 64-bit keys) and the row each was first seen in.

    Two stores, both sorted and searched with binary searches:

    * spans: runs of at least :data:`SPAN_MIN` consecutive keys first seen on consecutive rows
      (ids 1, 2, 3... of the usual export), as (first key, last key, first row), 24 bytes each
      whatever their length: a file of ten million sequential ids costs a few bytes;
    * runs: every other key with its row, 12 bytes per id (8 for the key, 4 for the row). A
      new chunk's keys become a run; runs of similar size are merged while they stay under
      ``merge_limit``, so lookups touch few runs and a merge never copies much.

    Parameters
    ----------
    merge_limit : int, optional
        Largest run a merge may produce (default :data:`MERGE_LIMIT`).

    Examples
    --------
    >>> seen = SeenIds()
    >>> seen.first_rows(np.arange(1, 9, dtype=np.uint64), np.arange(2, 10)).tolist()
    [-1, -1, -1, -1, -1, -1, -1, -1]
    >>> seen.first_rows(np.array([3, 42, 42], dtype=np.uint64), np.array([10, 11, 12])).tolist()
    [4, -1, 11]
    >>> len(seen), len(seen.spans), len(seen.runs)
    (9, 1, 1)
    """

    def __init__(self, merge_limit: int | None = None) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.row_dtype: type = np.uint32  # 12 bytes per id until rows pass 2**32
        self.merge_limit = MERGE_LIMIT if merge_limit is None else merge_limit
        self.largest: np.uint64 | None = None  # the largest key remembered

    def __len__(self) -> int:
        in_spans = sum(int((hi - lo).sum()) + len(lo) for lo, hi, _ in self.spans)
        return sum(len(keys) for keys, _ in self.runs) + in_spans

    @property
    def nbytes(self) -> int:
        """Memory held by the remembered ids."""
        return (sum(k.nbytes + r.nbytes for k, r in self.runs)
                + sum(lo.nbytes + hi.nbytes + r.nbytes for lo, hi, r in self.spans))

    def first_rows(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each (key, row), in increasing row order: the first row with that key if earlier
        (then it is a duplicate), else -1. Remembers the keys not seen before.

        Parameters
        ----------
        keys : numpy.ndarray
            uint64 keys (:func:`id_keys`) of valid rows.
        rows : numpy.ndarray
            Their spreadsheet rows, increasing, all after every row seen before.

        Returns
        -------
        numpy.ndarray
            int64, -1 for a first occurrence.
        """
        out = np.full(len(keys), -1, dtype=np.int64)
        if len(keys) == 0:
            return out
        increasing = bool(np.all(keys[1:] > keys[:-1]))
        if increasing and (self.largest is None or keys[0] > self.largest):
            # Increasing ids, all above every id seen (the usual export): nothing can repeat.
            self._add(keys, rows.astype(np.int64, copy=False))
            self.largest = keys[-1]
            return out
        if increasing:
            # Increasing ids (the usual export): already sorted and distinct, nothing to sort.
            order = group = np.arange(len(keys))
            sorted_keys = unique_keys = keys
            sorted_rows = unique_rows = rows
        else:
            order = np.argsort(keys, kind="stable")
            sorted_keys, sorted_rows = keys[order], rows[order]
            starts = np.ones(len(keys), dtype=bool)
            starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
            group = np.cumsum(starts) - 1
            unique_keys, unique_rows = sorted_keys[starts], sorted_rows[starts]
        earlier = np.full(len(unique_keys), -1, dtype=np.int64)
        for run_keys, run_rows in self.runs:
            pos = np.minimum(np.searchsorted(run_keys, unique_keys), len(run_keys) - 1)
            hit = run_keys[pos] == unique_keys
            earlier[hit] = run_rows[pos[hit]]
        for lo, hi, first in self.spans:
            pos = np.searchsorted(lo, unique_keys, side="right") - 1
            inside = pos >= 0
            pos = np.maximum(pos, 0)
            hit = np.flatnonzero(inside & (unique_keys <= hi[pos]))
            at = pos[hit]
            earlier[hit] = first[at] + (unique_keys[hit] - lo[at]).astype(np.int64)
        first = np.where(earlier >= 0, earlier, unique_rows)[group]
        duplicate = first != sorted_rows
        out[order[duplicate]] = first[duplicate]
        new = earlier < 0
        self._add(unique_keys[new], unique_rows[new].astype(np.int64, copy=False))
        top = unique_keys[-1]  # sorted (or increasing) keys: the largest is last
        self.largest = top if self.largest is None else max(self.largest, top)
        return out

    def _add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        if len(keys) == 0:
            return
        if len(keys) >= SPAN_MIN:
            keys, rows = self._add_spans(keys, rows)
            if len(keys) == 0:
                return
        if self.row_dtype == np.uint32 and rows.max() > np.iinfo(np.uint32).max:
            self.row_dtype = np.int64  # past four billion rows: widen what is stored
            self.runs = [(k, r.astype(np.int64)) for k, r in self.runs]
        self.runs.append((keys, rows.astype(self.row_dtype)))
        while len(self.runs) > 1:
            (k1, r1), (k2, r2) = self.runs[-2], self.runs[-1]
            if len(k1) > 2 * len(k2) or len(k1) + len(k2) > self.merge_limit:
                break
            self.runs[-2:] = [_merge(k1, r1, k2, r2)]

    def _add_spans(self, keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Store the long runs of consecutive keys on consecutive rows as spans; return the rest."""
        n = len(keys)
        breaks = np.flatnonzero(((keys[1:] - keys[:-1]) != 1) | (np.diff(rows) != 1)) + 1
        begin = np.concatenate([[0], breaks])
        length = np.diff(np.concatenate([begin, [n]]))
        long = length >= SPAN_MIN
        if not long.any():
            return keys, rows
        b, m = begin[long], length[long]
        self.spans.append(_coalesce(keys[b], keys[b + m - 1], rows[b]))
        while len(self.spans) > 1:
            s1, s2 = self.spans[-2], self.spans[-1]
            if len(s1[0]) > 2 * len(s2[0]) or len(s1[0]) + len(s2[0]) > self.merge_limit:
                break
            self.spans[-2:] = [_coalesce(*(np.concatenate([a, c]) for a, c in zip(s1, s2, strict=True)))]
        rest = ~np.repeat(long, length)
        return keys[rest], rows[rest]


def _coalesce(lo: np.ndarray, hi: np.ndarray, first: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort key-disjoint spans by first key and join those that continue each other."""
    order = np.argsort(lo, kind="stable")
    lo, hi, first = lo[order], hi[order], first[order].astype(np.int64)
    joins = (lo[1:] == hi[:-1] + np.uint64(1)) & (
        first[1:] == first[:-1] + (hi[:-1] - lo[:-1]).astype(np.int64) + 1)
    begin = np.flatnonzero(np.concatenate([[True], ~joins]))
    end = np.concatenate([begin[1:], [len(lo)]]) - 1
    return lo[begin], hi[end], first[begin]


def _merge(k1: np.ndarray, r1: np.ndarray, k2: np.ndarray, r2: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted runs of distinct keys (and their rows) in linear time, no sort."""
    n = len(k1) + len(k2)
    to = np.searchsorted(k1, k2) + np.arange(len(k2))  # where each of run 2 lands
    from_first = np.ones(n, dtype=bool)
    from_first[to] = False
    keys, rows = np.empty(n, dtype=k1.dtype), np.empty(n, dtype=r1.dtype)
    keys[to], rows[to] = k2, r2
    keys[from_first], rows[from_first] = k1, r1
    return keys, rows


def id_keys(ids: pa.Array) -> np.ndarray:
    """64-bit keys of ids: plain integers exactly, other ids hashed (as trimmed text).

    ``ids`` is trimmed text, or an integer array (typed ids, as Parquet stores them: the key is
    the one its text would get). Plain integer ids keep the high bit clear and hashed ids set
    it, so the two never meet.

    Examples
    --------
    >>> id_keys(pa.array(["17", "0", "007"]))[:2].tolist()
    [17, 0]
    >>> bool(id_keys(pa.array(["007"]))[0] >= 2**63)
    True
    >>> id_keys(pa.array([17, 0])).tolist() == id_keys(pa.array(["17", "0"])).tolist()
    True
    """
    if len(ids) == 0:
        return np.empty(0, dtype=np.uint64)
    if pa.types.is_integer(ids.type):
        numbers = ids.to_numpy()
        plain = (numbers >= 0) & (numbers < _PLAIN_LIMIT)
        if plain.all():
            return numbers.astype(np.uint64)
        keys = numbers.astype(np.uint64)
        text = pc.cast(ids.filter(pa.array(~plain)), pa.string())
        keys[~plain] = pd.util.hash_array(text.to_numpy(zero_copy_only=False).astype(object),
                                          categorize=False) | _HASHED
        return keys
    numbers = plain_integer_keys(ids)
    if numbers is not None:
        return numbers
    plain = pc.fill_null(pc.match_substring_regex(ids, _PLAIN_INTEGER), False)
    if pc.all(plain).as_py():
        return pc.cast(ids, pa.int64()).to_numpy().astype(np.uint64)
    text = ids.to_numpy(zero_copy_only=False).astype(object)
    keys = pd.util.hash_array(text, categorize=False) | _HASHED
    is_plain = np.asarray(plain)
    if is_plain.any():
        keys[is_plain] = pc.cast(ids.filter(plain), pa.int64()).to_numpy().astype(np.uint64)
    return keys


def plain_integer_keys(ids: pa.Array) -> np.ndarray | None:
    """The keys of text ids when every one is a plain integer (``0``, ``17``; not ``007``,
    ``+7``, ``-7``, `` 7``), found without a regular expression: cast, then compare each text's
    length with its number's digit count. None when any id is not plain.

    Text holding only a plain integer has nothing to trim, so keys found here for untrimmed ids
    are :func:`id_keys` of the trimmed ids.

    Examples
    --------
    >>> plain_integer_keys(pa.array(["17", "0"])).tolist(), plain_integer_keys(pa.array([" 17"]))
    ([17, 0], None)
    """
    if ids.null_count:
        return None
    if len(ids) == 0:
        return np.empty(0, dtype=np.uint64)
    if (len(ids) >= COMPILED_MIN_CELLS and pa.types.is_string(ids.type)
            and compiled_code_allowed() and compiled_code_loaded()):  # never waits for Numba
        from custseg.io.compiledparse import plain_integers  # one pass over the text

        return plain_integers(ids)
    try:
        numbers = pc.cast(ids, pa.int64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if numbers.min() < 0 or numbers.max() >= _PLAIN_LIMIT:
        return None
    digits = np.searchsorted(_POWERS_OF_TEN, numbers, side="right")  # 1 for 0..9, 2 for 10..99
    lengths = pc.utf8_length(ids).to_numpy()
    if not np.array_equal(lengths, digits):
        return None
    return numbers.astype(np.uint64)

