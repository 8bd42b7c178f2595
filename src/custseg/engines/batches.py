"""The streaming engine of ``custseg run`` (``--engine streaming``): memory bounded by the batch.

The customer file is read in batches (Parquet record batches, CSV blocks; see
:mod:`custseg.data.batches`) and never held whole. Passes:

1. **Read and check** (the file): every batch is validated with ``run``'s rules (same rejects,
   reasons and row numbers; duplicate ids across batches). Rejects are spilled to disk and become
   ``rejected_rows.csv``; the valid rows' feature values are spilled as float64 (one binary file,
   so later passes need not parse the input again), with one keep/reject byte per parsed row.
   On the way: the scaler's mean and population standard deviation, exactly (scikit-learn's
   ``StandardScaler.partial_fit``, batch by batch); a seeded uniform sample of
   :data:`SAMPLE_ROWS` valid rows (every input column; each row's chance depends only on its row
   number and the seed, so the sample does not depend on the batch size); and what the profile
   needs to decide, as ``run`` does, which other columns are numeric and which categorical.
2. **Choose K** on the scaled sample (:func:`custseg.selection.choose_k`, which scores K on
   ``SELECTION_SAMPLE`` of those rows): the same evidence, and the same warm start
   (``sample_centers``), as the in-memory engine.
3. **Exact Lloyd passes** over the spilled features (:mod:`custseg.engines.streaming`): per
   segment sums and counts accumulated batch by batch, new centroids, until they move less than
   scikit-learn's tolerance; then one counting pass under the final centroids, whose exact sizes
   give custseg's stable segment numbering (largest first, ties by centroid).
4. **Assign and write** (the file again): each batch is assigned, and every input column (cells as
   read) plus ``Cluster`` and ``Segment`` is appended to ``<stem>_clustered.csv`` and to its
   segment's ``segments/<slug>.csv``; sizes, means of every numeric column, category counts and
   the CRM rules' agreement with K-Means are counted exactly on the way.

Exact (over all rows): row counts and reject reasons, the scaler, the centroids, segment sizes and
shares, means of every numeric column, category mixes, inertia, the CRM rules' fidelity.
Estimated on the sample (up to :data:`SAMPLE_ROWS` rows; exact when the file has no more valid
rows than that): medians and quartiles, the segment names (which rank the segments' medians
among customers), the silhouette, the distance thresholds of the model file, and the figures. The
CRM rules' tree is fitted on the sample, as the in-memory engine fits it on a sample of 50,000.

Memory: a batch (``batch_rows`` rows, sized from ``--memory-budget``), the sample, and the ids
remembered for the duplicate check (:class:`custseg.data.batches.SeenIds`: a few bytes for
sequential integer ids, 12 bytes per id otherwise). Disk: the spilled features (8 bytes per
feature per valid row) beside the output folder, removed at the end.

The outputs are those of the in-memory engine, written through one staging folder
(:class:`custseg.data.writers.OutputFolder`). ``--previous`` is not supported yet.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from custseg.config import RunConfig
from custseg.data.batches import (
    MAX_BLOCK,
    REJECT_SCHEMA,
    BatchSource,
    BatchValidator,
    BlockTooSmall,
    open_source,
    resolve_columns,
    text_flags,
)
from custseg.data.rejects import empty_rejects
from custseg.data.validate import ValidatedTable, parse_numbers
from custseg.data.writers import (
    OutputFolder,
    _any_structural,
    check_writable,
    neutralise_formulas,
    write_csv,
    write_json,
)
from custseg.datasets import mall_customers_path
from custseg.engines.local import fit_kmeans
from custseg.engines.streaming import (
    MAX_ITER,
    TOL,
    StreamingFit,
    assign_batch,
    fit_lloyd,
    single_blas,
)
from custseg.exceptions import ConfigError, DataValidationError, InputFileError
from custseg.features import FeatureMatrix
from custseg.metrics import silhouette_values
from custseg.model import Segmenter, _kmeans_from_centers
from custseg.naming import SegmentInfo, describe_segments, load_overrides
from custseg.pipeline import CLUSTER_COLUMN, SEGMENT_COLUMN, RunResult
from custseg.profile import (
    BASE,
    MAX_CATEGORIES,
    MAX_CODES,
    NUMERIC_SHARE,
    SNIFF_ROWS,
    SegmentProfiles,
    _code_text,
    profile_segments,
)
from custseg.progress import NullProgress, Progress
from custseg.rules import FIT_SAMPLE, MIN_LEAF_SHARE, SegmentRules, fit_rules
from custseg.selection import choose_k

__all__ = ["DEFAULT_BATCH_ROWS", "SAMPLE_ROWS", "StreamedTable", "StreamingRunResult",
           "run_streaming"]

#: Most rows per batch (fewer when ``--memory-budget`` is small or rows are wide).
DEFAULT_BATCH_ROWS = 1_000_000
#: Fewest rows per batch chosen from the memory budget.
MIN_BATCH_ROWS = 10_000
#: Batch memory is about this many times the rows' size in Arrow (copies made while checking,
#: filtering, formatting and writing a batch), plus the libraries' fixed cost.
BATCH_COPIES = 24
#: Valid rows kept in the uniform sample (K choice, medians, names, figures, silhouette).
SAMPLE_ROWS = 200_000
#: Rejected rows kept in memory for :attr:`StreamingRunResult.rejects` (all are in the file).
REJECTS_KEPT = 10_000
_FEATURES_FILE = "features.f64"
_MASK_FILE = "keep.u8"
_REJECTS_FILE = "rejects.arrows"


@dataclass(frozen=True)
class StreamedTable(ValidatedTable):
    """:class:`~custseg.data.validate.ValidatedTable` of a streamed run.

    ``table``, ``values`` and ``row_numbers`` hold the sample's rows (in input order), and
    ``rejects`` the first :data:`REJECTS_KEPT` rejected rows; the counts are the whole file's.

    Attributes
    ----------
    n_clean : int
        Valid rows in the file (:attr:`n_rows`).
    n_rejected : int
        Rejected rows in the file (all of them are in ``rejected_rows.csv``).
    reject_reasons : dict of str to int
        Rejected rows per reason text.
    """

    n_clean: int = 0
    n_rejected: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Valid rows in the whole file (not only the sample's)."""
        return self.n_clean

    @property
    def n_sample(self) -> int:
        """Rows in the sample (``table``, ``values``)."""
        return self.table.num_rows


