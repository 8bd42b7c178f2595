"""The in-memory engine: the table is read whole and held; every pass works on it in place.

Reading uses the fastest reader of each format (Arrow's multi-threaded CSV parser, one Parquet
read). The held table then goes through the same scan, passes and assignment as the batch
engine's (:mod:`custseg.engines.scan`, :mod:`custseg.engines.kernels`): the same rejects, sample,
scaler, centroids and segments. The scan and the observers of the assignment take the table in
slices of :data:`SLICE_ROWS` rows (views, not copies), so their temporary arrays stay small.
Memory: the table as Arrow holds it plus the features as float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from custseg.engines.base import AssignedBatch, Engine, Observer
from custseg.engines.kernels import (
    BLOCK_ROWS,
    WARM_UP_ROWS,
    assign_rows,
    compiles,
    load_in_background,
    warm_up,
)
from custseg.engines.scan import Scan, Scanner, ScanSpec
from custseg.io.chunks import Chunk, Source
from custseg.io.formats import sequential_rows
from custseg.progress import NullProgress, Progress

#: Rows of the held table handed to the scan and to the observers at a time.
SLICE_ROWS = 1 << 19


class MemoryEngine(Engine):
    """Holds the valid rows in memory (see the module notes).

    Examples
    --------
    >>> from custseg.datasets import mall_customers_path
    >>> from custseg.io.sources import open_source
    >>> features = ("Annual Income (k$)", "Spending Score (1-100)")
    >>> with MemoryEngine(open_source(mall_customers_path())) as engine:
    ...     scan = engine.scan(ScanSpec(features, features, "CustomerID", seed=0, sample_rows=1000))
    >>> scan.n_input, scan.n_valid, scan.sample.size
    (200, 200, 200)
    """

    name = "memory"

    def __init__(self, source: Source | None, work_parent: Path | None = None) -> None:
        super().__init__(source, work_parent)
        self.table: pa.Table | None = None
        self.rows = np.empty(0, dtype=np.int64)
        self.values = np.empty((0, 0))

    @classmethod
    def from_matrix(cls, X: np.ndarray) -> MemoryEngine:
        """An engine over a validated feature matrix alone (no scan: nothing to check).

        Used by :class:`custseg.Segmenter`, whose input scikit-learn has already validated.
        """
        engine = cls(None)
        engine.values = np.ascontiguousarray(X, dtype=np.float64)
        engine.rows = sequential_rows(len(engine.values))
        engine.n_valid = len(engine.values)
        return engine

    def scan(self, spec: ScanSpec, progress: Progress | None = None) -> Scan:
        progress = progress or NullProgress()
        info = self.source.info()
        loading = warm_up(self.source.memory_basis()[0])  # Numba loads while the input is read
        with progress.task(f"Reading {self.source.name}"):
            chunk = self.source.read_whole()
        n = chunk.table.num_rows
        if loading is None and n >= WARM_UP_ROWS and compiles(n):  # many rows in a small file
            load_in_background()
        scanner = Scanner(spec, info, self._reject_store())
        tables, rows = [], []
        # The values are written in place, valid rows one after the other (no copy to join
        # them; the pages of rows never written are never touched, so they cost nothing).
        values = np.empty((chunk.table.num_rows, len(spec.feature_columns)))
        done = 0
        with progress.task(f"Checking {chunk.n_records:,} rows", total=chunk.n_records,
                           unit="rows") as advance:
            for piece in _slices(chunk):
                keep, piece_values, valid = scanner.feed(piece, values[done:])
                tables.append(valid)
                rows.append(piece.rows if len(piece_values) == len(keep) else piece.rows[keep])
                done += len(piece_values)
                advance(piece.n_records)
        self.table = pa.concat_tables(tables) if tables else chunk.table
        every = done == chunk.table.num_rows
        self.rows = (chunk.rows if every else np.concatenate(rows) if rows
                     else np.empty(0, np.int64))
        self.values = values[:done]
        self.n_valid = done
        self.passes = 1
        return scanner.finish(self.source.columns)

    def feature_blocks(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self.values), BLOCK_ROWS):
            yield self.values[start:start + BLOCK_ROWS]

    def feature_runs(self) -> Iterator[np.ndarray]:
        if self.prep is None:
            yield self.values
            return
        # Prepared run by run (the pass transforms what it is given): no copy of every row.
        for start in range(0, len(self.values), SLICE_ROWS):
            yield self.values[start:start + SLICE_ROWS]

    def assign(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray,
               observers: Sequence[Observer], progress: Progress | None = None) -> None:
        progress = progress or NullProgress()
        n = len(self.values)
        self.passes += 1
        with progress.task(f"Assigning {n:,} customers", total=n, unit="rows") as advance:
            if self.prep is None:
                labels, squared = assign_rows(self.values, centers, mean, scale)
            else:  # prepared slice by slice: no transformed copy of every row at once
                labels, squared = np.empty(n, dtype=np.int64), np.empty(n)
                for start in range(0, n, SLICE_ROWS):
                    end = min(n, start + SLICE_ROWS)
                    labels[start:end], squared[start:end] = assign_rows(
                        self.prepared(self.values[start:end]), centers, mean, scale, n_rows=n)
            batches = []
            for start in range(0, n, SLICE_ROWS):
                end = min(n, start + SLICE_ROWS)
                table = None if self.table is None else self.table.slice(start, end - start)
                batches.append(AssignedBatch(table, self.rows[start:end],
                                             self.filled(self.values[start:end]),
                                             labels[start:end], squared[start:end]))
            if not observers:
                advance(n)
                return
            # Observers are independent: each takes every batch, in row order, in its own thread
            # (Arrow and NumPy release the GIL), the last one in this thread, showing progress.
            *others, last = observers
            with ThreadPoolExecutor(max(1, len(others)),
                                    thread_name_prefix="custseg-observers") as pool:
                running = [pool.submit(_observe_all, observer, batches) for observer in others]
                for batch in batches:
                    last.observe(batch)
                    advance(len(batch))
                for done in running:
                    done.result()


def _observe_all(observer: Observer, batches: Sequence[AssignedBatch]) -> None:
    for batch in batches:
        observer.observe(batch)


def _slices(chunk: Chunk) -> list[Chunk]:
    """The held table in slices of :data:`SLICE_ROWS` rows, each with the unparseable records
    that come before its last row (so rejects stay in row order)."""
    n = chunk.table.num_rows
    if n <= SLICE_ROWS:
        return [chunk]
    rejects = chunk.parse_rejects
    reject_rows = rejects.column("row").to_numpy() if rejects.num_rows else np.empty(0, np.int64)
    pieces, done = [], 0
    for start in range(0, n, SLICE_ROWS):
        end = min(n, start + SLICE_ROWS)
        last = int(chunk.rows[end - 1]) if end < n else np.iinfo(np.int64).max
        upto = int(np.searchsorted(reject_rows, last, side="right"))
        pieces.append(Chunk(chunk.table.slice(start, end - start), chunk.rows[start:end],
                            rejects.slice(done, upto - done)))
        done = upto
    return pieces

