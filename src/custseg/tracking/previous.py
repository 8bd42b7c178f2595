"""A finished run, read back to compare a later run with it (``--previous``, ``custseg compare``).

From the run folder: its model file (scaler, centroids, stable segment ids, names, sizes,
thresholds), the segment ids its lineage has used (``segments.json``), and from its clustered
customers file, read in batches: every customer's id key and segment
(:class:`~custseg.tracking.migration.PreviousCustomers`, for the migration) and a seeded uniform
sample of their feature values (for drift and the segments' radii). A model file alone gives
everything but the customers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
import pyarrow as pa

from custseg.config import CLUSTER_COLUMN, DEFAULT_SAMPLE_ROWS
from custseg.engines.sample import Reservoir
from custseg.exceptions import CustsegError, InputFileError
from custseg.io.numbers import parse_numbers
from custseg.io.sources import open_source
from custseg.modelfile import SegmentModel, load_model
from custseg.modelfile.format import MAX_SEGMENT_ID
from custseg.runfolder import CLUSTERED_SUFFIX, MODEL_FILE, SUMMARY_FILE
from custseg.tracking.matching import segment_radii
from custseg.tracking.migration import PreviousCustomers, customer_keys

#: Rows read at a time from a previous run's clustered file.
READ_ROWS = 1_000_000
#: Seed of the sample of a previous run's customers (any fixed value: the same rows every time).
SAMPLE_SEED = 0

#: Called with each batch of a run's customers read back: ids (None: row numbers), rows,
#: segment ids, feature values.
CustomerCallback = Callable[[pa.ChunkedArray | None, np.ndarray, np.ndarray, np.ndarray], None]


@dataclass(frozen=True, eq=False)
class PreviousRun:
    """A finished run, as needed to compare another run with it.

    Attributes
    ----------
    name : str
        How messages refer to it (its folder's or model file's name).
    model : SegmentModel
        Its model file.
    used_ids : tuple of int
        Every segment id its lineage has used (new segments never reuse one).
    customers : PreviousCustomers or None
        Its customers' id keys and segments (None: model file only).
    clustered : pathlib.Path or None
        Its clustered customers file (None: model file only).
    sample_values, sample_labels : numpy.ndarray or None
        A seeded uniform sample of its customers: feature values and segment ids.
    """

    name: str
    model: SegmentModel
    used_ids: tuple[int, ...] = ()
    customers: PreviousCustomers | None = None
    sample_values: np.ndarray | None = None
    sample_labels: np.ndarray | None = None
    clustered: Path | None = None

    @property
    def features(self) -> tuple[str, ...]:
        """Feature names."""
        return tuple(self.model.features)

    @property
    def segment_ids(self) -> np.ndarray:
        """Stable id of each segment position."""
        return np.asarray(self.model.clusters)

    @property
    def names(self) -> tuple[str, ...]:
        """Name of each segment position."""
        return tuple(self.model.names)

    @property
    def centers(self) -> np.ndarray:
        """Centroids in original units, by position."""
        return self.model.centroids_original

    @property
    def has_customers(self) -> bool:
        """Whether its customers are known (a run folder, not a model file alone)."""
        return self.customers is not None

    def name_of(self) -> dict[int, str]:
        """Stable id -> segment name."""
        return {int(i): n for i, n in zip(self.segment_ids, self.names, strict=True)}

    def sizes(self) -> dict[int, int]:
        """Customers per stable id."""
        return {int(i): int(n) for i, n in zip(self.segment_ids, self.model.sizes, strict=True)}

    def scaled(self, X: np.ndarray) -> np.ndarray:
        """``X`` (original units) in this run's scaled space."""
        return self.model.scale_features(np.asarray(X, dtype=np.float64))

    def radii(self) -> np.ndarray | None:
        """Root mean square distance of each segment's customers to its centroid (scaled), from
        the sample; None without customers."""
        if self.sample_values is None or len(self.sample_values) == 0:
            return None
        lookup = {int(i): p for p, i in enumerate(self.segment_ids)}
        positions = np.array([lookup.get(int(i), -1) for i in self.sample_labels])
        known = positions >= 0
        return segment_radii(self.scaled(self.sample_values[known]), positions[known],
                             len(self.segment_ids))


def load_previous(path: str | Path, *, callbacks: Sequence[CustomerCallback] = (),
                  sample_rows: int = DEFAULT_SAMPLE_ROWS) -> PreviousRun:
    """Read a finished run: a run folder (model and customers) or a model file alone.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``--out`` folder of an earlier ``custseg run``, or its model file.
    callbacks : sequence of callable, optional
        Each called with every batch of the run's customers as they are read (ids or None,
        rows, segment ids, feature values): ``custseg compare`` counts migration this way.
    sample_rows : int, default 200,000
        Customers kept in the sample of feature values.

    Raises
    ------
    InputFileError
        When ``path`` is neither a run folder nor a model file, or its customers cannot be read.
    ModelFileError
        When its model file is invalid.
    """
    path = Path(path)
    if path.is_file():
        return PreviousRun(path.name, load_model(path))
    if not (path / MODEL_FILE).is_file():
        raise InputFileError(f"{path} is not a custseg run folder or model file ({MODEL_FILE} not "
                             "found). Pass the --out folder of an earlier `custseg run`.")
    model = load_model(path / MODEL_FILE)
    clustered = clustered_file(path)
    if clustered is None:
        return PreviousRun(path.name, model, _used_ids(path))
    try:
        customers, values, labels = _read_customers(clustered, model, callbacks, sample_rows)
    except CustsegError as exc:
        raise InputFileError(f"Cannot read the customers of the run {path.name} from "
                             f"{clustered.name}: {exc}") from None
    return PreviousRun(path.name, model, _used_ids(path), customers, values, labels, clustered)