@dataclass(frozen=True)
class StreamingRunResult(RunResult):
    """:class:`~custseg.pipeline.RunResult` of the streaming engine.

    Everything the run summary, the console and the report use is there, with these
    differences: row-level views (``validated.table``, ``features.values``, ``labels``,
    ``clusters``, ``customer_ids``, ``clustered_table``, ``silhouette_sample``) cover the
    sample of :data:`SAMPLE_ROWS` valid rows, not every row (the clustered file has them all);
    ``n_input``, ``n_clustered``, ``n_rejected``, ``profiles`` sizes, shares and means,
    ``segmenter.cluster_sizes_`` and ``segmenter.inertia_`` are exact over the whole file.

    Attributes
    ----------
    engine : dict
        How the streaming engine ran: ``batch_rows``, ``sample_rows``, ``passes`` (over the
        spilled features), ``lloyd_iterations``, ``converged``, ``tolerance``.
    """

    engine: dict = field(default_factory=dict)

    @property
    def n_input(self) -> int:
        """Records in the input."""
        return self.validated.n_input

    @property
    def n_clustered(self) -> int:
        """Records segmented (the whole file)."""
        return int(self.validated.n_clean)

    @property
    def n_rejected(self) -> int:
        """Records rejected (the whole file; :attr:`rejects` keeps the first of them)."""
        return int(self.validated.n_rejected)

    @property
    def sizes(self) -> np.ndarray:
        """Customers per segment, exact."""
        return np.asarray(self.profiles.sizes)


# --------------------------------------------------------------------------- the sample

def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a well-spread 64-bit hash of each value (uint64 wraps around)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class _Reservoir:
    """A uniform sample of at most ``capacity`` rows: those with the smallest hashed keys.

    A row's key depends only on its spreadsheet row number and the seed (bottom-k sampling), so
    the sample is the same whatever the batch size; when the file has at most ``capacity``
    valid rows, it is all of them.
    """

    def __init__(self, capacity: int, seed: int, n_features: int) -> None:
        self.capacity = capacity
        self.salt = _mix(np.array([seed % 2**64], dtype=np.uint64))[0]
        self.keys = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.int64)
        self.values = np.empty((0, n_features))
        self.table: pa.Table | None = None

    def offer(self, table: pa.Table, rows: np.ndarray, values: np.ndarray) -> None:
        keys = _mix(rows.astype(np.uint64) ^ self.salt)
        if len(self.keys) >= self.capacity:
            chosen = np.flatnonzero(keys < self.keys.max())
            if len(chosen) == 0:
                return
            keys, rows, values = keys[chosen], rows[chosen], values[chosen]
            table = table.take(pa.array(chosen))
        all_keys = np.concatenate([self.keys, keys])
        all_rows = np.concatenate([self.rows, rows])
        all_values = np.concatenate([self.values, values])
        all_table = table if self.table is None else pa.concat_tables([self.table, table])
        if len(all_keys) > self.capacity:
            keep = np.sort(np.argpartition(all_keys, self.capacity - 1)[:self.capacity])
            all_keys, all_rows, all_values = all_keys[keep], all_rows[keep], all_values[keep]
            all_table = all_table.take(pa.array(keep))
        self.keys, self.rows, self.values = all_keys, all_rows, all_values
        self.table = all_table.combine_chunks()

    def in_row_order(self) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        order = np.argsort(self.rows, kind="stable")
        return self.table.take(pa.array(order)), self.rows[order], self.values[order]


# --------------------------------------------------------------------------- profile columns

def _is_texty(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_dictionary(kind) or pa.types.is_boolean(kind))


