"""The batch engine (out-of-core): the table is read in record batches and never held whole.

Memory is bounded by the batch size, not the number of customers:

1. **Scan** (the input): each batch is validated and folded into the run's scan
   (:mod:`custseg.engines.scan`); the valid rows' features are spilled to the work folder as
   float64 (one binary file, so the Lloyd passes need not parse the input again), with one
   keep/reject byte per parsed record.
2. **Lloyd passes** (the spilled features): read back in blocks of
   :data:`~custseg.engines.kernels.BLOCK_ROWS` rows, the same blocks as the in-memory engine's.
3. **Assignment** (the input again): each batch is re-read, its valid rows assigned and handed to
   the observers (the writers among them). Reading and assigning the next batch overlaps the
   observers' work on the current one (one worker thread; batches still arrive in order).

Disk: 8 bytes per feature per valid row, plus one byte per record, in the work folder beside
the outputs, removed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from custseg.engines.base import AssignedBatch, Engine, Observer
from custseg.engines.kernels import BLOCK_ROWS, assign_rows, single_blas, warm_up
from custseg.engines.scan import Scan, Scanner, ScanSpec
from custseg.io.chunks import Source
from custseg.progress import NullProgress, Progress

#: Most rows per batch (fewer when the memory budget is small or rows are wide).
DEFAULT_BATCH_ROWS = 1_000_000
#: Fewest rows per batch chosen from a memory budget.
MIN_BATCH_ROWS = 10_000
#: Batch memory is about this many times the rows' size in Arrow (copies made while checking,
#: filtering, formatting and writing a batch), plus the libraries' fixed cost.
BATCH_COPIES = 24
_FEATURES = "features.f64"
_KEEP = "keep.u8"
#: Most blocks read from the spilled features at a time (fewer with small batches).
_READ_BLOCKS = 16


def batch_rows_for(source: Source, budget: int) -> int:
    """Rows per batch that keep a batch's copies within ``budget`` bytes."""
    rows = int(budget / (BATCH_COPIES * max(source.row_bytes(), 1.0)))
    return int(min(DEFAULT_BATCH_ROWS, max(MIN_BATCH_ROWS, rows)))


class BatchEngine(Engine):
    """Reads the table in batches of ``batch_rows`` rows (see the module notes).

    Examples
    --------
    >>> from custseg.datasets import mall_customers_path
    >>> from custseg.io.sources import open_source
    >>> features = ("Annual Income (k$)", "Spending Score (1-100)")
    >>> with BatchEngine(open_source(mall_customers_path()), batch_rows=7) as engine:
    ...     scan = engine.scan(ScanSpec(features, features, "CustomerID", seed=0, sample_rows=50))
    ...     blocks = [len(b) for b in engine.feature_blocks()]
    >>> scan.n_valid, scan.sample.size, blocks
    (200, 50, [200])
    """

    name = "batches"

    def __init__(self, source: Source, work_parent: Path | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        super().__init__(source, work_parent)
        self.batch_rows = int(batch_rows)
        self.n_features = 0

    def facts(self) -> dict:
        return {**super().facts(), "batch_rows": self.batch_rows}

    def _progress_total(self) -> int:
        total = self.source.total_rows
        return int(total) if total else 0

    def scan(self, spec: ScanSpec, progress: Progress | None = None) -> Scan:
        progress = progress or NullProgress()
        scanner = Scanner(spec, self.source.info(), self._reject_store())
        warm_up(self.source.memory_basis()[0])  # Numba loads while the first batches are read
        self.n_features = len(spec.feature_columns)
        total = self._progress_total()
        with (progress.task(f"Reading and checking {self.source.name}", total=total or 100,
                            unit="rows" if total else None) as advance,
              open(self.work / _FEATURES, "wb") as features, open(self.work / _KEEP, "wb") as keeps):
            done = 0.0
            for chunk in self.source.chunks(self.batch_rows):
                keep, values, _ = scanner.feed(chunk)
                keeps.write(keep.astype(np.uint8).tobytes())
                if len(values):
                    features.write(np.ascontiguousarray(values).tobytes())
                now = done + chunk.n_records if total else 100 * self.source.fraction_done()
                advance(now - done)
                done = now
        self.n_valid = scanner.n_valid
        self.passes = 1
        return scanner.finish(self.source.columns)

    def _spilled(self, rows: int) -> Iterator[np.ndarray]:
        """The spilled features, ``rows`` rows at a time."""
        d = self.n_features
        with open(self.work / _FEATURES, "rb") as fh:
            while True:
                data = fh.read(rows * d * 8)
                if not data:
                    return
                yield np.frombuffer(data, dtype=np.float64).reshape(-1, d)

    def feature_blocks(self) -> Iterator[np.ndarray]:
        for part in self.feature_runs():
            for start in range(0, len(part), BLOCK_ROWS):
                yield part[start:start + BLOCK_ROWS]

    def feature_runs(self) -> Iterator[np.ndarray]:
        blocks = min(_READ_BLOCKS, max(1, self.batch_rows // BLOCK_ROWS))
        yield from self._spilled(BLOCK_ROWS * blocks)

    def assign(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray,
               observers: Sequence[Observer], progress: Progress | None = None) -> None:
        progress = progress or NullProgress()
        features = self._spilled(self.batch_rows)
        pending = np.empty((0, self.n_features))
        self.passes += 1
        working: Future | None = None
        with (progress.task(f"Assigning {self.n_valid:,} customers", total=self.n_valid,
                            unit="rows") as advance,
              open(self.work / _KEEP, "rb") as keeps, single_blas(),
              ThreadPoolExecutor(1, thread_name_prefix="custseg-observers") as pool):
            for chunk in self.source.chunks(self.batch_rows):
                n = chunk.table.num_rows
                keep = np.frombuffer(keeps.read(n), dtype=np.uint8).astype(bool)
                m = int(keep.sum())
                if m == 0:
                    continue
                while len(pending) < m:
                    pending = np.concatenate([pending, next(features)])
                X, pending = pending[:m], pending[m:]
                valid = chunk.table if m == n else chunk.table.filter(pa.array(keep))
                labels, squared = assign_rows(self.prepared(X), centers, mean, scale,
                                              n_rows=self.n_valid)
                batch = AssignedBatch(valid, chunk.rows[keep], self.filled(X), labels, squared)
                if working is not None:
                    working.result()
                working = pool.submit(_observe, observers, batch)
                advance(m)
            if working is not None:
                working.result()


def _observe(observers: Sequence[Observer], batch: AssignedBatch) -> None:
    for observer in observers:
        observer.observe(batch)
