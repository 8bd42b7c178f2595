"""The engine interface: what the pipeline needs from the rows, wherever they live.

An engine offers three operations, in the pipeline's words:

``scan(spec)``
    Read every record once: validate it (rejects with reasons, exact counts), fit the scaler's
    moments, keep the seeded uniform sample and what the profile needs to know about each
    column (:class:`custseg.engines.scan.Scan`).
``lloyd_pass(centers)``
    Assign every valid row to its nearest centroid and total, per centroid, the rows' sum and
    count (and the squared distances): one Lloyd iteration's data work
    (:class:`custseg.engines.kernels.PassTotals`).
``assign(centers, observers)``
    Assign every valid row and hand each batch (cells, feature values, segment, squared
    distance) to the observers: the writers of the clustered files, the per-segment
    aggregates of the profiles, the rules' agreement, the migration since a previous run.

Everything above (K choice, the fit, names, rules, tracking, the model file, outputs, report)
is written once against this interface and never asks which engine it runs on. Float sums are
taken over fixed blocks of rows (:mod:`custseg.engines.kernels`), so every engine, at every
batch size, gives the same bits.
"""

from __future__ import annotations

import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import pyarrow as pa

from custseg.engines.kernels import PassAccumulator, PassTotals, single_blas
from custseg.engines.prepare import FeaturePrep
from custseg.engines.scan import Scan, ScanSpec
from custseg.io.chunks import Source
from custseg.io.rejects import RejectStore
from custseg.progress import NullProgress, Progress


@dataclass(frozen=True)
class AssignedBatch:
    """Valid rows with their segment, as the assignment pass hands them to observers.

    Attributes
    ----------
    table : pyarrow.Table or None
        Every input column of the rows, cells as read (None for a bare matrix).
    rows : numpy.ndarray
        Spreadsheet row of each.
    values : numpy.ndarray
        Feature values, original units, shape (n, d).
    labels : numpy.ndarray
        Position of each row's nearest centroid in the ``centers`` given to ``assign``.
    squared : numpy.ndarray
        Squared distance to it, in the scaled space.
    """

    table: pa.Table | None
    rows: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    squared: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class Observer(Protocol):
    """Something the assignment pass hands every batch to, in row order."""

    def observe(self, batch: AssignedBatch) -> None:
        """Take one batch."""
        ...  # pragma: no cover


class Engine(ABC):
    """Where the rows of a run live, and the passes over them.

    Use as a context manager: the engine owns a work folder (spilled rejects, and for the
    batch engine the valid rows' features) that is removed on exit.

    Parameters
    ----------
    source : Source
        The customer table.
    work_parent : pathlib.Path or None
        Folder to create the work folder in (beside the outputs, so spills use their disk);
        None: the system's temporary folder.
    """

    name: ClassVar[str]
    #: Whether the clustered file this engine writes can carry the ``outlier`` column.
    flags_outliers: ClassVar[bool] = True

    def __init__(self, source: Source, work_parent: Path | None = None) -> None:
        self.source = source
        self.work_parent = work_parent
        self.work: Path | None = None
        self.passes = 0
        self.n_valid = 0
        self.prep: FeaturePrep | None = None
        self.preparation: FeaturePrep | None = None
        #: Why this engine (``engines.choose_engine``): recorded in ``segments.json``.
        self.choice: dict | None = None

    def use_preparation(self, prep: FeaturePrep) -> None:
        """Fill and transform every row's features before scaling, in every later pass
        (:mod:`custseg.engines.prepare`); observers get the filled values, original units."""
        self.preparation = prep
        self.prep = None if prep.identity else prep

    def prepared(self, X: np.ndarray) -> np.ndarray:
        """Feature values as the scaler takes them (filled and transformed)."""
        return X if self.prep is None else self.prep.forward(X)

    def filled(self, X: np.ndarray) -> np.ndarray:
        """Feature values with missing cells filled (original units)."""
        return X if self.prep is None else self.prep.filled(X)

    def __enter__(self) -> Engine:
        parent = self.work_parent
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix=".custseg-work-", dir=parent))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the work folder."""
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def _reject_store(self) -> RejectStore:
        if self.work is None:
            raise RuntimeError("an engine is used inside `with engine:`")
        return RejectStore(self.work / "rejects.arrows")

    @abstractmethod
    def scan(self, spec: ScanSpec, progress: Progress | None = None) -> Scan:
        """Read, validate and learn from every record (see the module notes)."""

    @abstractmethod
    def feature_blocks(self) -> Iterator[np.ndarray]:
        """Every valid row's feature values (original units), in row order, in blocks of exactly
        :data:`custseg.engines.kernels.BLOCK_ROWS` rows (the last one shorter)."""

    def feature_runs(self) -> Iterator[np.ndarray]:
        """The same rows as :meth:`feature_blocks`, in runs of whole blocks (every run a
        multiple of :data:`custseg.engines.kernels.BLOCK_ROWS` rows but the last), so a pass can
        hand many blocks to the compiled kernels at once. Default: block by block."""
        return self.feature_blocks()

    @abstractmethod
    def assign(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray,
               observers: Sequence[Observer], progress: Progress | None = None) -> None:
        """Assign every valid row to its nearest centroid and hand the batches to ``observers``.

        Parameters
        ----------
        centers : numpy.ndarray
            Centroids in the scaled space, shape (k, d).
        mean, scale : numpy.ndarray
            The scaler: scaled = (x - mean) / scale.
        observers : sequence of Observer
            Called with every :class:`AssignedBatch`, in row order.
        progress : Progress, optional
            Where to show the pass.
        """

    def lloyd_pass(self, centers: np.ndarray, mean: np.ndarray, scale: np.ndarray, *,
                   inertia: bool = False, progress: Progress | None = None,
                   description: str = "K-Means pass") -> PassTotals:
        """Per-centroid sums, counts (and with ``inertia`` squared distances) of every valid row
        under fixed ``centers`` (scaled space)."""
        progress = progress or NullProgress()
        accumulator = PassAccumulator(centers, mean, scale, inertia=inertia, n_rows=self.n_valid)
        self.passes += 1
        with single_blas(), progress.task(description, total=self.n_valid, unit="rows") as advance:
            for X in self.feature_runs():
                accumulator.add_blocks(self.prepared(X))
                advance(len(X))
        return accumulator.totals()

    def head(self, rows: int) -> pa.Table:
        """The first ``rows`` records of the input, every column, cells as read (fewer when the
        input has fewer): what an automatic choice of features looks at."""
        tables, n = [], 0
        for chunk in self.source.chunks(rows):
            tables.append(chunk.table)
            n += chunk.table.num_rows
            if n >= rows:
                break
        if not tables:
            return pa.table({name: pa.array([], pa.string()) for name in self.source.columns})
        return pa.concat_tables(tables).slice(0, rows)

    def facts(self) -> dict:
        """How the engine ran, for ``segments.json``: its name, passes over the rows, and why
        it was chosen (when :func:`custseg.engines.open_engine` chose it)."""
        facts = {"name": self.name, "passes": int(self.passes)}
        if self.choice is not None:
            facts["choice"] = self.choice
        return facts