def _trimmed_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Text cells trimmed, empty ones null (as :func:`custseg.profile.profile_columns`)."""
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


@dataclass
class _ColumnScan:
    """What :func:`custseg.profile.profile_columns` needs to know about one column, gathered
    batch by batch over the valid rows: numeric or categorical, decided the same way."""

    name: str
    texty: bool
    head: list = field(default_factory=list)
    head_rows: int = 0
    numeric_head: bool | None = None
    ok: int = 0
    first_finite: list = field(default_factory=list)
    n_first: int = 0
    numbers: set = field(default_factory=set)
    too_many_numbers: bool = False
    texts: set = field(default_factory=set)
    too_many_texts: bool = False

    def update(self, column: pa.ChunkedArray) -> None:
        if self.numeric_head is None:
            part = column.slice(0, SNIFF_ROWS - self.head_rows)
            self.head.append(part)
            self.head_rows += len(part)
            if self.head_rows >= SNIFF_ROWS:
                self._decide()
        if self.numeric_head is None or self.numeric_head:
            values, codes = parse_numbers(column)
            self.ok += int((codes == 0).sum())
            finite = values[np.isfinite(values)]
            if self.n_first < SNIFF_ROWS:
                take = finite[:SNIFF_ROWS - self.n_first]
                self.first_finite.append(take)
                self.n_first += len(take)
            if not self.too_many_numbers:
                self.numbers.update(pc.unique(pa.array(finite)).to_pylist())
                if len(self.numbers) > MAX_CODES:
                    self.too_many_numbers, self.numbers = True, set()
        if self.texty and not self.too_many_texts:
            self.texts.update(v for v in pc.unique(_trimmed_text(column)).to_pylist() if v is not None)
            if len(self.texts) > MAX_CATEGORIES:
                self.too_many_texts, self.texts = True, set()

    def _decide(self) -> None:
        head = pa.chunked_array([c for part in self.head for c in _chunks(part)])
        codes = parse_numbers(head)[1] if len(head) else np.zeros(0, dtype=np.uint8)
        self.numeric_head = bool((codes == 0).sum() >= NUMERIC_SHARE * len(head))
        self.head = []

    def plan(self, n: int) -> tuple[str, list[str] | None] | None:
        """``("numeric", None)``, ``("code", categories)``, ``("text", categories)`` or None."""
        if self.numeric_head is None:
            self._decide()
        if self.numeric_head and self.ok >= NUMERIC_SHARE * n:
            first = (np.concatenate(self.first_finite) if self.first_finite
                     else np.zeros(0))
            distinct = np.unique(first)
            if (len(distinct) <= MAX_CODES and np.all(distinct == np.round(distinct))
                    and not self.too_many_numbers and len(self.numbers) <= MAX_CODES):
                return "code", sorted((str(int(v)) for v in self.numbers), key=str)
            return "numeric", None
        if self.texty and not self.too_many_texts and 2 <= len(self.texts) <= MAX_CATEGORIES:
            return "text", sorted(self.texts, key=str)
        return None


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


# --------------------------------------------------------------------------- pass 1

@dataclass
class _Scan:
    """What the first pass learned."""

    source: BatchSource
    block_scale: int
    n_input: int = 0
    n_clean: int = 0
    n_rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    preview: list = field(default_factory=list)
    preview_rows: int = 0
    rejects_structural: bool = False
    clean_structural: bool = False
    scaler: StandardScaler = field(default_factory=StandardScaler)
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    reservoir: _Reservoir | None = None
    columns: dict[str, _ColumnScan] = field(default_factory=dict)
    problem: str = "no rows"

    def rejects_preview(self) -> pd.DataFrame:
        if not self.preview:
            return empty_rejects()
        return pd.concat(self.preview, ignore_index=True).iloc[:REJECTS_KEPT].reset_index(drop=True)


def _first_pass(source: BatchSource, config: RunConfig, feature_cols: list[str], id_col: str | None,
                work: Path, sample_rows: int, block_scale: int, progress: Progress) -> _Scan:
    scan = _Scan(source, block_scale)
    validator = BatchValidator(config.features, feature_cols, id_col,
                               decimal_comma=source.delimiter in (";", "\t"))
    scan.reservoir = _Reservoir(sample_rows, config.seed, len(feature_cols))
    skip = {*feature_cols, id_col}
    total = source.total_rows
    done = 0.0
    with (progress.task(f"Reading and checking {source.name}", total=total or 100) as advance,
          open(work / _FEATURES_FILE, "wb") as features, open(work / _MASK_FILE, "wb") as mask,
          ipc.new_stream(str(work / _REJECTS_FILE), REJECT_SCHEMA) as rejected):
        for chunk in source.chunks(None, block_scale):
            if not scan.columns:
                scan.columns = {name: _ColumnScan(name, _is_texty(chunk.table.schema.field(name).type))
                                for name in chunk.table.column_names if name not in skip}
            scan.n_input += chunk.table.num_rows + len(chunk.parse_rejects)
            keep, values, rejects = validator.check(chunk)
            if len(rejects):
                _spill_rejects(scan, rejects, rejected)
            mask.write(keep.astype(np.uint8).tobytes())
            if len(values):
                features.write(np.ascontiguousarray(values).tobytes())
                _learn(scan, chunk.table, keep, chunk.rows, values)
            now = source.fraction_done() * 100 if total is None else done + chunk.table.num_rows
            advance(now - done)
            done = now
    scan.problem = validator.most_common_problem()
    return scan


def _spill_rejects(scan: _Scan, rejects: pd.DataFrame, sink: ipc.RecordBatchStreamWriter) -> None:
    table = pa.Table.from_pandas(rejects, schema=REJECT_SCHEMA, preserve_index=False)
    sink.write_table(table)
    scan.n_rejected += len(rejects)
    scan.reasons.update(rejects["reason"].tolist())
    if scan.preview_rows < REJECTS_KEPT:
        scan.preview.append(rejects)
        scan.preview_rows += len(rejects)
    if not scan.rejects_structural and text_flags(table)[1]:
        scan.rejects_structural = _any_structural(table)


def _learn(scan: _Scan, table: pa.Table, keep: np.ndarray, rows: np.ndarray, values: np.ndarray
           ) -> None:
    """Fold one batch's valid rows into the scaler, the ranges, the sample and the profile scan."""
    scan.n_clean += len(values)
    scan.scaler.partial_fit(values)
    low, high = values.min(axis=0), values.max(axis=0)
    scan.low = low if scan.low is None else np.minimum(scan.low, low)
    scan.high = high if scan.high is None else np.maximum(scan.high, high)
    clean = table if keep.all() else table.filter(pa.array(keep))
    scan.reservoir.offer(clean, rows[keep], values)
    for name, column_scan in scan.columns.items():
        column_scan.update(clean.column(name))
    if not scan.clean_structural and text_flags(table)[1]:
        scan.clean_structural = _any_structural(clean)