def _read_customers(clustered: Path, model: SegmentModel, callbacks: Sequence[CustomerCallback],
                    sample_rows: int) -> tuple[PreviousCustomers, np.ndarray, np.ndarray]:
    source = open_source(clustered)
    id_column = model.id_input_column
    columns = [*model.input_columns, CLUSTER_COLUMN, *([id_column] if id_column else [])]
    missing = [c for c in columns if c not in source.columns]
    if missing:
        raise InputFileError(f"column {missing[0]!r} is missing")
    keys, labels = [], []
    known = np.asarray(model.clusters, dtype=np.float64)
    counted = 0
    reservoir = Reservoir(sample_rows, SAMPLE_SEED)
    for chunk in source.chunks(READ_ROWS, columns=list(dict.fromkeys(columns))):
        table = chunk.table
        values = np.column_stack([parse_numbers(table.column(c))[0] for c in model.input_columns])
        segments = parse_numbers(table.column(CLUSTER_COLUMN))[0]
        bad = ~np.isin(segments, known)
        if bad.any():
            raise InputFileError(f"row {int(chunk.rows[np.argmax(bad)])}: {CLUSTER_COLUMN} "
                                 f"{_cell(table.column(CLUSTER_COLUMN), int(np.argmax(bad)))} is not "
                                 f"one of the run's segment ids ({_ids_text(known)})")
        segments = segments.astype(np.int64)
        counted += len(segments)
        ids = table.column(id_column) if id_column else None
        keys.append(customer_keys(ids, chunk.rows))
        labels.append(segments)
        reservoir.offer(chunk.rows, np.column_stack([values, segments]))
        for callback in callbacks:
            callback(ids, chunk.rows, segments, values)
    expected = int(np.sum(model.sizes))
    if expected and counted != expected:
        raise InputFileError(f"it has {counted:,} customers but the run clustered {expected:,} "
                             "(the file is truncated or was edited)")
    sample = reservoir.sample().values
    d = len(model.input_columns)
    customers = PreviousCustomers(np.concatenate(keys) if keys else np.empty(0, np.uint64),
                                  np.concatenate(labels) if labels else np.empty(0, np.int64))
    if len(sample) == 0:
        return customers, np.empty((0, d)), np.empty(0, np.int64)
    return customers, sample[:, :d], sample[:, d].astype(np.int64)


def clustered_file(folder: Path) -> Path | None:
    """The clustered customers file of a run folder (named in its ``segments.json``), or None.

    Raises
    ------
    InputFileError
        When ``segments.json`` is damaged or names a file outside the run folder.
    """
    summary = read_summary(folder)
    files = summary.get("files", {}) if summary is not None else {}
    if not isinstance(files, dict):
        raise InputFileError(f"{_summary_path(folder)} is damaged: 'files' is not an object. "
                             "Restore the run folder, or run again.")
    name = files.get("clustered")
    if name is not None:
        inside = _inside(folder, name)
        if inside.exists():  # a file, or a dataset folder (Spark)
            return inside
    found = sorted([*folder.glob(f"*{CLUSTERED_SUFFIX}.csv"),
                    *folder.glob(f"*{CLUSTERED_SUFFIX}.parquet")])
    return found[0] if found else None


def read_summary(folder: Path) -> dict | None:
    """A run folder's ``segments.json`` as an object; None when the folder has none.

    Raises
    ------
    InputFileError
        When it is not UTF-8 JSON text holding an object.
    """
    path = _summary_path(folder)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        summary = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
        raise InputFileError(f"{path} is damaged ({why}). Restore the run folder, or run "
                             "again.") from None
    if not isinstance(summary, dict):
        raise InputFileError(f"{path} is damaged (not a JSON object). Restore the run folder, "
                             "or run again.")
    return summary


def _summary_path(folder: Path) -> Path:
    return folder / SUMMARY_FILE


def _inside(folder: Path, name: object) -> Path:
    """``folder / name`` when ``name`` is a relative path that stays inside ``folder``."""
    where = _summary_path(folder)
    if not isinstance(name, str) or not name or "\x00" in name:
        raise InputFileError(f"{where} is damaged: files.clustered is not a file name. Restore "
                             "the run folder, or run again.")
    relative = PurePath(name)
    target = folder / relative
    if relative.is_absolute() or ".." in relative.parts \
            or not target.resolve().is_relative_to(folder.resolve()):
        raise InputFileError(f"{where} names a clustered file outside the run folder ({name[:200]!r}); "
                             "custseg reads only files inside it. Restore the run folder, or run again.")
    return target


def _used_ids(folder: Path) -> tuple[int, ...]:
    summary = read_summary(folder) or {}
    ids = summary.get("used_segment_ids", [])
    if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= MAX_SEGMENT_ID for i in ids):
        raise InputFileError(f"{_summary_path(folder)} is damaged: used_segment_ids must be a list "
                             f"of segment ids (whole numbers from 0 to {MAX_SEGMENT_ID}). Restore "
                             "the run folder, or run again.")
    return tuple(ids)


def _cell(column: pa.ChunkedArray, index: int) -> str:
    return repr(str(column[index].as_py())[:40])


def _ids_text(ids: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:10])
    return shown + (", ..." if len(ids) > 10 else "")