# --------------------------------------------------------------------------- checks

def _check_rows(scan: _Scan, config: RunConfig, k: int, features: tuple[str, ...]) -> None:
    """The in-memory engine's checks (:mod:`custseg.data.validate`, :mod:`custseg.features`)."""
    name = scan.source.name
    if scan.n_input == 0:
        raise DataValidationError(f"{name} has a header but no customer rows. Export the table "
                                  "with its data.")
    if config.on_invalid == "fail" and scan.n_rejected:
        first = scan.rejects_preview().iloc[0]
        where = f" in column {first['column']!r}" if first["column"] is not None else ""
        raise DataValidationError(
            f"{name} row {first['row']}{where}: {first['reason']} ({first['value']!r}). "
            f"{scan.n_rejected} invalid row(s) in all; fix them, or use --on-invalid reject.")
    if scan.n_clean == 0:
        raise DataValidationError(
            f"No valid rows left in {name}: all {scan.n_input} rows were rejected (most often: "
            f"{scan.problem}). Fix those values, or choose other columns with --features.")
    _check_k(scan, k)
    for j, feature in enumerate(features):
        if scan.n_clean > 1 and scan.low[j] == scan.high[j]:
            raise DataValidationError(
                f"Feature {feature!r} has the same value ({scan.low[j]:g}) in all {scan.n_clean} "
                f"valid rows of {name}, so it cannot separate segments. Remove it from --features.")


def _check_k(scan: _Scan, k: int) -> None:
    if scan.n_clean < k:
        rejected = f" ({scan.n_rejected} rejected)" if scan.n_rejected else ""
        raise DataValidationError(
            f"Only {scan.n_clean} valid row(s) in {scan.source.name}{rejected}, fewer than K={k} "
            "segments. Use a smaller --k, or fix the rejected rows.")


# --------------------------------------------------------------------------- spilled features

def _feature_batches(work: Path, n_features: int, rows: int) -> Iterator[np.ndarray]:
    """The spilled feature values of the valid rows, ``rows`` at a time (original units)."""
    step = rows * n_features * 8
    with open(work / _FEATURES_FILE, "rb") as fh:
        while True:
            data = fh.read(step)
            if not data:
                return
            yield np.frombuffer(data, dtype=np.float64).reshape(-1, n_features)


def _scaled(X: np.ndarray, scaler: StandardScaler) -> np.ndarray:
    # StandardScaler.transform's arithmetic (subtract the mean, divide by the scale): same bits.
    Z = X - scaler.mean_
    Z /= scaler.scale_
    return Z


def _fit(work: Path, scan: _Scan, init: np.ndarray, batch_rows: int, progress: Progress
         ) -> StreamingFit:
    d = len(init[0])

    def batches(number: int) -> Iterator[np.ndarray]:
        with progress.task(f"K-Means pass {number} over {scan.n_clean:,} customers",
                           total=scan.n_clean) as advance:
            for X in _feature_batches(work, d, batch_rows):
                yield _scaled(X, scan.scaler)
                advance(len(X))

    return fit_lloyd(batches, init, max_iter=MAX_ITER, tol=TOL)


def _stable_order(centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """:func:`custseg.model.stable_order` from exact sizes (largest first, ties by centroid)."""
    keys = [centers[:, j] for j in range(centers.shape[1] - 1, -1, -1)]
    return np.lexsort([*keys, -sizes])


def _segmenter(scan: _Scan, centers: np.ndarray, fit: StreamingFit, Z_sample: np.ndarray,
               feature_cols: list[str], config: RunConfig, init: np.ndarray) -> Segmenter:
    """A fitted :class:`~custseg.model.Segmenter` holding the streamed fit (what ``fit`` would
    set: scaler, centroids in segment order, sample labels; exact sizes and inertia)."""
    k = centers.shape[0]
    segmenter = Segmenter(k, n_init=config.n_init, random_state=config.seed, init=init)
    segmenter.feature_names_in_ = np.asarray(feature_cols, dtype=object)
    segmenter.n_features_in_ = len(feature_cols)
    segmenter.scaler_ = scan.scaler
    segmenter.k_selection_ = None
    segmenter.kmeans_ = _kmeans_from_centers(np.ascontiguousarray(centers))
    segmenter.labels_ = segmenter.kmeans_.predict(Z_sample).astype(np.int32)
    segmenter.cluster_centers_ = np.ascontiguousarray(centers)
    segmenter.n_iter_ = fit.n_iter
    segmenter.kmeans_.n_iter_ = fit.n_iter
    return segmenter


# --------------------------------------------------------------------------- pass 2

@dataclass
class _Totals:
    """Exact per-segment counts of the writing pass."""

    sizes: np.ndarray
    feature_sums: np.ndarray
    inertia: float = 0.0
    agree: int = 0
    numeric_sums: dict[str, np.ndarray] = field(default_factory=dict)
    numeric_counts: dict[str, np.ndarray] = field(default_factory=dict)
    category_counts: dict[str, np.ndarray] = field(default_factory=dict)


class _Writers:
    """The clustered file and one file per segment, written batch by batch (CSV or Parquet)."""

    def __init__(self, paths: list[Path], parquet: bool, options: object) -> None:
        self.paths, self.parquet, self.options = paths, parquet, options
        self.writers: list = []

    def write(self, i: int, table: pa.Table) -> None:
        if not self.writers:
            self._open(table.schema)
        self.writers[i].write_table(table)

    def _open(self, schema: pa.Schema) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        for path in self.paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers.append(pq.ParquetWriter(path, schema) if self.parquet
                                else pacsv.CSVWriter(path, schema, write_options=self.options))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def _write_pass(scan: _Scan, work: Path, root: Path, clustered_name: str, config: RunConfig,
                plan: dict[str, tuple[str, list[str] | None]], centers: np.ndarray,
                segments: tuple[SegmentInfo, ...], tree: DecisionTreeClassifier,
                progress: Progress) -> tuple[_Totals, dict[str, Path]]:
    """Assign every valid row, write it to the clustered file and its segment's file, count."""
    import pyarrow.csv as pacsv

    k, d = centers.shape
    parquet = config.output_format == "parquet"
    names = pa.array([s.name for s in segments], pa.string())
    ids = np.array([s.cluster for s in segments], dtype=np.int64)
    header = [*scan.source.columns, CLUSTER_COLUMN, SEGMENT_COLUMN]
    if not parquet:
        names = neutralise_formulas(pa.table({"v": names})).column("v").combine_chunks()
    plain_header = not any(_any_structural(pa.table({"h": [h]})) for h in header)
    plain_cells = (plain_header and not scan.clean_structural
                   and not _any_structural(pa.table({"v": names})))
    options = pacsv.WriteOptions(quoting_style="none" if plain_cells else "needed",
                                 quoting_header="none" if plain_header else "needed")
    suffix = config.output_format
    paths = [root / clustered_name] + [root / "segments" / f"{s.slug}.{suffix}" for s in segments]
    writers = _Writers(paths, parquet, options)
    totals = _Totals(np.zeros(k, dtype=np.int64), np.zeros((k, d)))
    for name, (kind, categories) in plan.items():
        if kind == "numeric":
            totals.numeric_sums[name], totals.numeric_counts[name] = np.zeros(k), np.zeros(k, np.int64)
        else:
            totals.category_counts[name] = np.zeros((k, len(categories)), dtype=np.int64)
    categories_arrays = {name: pa.array(cats, pa.string()) for name, (kind, cats) in plan.items()
                         if kind != "numeric"}
    features = _feature_batches(work, d, scan.source.chunk_rows)
    pending = np.empty((0, d))
    writing = None
    try:
        # One thread writes a batch (Arrow's CSV writer lets go of the GIL) while the next is
        # read and assigned: two batches in memory at most, files written in order.
        with (progress.task(f"Writing {scan.n_clean:,} customers", total=scan.n_clean) as advance,
              open(work / _MASK_FILE, "rb") as mask, single_blas(),
              ThreadPoolExecutor(1, thread_name_prefix="custseg-writer") as pool):
            for chunk in scan.source.chunks(None, scan.block_scale):
                n = chunk.table.num_rows
                keep = np.frombuffer(mask.read(n), dtype=np.uint8).astype(bool)
                m = int(keep.sum())
                if m == 0:
                    continue
                while len(pending) < m:
                    pending = np.concatenate([pending, next(features)])
                X, pending = pending[:m], pending[m:]
                clean = chunk.table if m == n else chunk.table.filter(pa.array(keep))
                labels, squared = assign_batch(_scaled(X, scan.scaler), centers)
                _count(totals, clean, X, labels, squared, tree, plan, categories_arrays, k)
                if not parquet and text_flags(clean)[0]:
                    clean = neutralise_formulas(clean)
                table = (clean.append_column(CLUSTER_COLUMN, pa.array(ids[labels]))
                         .append_column(SEGMENT_COLUMN, pa.DictionaryArray.from_arrays(
                             pa.array(labels.astype(np.int32)), names)))
                if writing is not None:
                    writing.result()
                writing = pool.submit(_write_batch, writers, table, labels, k)
                advance(m)
            if writing is not None:
                writing.result()
            if not writers.writers:  # pragma: no cover - n_clean > 0 was checked
                raise DataValidationError(f"No valid rows in {scan.source.name}.")
    finally:
        writers.close()
    written = {"clustered": paths[0]}
    written.update({f"segment:{s.slug}": p for s, p in zip(segments, paths[1:], strict=True)})
    return totals, written


def _write_batch(writers: _Writers, table: pa.Table, labels: np.ndarray, k: int) -> None:
    """Append a batch to the clustered file and each row to its segment's file."""
    writers.write(0, table)
    by_segment = table.take(pa.array(np.argsort(labels, kind="stable")))
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=k))])
    for j in range(k):
        if bounds[j + 1] > bounds[j]:
            writers.write(1 + j, by_segment.slice(bounds[j], bounds[j + 1] - bounds[j]))


def _count(totals: _Totals, clean: pa.Table, X: np.ndarray, labels: np.ndarray,
           squared: np.ndarray, tree: DecisionTreeClassifier,
           plan: dict[str, tuple[str, list[str] | None]], categories: dict[str, pa.Array],
           k: int) -> None:
    totals.sizes += np.bincount(labels, minlength=k)
    for j in range(X.shape[1]):
        totals.feature_sums[:, j] += np.bincount(labels, weights=X[:, j], minlength=k)
    totals.inertia += float(squared.sum())
    totals.agree += int((tree.predict(X) == labels).sum())
    for name, (kind, _) in plan.items():
        column = clean.column(name)
        if kind == "numeric":
            values = parse_numbers(column)[0]
            finite = np.isfinite(values)
            totals.numeric_sums[name] += np.bincount(labels[finite], weights=values[finite],
                                                     minlength=k)
            totals.numeric_counts[name] += np.bincount(labels[finite], minlength=k)
            continue
        text = _code_text(parse_numbers(column)[0]) if kind == "code" else _trimmed_text(column)
        code = np.asarray(pc.fill_null(pc.index_in(text, value_set=categories[name]), -1)
                          ).astype(np.int64)
        m = len(categories[name])
        present = code >= 0
        totals.category_counts[name] += np.bincount(labels[present] * m + code[present],
                                                    minlength=k * m).reshape(k, m)


# --------------------------------------------------------------------------- profiles

def _index(k: int) -> pd.Index:
    return pd.Index([*range(k), BASE], name="Cluster", dtype=object)


def _profiles(sample: SegmentProfiles, totals: _Totals, features: tuple[str, ...],
              plan: dict[str, tuple[str, list[str] | None]], n_clean: int, k: int
              ) -> SegmentProfiles:
    """Exact sizes, shares, means and category mixes; medians and quartiles from ``sample``."""
    sizes = totals.sizes
    table = pd.DataFrame({"size": sizes, "share": sizes / max(n_clean, 1)},
                         index=pd.RangeIndex(k, name="Cluster"))
    numeric = sample.numeric.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, name in enumerate(features):
            means = totals.feature_sums[:, j] / sizes
            table[f"mean {name}"] = means
            numeric[(name, "mean")] = [*means, totals.feature_sums[:, j].sum() / n_clean]
        for name, sums in totals.numeric_sums.items():
            counts = totals.numeric_counts[name]
            base = sums.sum() / counts.sum() if counts.sum() else np.nan
            numeric[(name, "mean")] = [*(sums / np.where(counts > 0, counts, 1)
                                         * np.where(counts > 0, 1.0, np.nan)), base]
    mixes = {}
    for name, counts in totals.category_counts.items():
        full = np.vstack([counts, counts.sum(axis=0)]).astype(float)
        row_totals = full.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(row_totals > 0, full / np.where(row_totals > 0, row_totals, 1), np.nan)
        mixes[name] = pd.DataFrame(shares, index=_index(k), columns=list(plan[name][1]))
    return SegmentProfiles(table, numeric, mixes, tuple(features))


def _sample_numeric(table: pa.Table, plan: dict[str, tuple[str, list[str] | None]]
                    ) -> dict[str, np.ndarray]:
    return {name: parse_numbers(table.column(name))[0] for name, (kind, _) in plan.items()
            if kind == "numeric"}


def _rules_tree(values: np.ndarray, labels: np.ndarray, depth: int, seed: int
                ) -> DecisionTreeClassifier:
    """The tree :func:`custseg.rules.fit_rules` kept at ``depth`` (same rows, same seed)."""
    n = len(values)
    rows = (np.sort(np.random.default_rng(seed).choice(n, FIT_SAMPLE, replace=False))
            if n > FIT_SAMPLE else slice(None))
    X, y = values[rows], labels[rows]
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=max(1, int(MIN_LEAF_SHARE * len(X))),
                                  random_state=seed)
    return tree.fit(X, y)


# --------------------------------------------------------------------------- outputs

def _write_rejects(work: Path, path: Path, structural: bool) -> Path:
    """``rejected_rows.csv`` from the spilled rejects, formatted as :func:`write_csv` would."""
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(quoting_style="needed" if structural else "none",
                                 quoting_header="none")
    path.parent.mkdir(parents=True, exist_ok=True)
    with ipc.open_stream(str(work / _REJECTS_FILE)) as reader, \
            pacsv.CSVWriter(path, REJECT_SCHEMA, write_options=options) as writer:
        for batch in reader:
            table = pa.Table.from_batches([batch], schema=REJECT_SCHEMA)
            if text_flags(table)[0]:
                table = neutralise_formulas(table)
            writer.write_table(table)
    return path


def _batch_rows(source: BatchSource, budget: int) -> int:
    rows = int(budget / (BATCH_COPIES * max(source.row_bytes(), 1.0)))
    return int(min(DEFAULT_BATCH_ROWS, max(MIN_BATCH_ROWS, rows)))


def _open(config: RunConfig, batch_rows: int | None) -> tuple[BatchSource, int]:
    path = config.input if config.input is not None else mall_customers_path()
    source = open_source(Path(path), config.format, batch_rows or DEFAULT_BATCH_ROWS)
    rows = batch_rows or _batch_rows(source, config.memory_budget)
    source.chunk_rows = rows
    return source, rows


def run_streaming(config: RunConfig, *, progress: Progress | None = None,
                  batch_rows: int | None = None, sample_rows: int = SAMPLE_ROWS
                  ) -> StreamingRunResult:
    """Segment the customers of ``config.input`` in batches and write every output of a run.

    The same outputs as the in-memory engine (:func:`custseg.pipeline.run`), in memory bounded
    by the batch size rather than the number of customers; see the module notes for the passes
    and for what is exact and what is estimated on the sample.

    Parameters
    ----------
    config : RunConfig
        Options of the run (``config.input``: CSV, Parquet or Excel; the bundled data when None).
    progress : Progress, optional
        Where to show progress: rows read, passes, rows written (silent by default).
    batch_rows : int, optional
        Rows per batch; default: from ``config.memory_budget`` and the rows' size, at most
        :data:`DEFAULT_BATCH_ROWS`.
    sample_rows : int, default 200,000
        Valid rows kept in the uniform sample (K choice, medians, names, figures).

    Returns
    -------
    StreamingRunResult
        With ``outputs`` listing the files written.

    Raises
    ------
    ConfigError
        With ``config.previous`` (not supported by the streaming engine yet), or bad options.
    InputFileError, DataValidationError, OutputError
        As the in-memory engine.

    Examples
    --------
    >>> import tempfile
    >>> result = run_streaming(RunConfig(out=tempfile.mkdtemp(), engine="streaming"), batch_rows=64)
    >>> result.k, result.profiles.sizes.tolist(), result.n_clustered
    (5, [81, 39, 35, 23, 22], 200)
    """
    progress = progress or NullProgress()
    if config.previous is not None:
        raise ConfigError("--previous is not supported by the streaming engine yet. Run with "
                          "--engine memory to compare with a previous run, or leave out --previous.")
    if batch_rows is not None and batch_rows < 1:
        raise ConfigError(f"batch_rows must be at least 1 (got {batch_rows}).")
    if sample_rows < 2:
        raise ConfigError(f"sample_rows must be at least 2 (got {sample_rows}).")
    overrides = load_overrides(config.names) if config.names is not None else None
    source, batch_rows = _open(config, batch_rows)
    feature_cols, id_col = resolve_columns(
        source.columns, config.features, config.id_column, source.name,
        id_required=config.id_column_required, column_map=dict(config.column_map))
    out = Path(config.out)
    check_writable(out)
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    with (tempfile.TemporaryDirectory(prefix=f".{out.name}.streaming-",
                                      dir=out.absolute().parent) as tmp,
          OutputFolder(out) as staging):
        work, root = Path(tmp), staging.path
        scan = _scan(source, config, feature_cols, id_col, work, sample_rows, progress)
        result, written = _segment_and_write(scan, config, feature_cols, id_col, work, root,
                                             overrides, batch_rows, sample_rows, progress)
    final = {name: out / path.relative_to(root) for name, path in written.items()}
    return dataclasses.replace(result, outputs=final)


def _scan(source: BatchSource, config: RunConfig, feature_cols: list[str], id_col: str | None,
          work: Path, sample_rows: int, progress: Progress) -> _Scan:
    block_scale = 1
    while True:
        try:
            scan = _first_pass(source, config, feature_cols, id_col, work, sample_rows, block_scale,
                               progress)
        except BlockTooSmall:
            if source.block_size(block_scale * 16) >= MAX_BLOCK:
                raise InputFileError(f"Cannot read {source.name} as CSV: a record is larger than "
                                     "1 GiB. Check the file's quoting.") from None
            block_scale *= 16
            continue
        _check_rows(scan, config, config.forced_k or 1, config.features)
        return scan


def _segment_and_write(scan: _Scan, config: RunConfig, feature_cols: list[str], id_col: str | None,
                       work: Path, root: Path, overrides: dict | None, batch_rows: int,
                       sample_rows: int, progress: Progress
                       ) -> tuple[StreamingRunResult, dict[str, Path]]:
    from custseg.modelfile import MODEL_FILE, build_model, save_model
    from custseg.outputs import (
        FIGURES_DIR,
        MODEL_PICKLE,
        PROFILES_FILE,
        REJECTS_FILE,
        SUMMARY_FILE,
        clustered_file_name,
    )
    from custseg.report.figures import render_figures
    from custseg.report.html import REPORT_FILE, write_report
    from custseg.summary import run_summary

    features = tuple(config.features)
    written: dict[str, Path] = {}
    if scan.n_rejected:
        with progress.task(f"Writing {scan.n_rejected:,} rejected rows"):
            written["rejects"] = _write_rejects(work, root / REJECTS_FILE, scan.rejects_structural)
    table_s, rows_s, values_s = scan.reservoir.in_row_order()
    Z_s = scan.scaler.transform(values_s)
    with progress.task(f"Choosing K: scoring K = 1..{config.k_max}", total=config.k_max) as advance:
        selection = choose_k(Z_s, n_rows=scan.n_clean, k_min=config.k_min, k_max=config.k_max,
                             min_segment_share=config.min_segment_share, seed=config.seed,
                             n_init=config.n_init, force_k=config.forced_k, advance=advance)
    k = selection.chosen_k
    _check_k(scan, k)
    init = selection.sample_centers
    if init is None or init.shape[0] != k:  # a forced K beyond what the sample could score
        with progress.task(f"Starting K-Means on the sample (K = {k})"):
            init = fit_kmeans(Z_s, k, n_init=config.n_init, seed=config.seed).centers
    fit = _fit(work, scan, init, batch_rows, progress)
    order = _stable_order(fit.centers, fit.sizes)
    centers, sizes = fit.centers[order], fit.sizes[order]
    if np.any(sizes == 0):
        distinct = len(np.unique(values_s, axis=0))
        raise DataValidationError(
            f"Only {distinct} distinct combination(s) of feature values in {scan.source.name}, "
            f"fewer than K={k} segments. Use a smaller --k, or add features.")
    segmenter = _segmenter(scan, centers, fit, Z_s, feature_cols, config, init)
    labels_s = segmenter.labels_
    ids = np.arange(k, dtype=np.int64)
    with progress.task("Naming segments and fitting CRM rules"):
        plan = {name: p for name, column in scan.columns.items()
                if (p := column.plan(scan.n_clean)) is not None}
        sample_profiles = profile_segments(values_s, labels_s, k, features,
                                           _sample_numeric(table_s, plan))
        medians = np.column_stack([sample_profiles.numeric[(n, "median")].to_numpy()[:k]
                                   for n in features])
        fallback = segmenter.cluster_centers_original_
        medians = np.where(np.isfinite(medians), medians, fallback)  # a segment the sample missed
        segments = describe_segments(medians, values_s, features, overrides, seed=config.seed,
                                     ids=ids)
        sample_rules = fit_rules(values_s, labels_s, features, k, seed=config.seed)
        tree = _rules_tree(values_s, labels_s, sample_rules.depth, config.seed)
    clustered_name = _clustered_name(scan, config, clustered_file_name)
    totals, files = _write_pass(scan, work, root, clustered_name, config, plan, centers, segments,
                                tree, progress)
    written.update(files)
    segmenter.cluster_sizes_ = totals.sizes
    segmenter.inertia_ = totals.inertia
    segmenter.kmeans_.inertia_ = totals.inertia
    profiles = _profiles(sample_profiles, totals, features, plan, scan.n_clean, k)
    rules = SegmentRules(sample_rules.rules, totals.agree / scan.n_clean, sample_rules.depth)
    sil = silhouette_values(values_s, labels_s, seed=config.seed,
                            transform=segmenter.scaler_.transform)
    score = float(sil[0].mean()) if sil[0].size else float("nan")
    validated = StreamedTable(
        table=table_s, values=values_s, features=features, feature_columns=tuple(feature_cols),
        id_column=id_col, row_numbers=rows_s, rejects=scan.rejects_preview(),
        n_input=scan.n_input, source=scan.source.source_info(), n_clean=scan.n_clean,
        n_rejected=scan.n_rejected, reject_reasons=dict(sorted(scan.reasons.items())))
    engine = {"name": "streaming", "batch_rows": int(batch_rows), "sample_rows": len(values_s),
              "passes": int(fit.n_passes), "lloyd_iterations": int(fit.n_iter),
              "converged": bool(fit.converged), "tolerance": float(fit.tolerance)}
    result = StreamingRunResult(config, validated, FeatureMatrix(values_s, features), segmenter,
                                profiles, segments, rules, selection, score, sil, ids,
                                engine=engine)
    with progress.task("Writing the summary and the model"):
        written["profiles"] = write_csv(profiles.to_frame(result.names, ids), root / PROFILES_FILE)
        summary = run_summary(result, {"clustered": written["clustered"].name, "model": MODEL_FILE})
        summary["rows"] = {"input": scan.n_input, "clustered": scan.n_clean,
                           "rejected": scan.n_rejected,
                           "reject_reasons": {str(r): int(n) for r, n in sorted(scan.reasons.items())}}
        summary["run"]["engine"] = {**engine, "estimated_on_sample": [
            "median", "q1", "q3", "names", "silhouette", "distance_threshold", "figures"]}
        written["summary"] = write_json(summary, root / SUMMARY_FILE)
        model = build_model(segmenter, validated, selection, config, segments, segment_ids=ids)
        model = dataclasses.replace(model, sizes=totals.sizes.astype(np.int64), training_data={
            **model.training_data, "rows_input": scan.n_input, "rows": scan.n_clean,
            "rows_rejected": scan.n_rejected})
        written["model"] = save_model(model, root / MODEL_FILE)
        written["model_pickle"] = root / MODEL_PICKLE
        joblib.dump(segmenter.to_pipeline(ids), written["model_pickle"])
    with progress.task("Drawing figures"):
        for name, path in render_figures(result, root / FIGURES_DIR).items():
            written[f"figure:{name}"] = path
    with progress.task("Writing the report"):
        written["report"] = write_report(summary, root / FIGURES_DIR, root / REPORT_FILE)
    return result, written


def _clustered_name(scan: _Scan, config: RunConfig, clustered_file_name: object) -> str:
    """``<input stem>_clustered.<format>``, named by :func:`custseg.outputs.clustered_file_name`."""
    probe = SimpleNamespace(config=config, validated=SimpleNamespace(source=scan.source.source_info()))
    return clustered_file_name(probe)
