"""Score a file of new customers with a saved model, in chunks: the engine of ``custseg predict``.

Memory is bounded by the chunk size, not the input size: the file is read in chunks (CSV with
Arrow's streaming reader, Parquet one record batch at a time), each chunk is validated, scored
and appended to the output. The one thing remembered across chunks is the customer ids seen so
far, to find duplicates: 12 bytes per distinct id (120 MB for ten million customers).

Validation follows ``custseg run`` row for row (same checks, same order, same reason texts, same
spreadsheet row numbers, see :mod:`custseg.data.validate`), with two differences that streaming
needs: a chunk with no valid row is not an error (only a file with none is), and duplicate ids
are found across chunks. A duplicate is an id already seen on an earlier valid row; ids are
compared as trimmed text, like ``run`` does. Plain numeric ids (``0``, ``17``, not ``007``) are
kept as their exact integer value; any other id as a 64-bit hash, so two different such ids
could be taken for duplicates with a probability of about n² / 2⁶⁵ (3 in a million for ten
million ids). The remembered ids live in a few sorted NumPy arrays (a small log-structured
merge), so each chunk is checked with binary searches.

Outputs (written to temporary files beside the target and renamed into place at the end, so a
failed prediction leaves nothing half-written):

``--out`` (default ``<input stem, lower-case>_scored.csv`` in the current folder)
    One row per valid input row, in input order: the customer id (column named as in the input;
    ``row``, the spreadsheet row, when the input has no id column), ``Cluster``, ``Segment``
    (name), ``distance`` (Euclidean, to the segment's centroid in the scaled space) and
    ``atypical`` (``true`` when the distance is above the segment's threshold).
``<out stem>_rejected_rows.csv`` beside ``--out``
    Only when rows were rejected: ``row``, ``customer_id``, ``column``, ``value``, ``reason``, as
    ``run``'s ``rejected_rows.csv``. A stale one from an earlier prediction to the same ``--out``
    is removed when no row is rejected.

Every input row is either scored or rejected: ``input rows = scored + rejected``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.data.columns import canonical_name, parse_column_map
from custseg.data.readers import (
    _SNIFF_BYTES,
    FIRST_DATA_ROW,
    _check_header,
    _first_line,
    _name_unnamed,
    _sha256_and_encoding,
    _sniff_delimiter,
    detect_format,
)
from custseg.data.rejects import REJECT_COLUMNS, Reason
from custseg.data.validate import parse_numbers, range_codes
from custseg.data.writers import _any_structural, neutralise_formulas
from custseg.exceptions import ConfigError, DataValidationError, InputFileError, OutputError
from custseg.modelfile import (
    ATYPICAL_COLUMN,
    CLUSTER_COLUMN,
    DISTANCE_COLUMN,
    SEGMENT_COLUMN,
    _Scorer,
)
from custseg.progress import NullProgress, Progress

#: Rows validated and scored at a time (memory grows with it, speed barely).
DEFAULT_CHUNK_ROWS = 250_000
#: Suffix of the rejects file beside the output: ``new_scored.csv`` -> ``new_scored_rejected_rows.csv``.
REJECTS_SUFFIX = "_rejected_rows.csv"
#: Name of the row-number column written when the input has no id column.
ROW_COLUMN = "row"
# Codes of custseg.data.validate.parse_numbers / range_codes, in the order a reason is chosen.
_OK, _MISSING, _NON_NUMERIC, _INFINITE, _RANGE = 0, 1, 2, 3, 4
_PLAIN_INTEGER = r"^(0|[1-9][0-9]{0,17})$"
_HASHED = np.uint64(1 << 63)
#: Sorted runs of remembered ids are merged while the result stays under this many ids.
_MERGE_LIMIT = 4_000_000
_REJECT_SCHEMA = pa.schema([("row", pa.int64()), ("customer_id", pa.string()),
                            ("column", pa.string()), ("value", pa.string()),
                            ("reason", pa.string())])
_MAX_BLOCK = 1 << 30
#: CSV bytes parsed at a time (Arrow's streaming reader buffers a few blocks ahead).
_CSV_BLOCK = 1 << 20


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict_file` wrote and counted.

    Attributes
    ----------
    out : pathlib.Path
        The scored customers file.
    rejects_path : pathlib.Path or None
        The rejected rows file, when rows were rejected.
    n_input, n_scored, n_rejected : int
        Rows in the input, scored, rejected (``n_input == n_scored + n_rejected``).
    counts : pandas.DataFrame
        Index ``Cluster``; columns ``Segment`` (name), ``customers``, ``share`` (of scored
        customers) and ``atypical`` (customers flagged atypical), one row per segment.
    n_atypical : int
        Scored customers flagged atypical.
    has_thresholds : bool
        False for a model without distance thresholds (a trusted pickle): nobody is atypical.
    input_name : str
        The input file's name.
    input_sha256 : str or None
        SHA-256 of the input (CSV only; None for other formats).
    threshold_quantile : float or None
        Quantile of training distances above which a customer is atypical (None: no thresholds).
    """

    out: Path
    rejects_path: Path | None
    n_input: int
    n_scored: int
    n_rejected: int
    counts: pd.DataFrame
    n_atypical: int
    has_thresholds: bool
    input_name: str
    input_sha256: str | None = None
    threshold_quantile: float | None = None


def default_out_path(input_path: str | Path, folder: str | Path = ".") -> Path:
    """``<input stem, lower-case>_scored.csv`` in ``folder``.

    Examples
    --------
    >>> default_out_path("data/New_Customers.csv").as_posix()
    'new_customers_scored.csv'
    """
    return Path(folder) / f"{Path(input_path).stem.lower()}_scored.csv"


def rejects_path_for(out: str | Path) -> Path:
    """The rejects file written beside ``out``.

    Examples
    --------
    >>> rejects_path_for("out/new_scored.csv").as_posix()
    'out/new_scored_rejected_rows.csv'
    """
    out = Path(out)
    return out.with_name(f"{out.stem}{REJECTS_SUFFIX}")


def predict_file(model: _Scorer, input_path: str | Path, out_path: str | Path | None = None, *,
                 fmt: str | None = None,
                 column_map: Mapping[str, str] | Sequence[str] | Sequence[tuple[str, str]] = (),
                 chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 progress: Progress | None = None) -> PredictResult:
    """Validate and score every row of a customer file with ``model``; write scores and rejects.

    Parameters
    ----------
    model : SegmentModel or PickledModel
        From :func:`custseg.modelfile.load_model` (or ``load_trusted_pickle``).
    input_path : str or pathlib.Path
        Customers: CSV (any encoding and delimiter ``run`` reads), Parquet or Excel.
    out_path : str or pathlib.Path, optional
        Scored customers CSV; default :func:`default_out_path` of the input. An existing folder
        gets that default name inside it.
    fmt : {"csv", "parquet", "excel"}, optional
        Overrides the format the extension names.
    column_map : mapping or sequence, default ()
        ``{column in file: feature name}``, or ``["OLD=NEW", ...]`` as ``--column-map``.
    chunk_rows : int, default 250,000
        Rows validated and scored at a time.
    progress : Progress, optional
        Where to show progress.

    Returns
    -------
    PredictResult

    Raises
    ------
    InputFileError
        Input missing, unreadable or in an unknown format.
    DataValidationError
        A feature column is missing, or no row is valid.
    ConfigError
        ``out_path`` is the input, or ``chunk_rows`` < 1.
    OutputError
        The outputs cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.datasets import mall_customers_path
    >>> from custseg.modelfile import model_from_result
    >>> from custseg.pipeline import segment
    >>> model = model_from_result(segment())
    >>> out = Path(tempfile.mkdtemp()) / "scored.csv"
    >>> result = predict_file(model, mall_customers_path(), out)
    >>> result.n_input, result.n_scored, result.n_rejected, result.counts["customers"].tolist()
    (200, 200, 0, [81, 39, 35, 23, 22])
    """
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be at least 1 (got {chunk_rows}).")
    input_path = Path(input_path)
    source = open_source(input_path, fmt, chunk_rows)
    out = _output_path(input_path, out_path)
    mapping = parse_column_map(dict(column_map) if _is_pairs(column_map) else column_map)
    feature_cols, id_col = model.resolve_columns(source.columns, mapping, source.name)
    _check_out_writable(out)
    progress = progress or NullProgress()
    block_scale = 1
    while True:
        try:
            with progress.task(f"Scoring {source.name}", total=100) as advance:
                return _score(model, source, out, feature_cols, id_col, block_scale, advance)
        except _BlockTooSmall:
            if source.block_size(block_scale * 16) >= _MAX_BLOCK:
                raise InputFileError(f"Cannot read {source.name} as CSV: a record is larger than "
                                     "1 GiB. Check the file's quoting.") from None
            block_scale *= 16


def _is_pairs(value: object) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            and all(isinstance(v, tuple) and len(v) == 2 for v in value))


def _output_path(input_path: Path, out_path: str | Path | None) -> Path:
    out = default_out_path(input_path) if out_path is None else Path(out_path)
    if out.is_dir():
        out = default_out_path(input_path, out)
    if out.exists() and out.resolve() == input_path.resolve():
        raise ConfigError(f"--out {out} is the input file; scoring would overwrite it. Choose "
                          "another output file.")
    return out


class _BlockTooSmall(Exception):
    """A CSV record did not fit in the reader's block: retry with bigger blocks."""


@dataclass
class _Chunk:
    table: pa.Table  # the needed columns of some parsed rows
    rows: np.ndarray  # spreadsheet row of each
    parse_rejects: pd.DataFrame  # unparseable records before the next chunk's rows


class _Source:
    """A customer file read in chunks."""

    name: str
    columns: list[str]
    delimiter: str | None = None
    sha256: str | None = None

    def chunks(self, needed: list[str], block_scale: int) -> Iterator[_Chunk]:
        raise NotImplementedError

    def fraction_done(self) -> float:
        raise NotImplementedError

    def block_size(self, block_scale: int) -> int:
        return 0


def open_source(path: Path, fmt: str | None, chunk_rows: int) -> _Source:
    """Check ``path`` and open it for chunked reading (header read, nothing else yet)."""
    if not path.exists():
        raise InputFileError(f"Input file {path} does not exist. Check the path.")
    if path.is_dir():
        raise InputFileError(f"Input {path} is a folder, not a file. Name the customer file.")
    kind = detect_format(path, fmt)
    try:
        if path.stat().st_size == 0:
            raise DataValidationError(f"Input file {path.name} is empty. Export the customer table "
                                      "again.")
        return {"csv": _CsvSource, "parquet": _ParquetSource, "excel": _ExcelSource}[kind](
            path, chunk_rows)
    except PermissionError as exc:
        raise InputFileError(f"Cannot read {path.name}: permission denied. Check its permissions."
                             ) from exc


class _CsvSource(_Source):
    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path, self.name, self.chunk_rows = path, path.name, chunk_rows
        self.size = path.stat().st_size
        self.sha256, self.encoding = _sha256_and_encoding(path)
        with path.open("rb") as fh:
            sample_bytes = fh.read(_SNIFF_BYTES)
        if self.encoding != "utf-16" and b"\x00" in sample_bytes:
            raise InputFileError(
                f"{path.name} is not a text table (it holds binary data). Export the customers as "
                "CSV, or name the real format with --format parquet|excel.")
        codec = "utf-8-sig" if self.encoding == "utf-8" else self.encoding
        sample = sample_bytes.decode(codec, errors="replace")
        if not sample.strip():
            raise DataValidationError(f"Input file {path.name} is empty. Export the customer table "
                                      "again.")
        self.delimiter = _sniff_delimiter(sample)
        import csv
        import io

        self.columns = _name_unnamed(next(csv.reader(io.StringIO(sample), delimiter=self.delimiter)))
        _check_header(self.columns, path.name)
        lines = sample_bytes.splitlines() or [sample_bytes]
        complete = lines[:-1] if len(lines) > 1 else lines
        self.row_bytes = max(1.0, len(sample_bytes) / max(1, len(lines)))
        self.longest = max(len(line) for line in complete)
        self._stream: pa.NativeFile | None = None

    def block_size(self, block_scale: int) -> int:
        # Arrow reads several blocks ahead: small blocks keep that buffer small.
        size = min(int(self.row_bytes * self.chunk_rows), _CSV_BLOCK)
        size = max(size, 16 * self.longest + 64, 4096)
        return min(size * block_scale, _MAX_BLOCK)

    def fraction_done(self) -> float:
        if self._stream is None or self._stream.closed or self.size == 0:
            return 1.0
        return min(1.0, self._stream.tell() / self.size)

    def chunks(self, needed: list[str], block_scale: int) -> Iterator[_Chunk]:
        import pyarrow.csv as pacsv

        bad: list = []

        def on_invalid(row: object) -> str:
            bad.append(row)
            return "skip"

        pending: list = []  # unparseable records not yet handed out, in file order
        next_row = FIRST_DATA_ROW
        with pa.OSFile(str(self.path), "rb") as stream:
            self._stream = stream
            try:
                reader = pacsv.open_csv(
                    stream,
                    read_options=pacsv.ReadOptions(
                        use_threads=False, encoding=self.encoding, column_names=self.columns,
                        skip_rows=1, block_size=self.block_size(block_scale)),
                    parse_options=pacsv.ParseOptions(
                        delimiter=self.delimiter, newlines_in_values=True,
                        invalid_row_handler=on_invalid),
                    convert_options=pacsv.ConvertOptions(
                        column_types=dict.fromkeys(needed, pa.string()), include_columns=needed,
                        strings_can_be_null=False, quoted_strings_can_be_null=False))
                # Small reader blocks (Arrow buffers a few dozen ahead) gathered into chunks.
                parts: list[pa.RecordBatch] = []
                part_rows: list[np.ndarray] = []
                part_bad: list = []
                count = 0
                for batch in reader:
                    # Single-threaded parsing reports every unparseable record, with its row,
                    # before the batch it precedes: number the parsed rows around them.
                    pending.extend(bad)
                    bad.clear()
                    skip = np.array([r.number for r in pending if r.number is not None],
                                    dtype=np.int64)
                    n = batch.num_rows
                    candidates = np.arange(next_row, next_row + n + len(skip), dtype=np.int64)
                    rows = candidates[~np.isin(candidates, skip)][:n] if len(skip) else candidates[:n]
                    if n:
                        next_row = int(rows[-1]) + 1
                    before = [r for r in pending if r.number is None or r.number < next_row]
                    pending = [r for r in pending if r.number is not None and r.number >= next_row]
                    start = 0
                    while True:
                        stop = min(n, start + self.chunk_rows - count)
                        # A piece takes the unparseable records before its last row, so the
                        # rejects stay in row order.
                        limit = int(rows[stop - 1]) + 1 if stop < n else next_row
                        mine = [r for r in before if r.number is None or r.number < limit]
                        before = before[len(mine):]
                        part_bad.extend(mine)
                        if stop > start:
                            parts.append(batch.slice(start, stop - start))
                            part_rows.append(rows[start:stop])
                            count += stop - start
                        if count >= self.chunk_rows:
                            yield _gather(parts, part_rows, part_bad, reader.schema)
                            parts, part_rows, part_bad, count = [], [], [], 0
                        start = stop
                        if start >= n:
                            break
                part_bad.extend(pending + bad)
                if count or part_bad:
                    yield _gather(parts, part_rows, part_bad, reader.schema)
            except pa.ArrowInvalid as exc:
                if "straddl" in str(exc):
                    raise _BlockTooSmall() from exc
                raise InputFileError(f"Cannot read {self.name} as CSV ({_first_line(exc)}). Check "
                                     "that it is a text table, or name the format with --format."
                                     ) from exc
            except UnicodeDecodeError as exc:
                raise InputFileError(f"Cannot read {self.name} as CSV ({_first_line(exc)}). Check "
                                     "its encoding.") from exc
            finally:
                self._stream = None


def _gather(parts: list[pa.RecordBatch], rows: list[np.ndarray], bad: list, schema: pa.Schema
            ) -> _Chunk:
    table = pa.Table.from_batches(parts, schema=schema)
    numbers = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    return _Chunk(table, numbers, _parse_rejects(bad))


def _parse_rejects(rows: list) -> pd.DataFrame:
    return pd.DataFrame({
        "row": np.array([r.number if r.number is not None else 0 for r in rows], dtype=np.int64),
        "customer_id": [None] * len(rows),
        "column": [None] * len(rows),
        "value": [r.text for r in rows],
        "reason": [Reason.FIELD_COUNT.format(expected=r.expected_columns, actual=r.actual_columns)
                   for r in rows],
    }).astype(REJECT_COLUMNS)


class _ParquetSource(_Source):
    def __init__(self, path: Path, chunk_rows: int) -> None:
        import pyarrow.parquet as pq

        self.path, self.name, self.chunk_rows = path, path.name, chunk_rows
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFileError(f"Cannot read {path.name} as Parquet ({_first_line(exc)}). Check "
                                 "the file, or name its format with --format.") from exc
        self.columns = [str(c) for c in self.file.schema_arrow.names]
        _check_header(self.columns, path.name)
        self.total = self.file.metadata.num_rows
        if self.total == 0:
            raise DataValidationError(f"{path.name} has a header but no customer rows. Export the "
                                      "table with its data.")
        self.done = 0

    def fraction_done(self) -> float:
        return self.done / self.total if self.total else 1.0

    def chunks(self, needed: list[str], block_scale: int) -> Iterator[_Chunk]:
        start = FIRST_DATA_ROW
        try:
            for batch in self.file.iter_batches(batch_size=self.chunk_rows, columns=needed):
                n = batch.num_rows
                rows = np.arange(start, start + n, dtype=np.int64)
                start += n
                self.done += n
                yield _Chunk(pa.Table.from_batches([batch]), rows, _parse_rejects([]))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFileError(f"Cannot read {self.name} as Parquet ({_first_line(exc)}). Check "
                                 "the file.") from exc


class _ExcelSource(_Source):
    """Excel is read whole (a sheet holds at most ~1M rows), then handed out in chunks."""

    def __init__(self, path: Path, chunk_rows: int) -> None:
        from custseg.data.readers import read_table

        self.name, self.chunk_rows = path.name, chunk_rows
        self.raw = read_table(path, "excel")
        self.columns = list(self.raw.table.column_names)
        self.done = 0

    def fraction_done(self) -> float:
        return self.done / max(1, self.raw.table.num_rows)

    def chunks(self, needed: list[str], block_scale: int) -> Iterator[_Chunk]:
        table = self.raw.table.select(needed)
        for start in range(0, table.num_rows, self.chunk_rows):
            part = table.slice(start, self.chunk_rows)
            self.done += part.num_rows
            yield _Chunk(part, self.raw.row_numbers[start:start + part.num_rows], _parse_rejects([]))


# --------------------------------------------------------------------------- validation

class _SeenIds:
    """Ids of valid rows seen so far (as 64-bit keys) and the row each was first seen in.

    Kept as a few sorted runs (key, first row): a new chunk's ids become a run; runs of similar
    size are merged while they stay under :data:`_MERGE_LIMIT`, so lookups touch few runs and
    a merge never copies much. 12 bytes per distinct id (8 for the key, 4 for the row).
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.row_dtype: type = np.uint32  # 12 bytes per id until rows pass 2**32

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self.runs)

    def first_rows(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each (key, row), in increasing row order: the first row with that key if earlier
        (then it is a duplicate), else -1. Remembers the keys not seen before."""
        out = np.full(len(keys), -1, dtype=np.int64)
        if len(keys) == 0:
            return out
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
        first = np.where(earlier >= 0, earlier, unique_rows)[group]
        duplicate = first != sorted_rows
        out[order[duplicate]] = first[duplicate]
        new = earlier < 0
        self._add(unique_keys[new], unique_rows[new])
        return out

    def _add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        if len(keys) == 0:
            return
        if self.row_dtype == np.uint32 and rows.max() > np.iinfo(np.uint32).max:
            self.row_dtype = np.int64  # past four billion rows: widen what is stored
            self.runs = [(k, r.astype(np.int64)) for k, r in self.runs]
        self.runs.append((keys, rows.astype(self.row_dtype)))
        while len(self.runs) > 1:
            (k1, r1), (k2, r2) = self.runs[-2], self.runs[-1]
            if len(k1) > 2 * len(k2) or len(k1) + len(k2) > _MERGE_LIMIT:
                break
            self.runs[-2:] = [_merge(k1, r1, k2, r2)]


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
    """64-bit keys of (trimmed text) ids: plain integers exactly, other ids hashed.

    Plain integer ids keep the high bit clear and hashed ids set it, so the two never meet.

    Examples
    --------
    >>> id_keys(pa.array(["17", "0", "007"]))[:2].tolist()
    [17, 0]
    >>> bool(id_keys(pa.array(["007"]))[0] >= 2**63)
    True
    """
    if len(ids) == 0:
        return np.empty(0, dtype=np.uint64)
    plain = pc.fill_null(pc.match_substring_regex(ids, _PLAIN_INTEGER), False)
    if pc.all(plain).as_py():
        return pc.cast(ids, pa.int64()).to_numpy().astype(np.uint64)
    text = ids.to_numpy(zero_copy_only=False).astype(object)
    keys = pd.util.hash_array(text, categorize=False) | _HASHED
    is_plain = np.asarray(plain)
    if is_plain.any():
        keys[is_plain] = pc.cast(ids.filter(plain), pa.int64()).to_numpy().astype(np.uint64)
    return keys


class _Validator:
    """``run``'s row checks, chunk by chunk, with duplicate ids found across chunks."""

    def __init__(self, features: Sequence[str], feature_cols: list[str], id_col: str | None,
                 decimal_comma: bool) -> None:
        self.features = list(features)
        self.feature_cols = feature_cols
        self.id_col = id_col
        self.decimal_comma = decimal_comma
        self.checked = ([id_col] if id_col else []) + feature_cols
        self.seen = _SeenIds()
        self.problems: Counter = Counter()

    def check(self, chunk: _Chunk) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Keep mask, feature values of the kept rows, and the rejects (row order)."""
        table, rows = chunk.table, chunk.rows
        n = table.num_rows
        reason_col = np.full(n, -1, dtype=np.int64)
        reason_code = np.zeros(n, dtype=np.uint8)
        range_reasons: list[str | None] = []
        values = np.empty((n, len(self.feature_cols)), dtype=np.float64)
        key = None
        if self.id_col is not None:
            ids = table.column(self.id_col)
            key = pc.utf8_trim_whitespace(pc.cast(ids.combine_chunks() if ids.num_chunks != 1
                                                  else ids.chunk(0), pa.string()))
            missing = np.asarray(pc.fill_null(pc.equal(key, ""), True))
            _record(reason_col, reason_code, missing, 0, _MISSING)
            range_reasons.append(None)
        for j, (wanted, column) in enumerate(zip(self.features, self.feature_cols, strict=True)):
            col_values, codes = parse_numbers(table.column(column), self.decimal_comma)
            range_reasons.append(range_codes(col_values, codes, canonical_name(wanted)))
            values[:, j] = col_values
            _record(reason_col, reason_code, codes != _OK, len(range_reasons) - 1, codes)
        first_row = np.full(n, -1, dtype=np.int64)
        if key is not None:
            valid = np.flatnonzero(reason_col < 0)
            first_row[valid] = self.seen.first_rows(id_keys(key.take(pa.array(valid))), rows[valid])
        rejected = (reason_col >= 0) | (first_row >= 0)
        rejects = self._rejects(table, rows, rejected, reason_col, reason_code, first_row,
                                range_reasons, key)
        if len(chunk.parse_rejects):
            self.problems[(None, "wrong number of fields")] += len(chunk.parse_rejects)
            rejects = pd.concat([chunk.parse_rejects, rejects], ignore_index=True).sort_values(
                "row", kind="stable").reset_index(drop=True).astype(REJECT_COLUMNS)
        keep = ~rejected
        return keep, values[keep], rejects

    def _rejects(self, table: pa.Table, rows: np.ndarray, rejected: np.ndarray,
                 reason_col: np.ndarray, reason_code: np.ndarray, first_row: np.ndarray,
                 range_reasons: list[str | None], key: pa.Array | None) -> pd.DataFrame:
        idx = np.flatnonzero(rejected)
        if len(idx) == 0:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in REJECT_COLUMNS.items()})
        col, code = reason_col[idx], reason_code[idx]
        is_dup = col < 0
        texts = np.empty((max(len(self.checked), 1), _RANGE + 1), dtype=object)
        texts[:, _MISSING], texts[:, _NON_NUMERIC], texts[:, _INFINITE] = (
            Reason.MISSING, Reason.NON_NUMERIC, Reason.INFINITY)
        texts[:len(range_reasons), _RANGE] = range_reasons
        reason = np.empty(len(idx), dtype=object)
        reason[~is_dup] = texts[col[~is_dup], code[~is_dup]]
        before, _, after = Reason.DUPLICATE_ID.partition("{first}")
        reason[is_dup] = (before + pd.Series(first_row[idx[is_dup]]).astype(str) + after).to_numpy()
        owner = np.where(is_dup, 0, col)
        column = np.array(self.checked, dtype=object)[owner]
        value = np.full(len(idx), None, dtype=object)
        for j, name in enumerate(self.checked):
            mine = np.flatnonzero(owner == j)
            if len(mine):
                cells = table.column(name).take(pa.array(idx[mine]))
                value[mine] = pc.cast(cells, pa.string()).to_numpy(zero_copy_only=False)
        if self.id_col is not None:
            customer = pc.cast(table.column(self.id_col).take(pa.array(idx)), pa.string()
                               ).to_numpy(zero_copy_only=False)
        else:
            customer = np.full(len(idx), None, dtype=object)
        kinds = np.where(is_dup, "duplicate customer id", reason.astype(str))
        self.problems.update(zip(column.tolist(), kinds.tolist(), strict=True))
        return pd.DataFrame({"row": rows[idx], "customer_id": customer, "column": column,
                             "value": value, "reason": reason}).astype(REJECT_COLUMNS)

    def most_common_problem(self) -> str:
        if not self.problems:
            return "no rows"
        (column, reason), _ = max(self.problems.items(), key=lambda item: item[1])
        return f"{column!r}: {reason}" if column is not None else reason


def _record(reason_col: np.ndarray, reason_code: np.ndarray, failed: np.ndarray, column: int,
            codes: np.ndarray | int) -> None:
    """Give rows that failed this check, and no earlier one, this column's reason."""
    new = failed & (reason_col < 0)
    reason_col[new] = column
    reason_code[new] = codes[new] if isinstance(codes, np.ndarray) else codes


# --------------------------------------------------------------------------- writing

class _CsvAppender:
    """A CSV file written batch by batch into a temporary file beside its target."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp: Path | None = None
        self.stream: pa.NativeFile | None = None
        self.rows = 0
        self.header_done = False

    def write(self, table: pa.Table) -> None:
        import pyarrow.csv as pacsv

        if self.stream is None:
            try:
                self.target.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp",
                                            dir=self.target.parent)
                os.close(fd)
                self.tmp = Path(name)
                self.stream = pa.OSFile(name, "wb")
            except OSError as exc:
                raise OutputError(f"Cannot write {self.target}: {exc.strerror or exc}. Choose "
                                  "another --out.") from exc
        maybe_formula, maybe_structural = _text_flags(table)
        if maybe_formula:
            table = neutralise_formulas(table)
        plain_header = not any(re.search(r'[",\r\n]', c) for c in table.column_names)
        structural = maybe_structural and _any_structural(table)
        style = "none" if plain_header and not structural else "needed"
        options = pacsv.WriteOptions(include_header=not self.header_done,
                                     quoting_style=style,
                                     quoting_header="none" if plain_header else "needed")
        try:
            pacsv.write_csv(table, self.stream, options)
        except OSError as exc:
            raise OutputError(f"Cannot write {self.target}: {exc}. Choose another --out.") from exc
        self.header_done = True
        self.rows += table.num_rows

    def commit(self) -> Path:
        if self.stream is None or self.tmp is None:  # pragma: no cover - nothing was written
            raise RuntimeError(f"nothing written to {self.target}")
        self.stream.close()
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            raise OutputError(f"Cannot write {self.target}: {exc.strerror or exc}. Choose another "
                              "--out.") from exc
        self.tmp = None
        return self.target

    def discard(self) -> None:
        if self.stream is not None and not self.stream.closed:
            self.stream.close()
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                self.tmp.unlink()
            self.tmp = None


_FORMULA_BYTES = np.zeros(256, dtype=bool)
_FORMULA_BYTES[[ord(c) for c in "=+-@\t\r"]] = True
_STRUCTURAL_BYTES = np.zeros(256, dtype=bool)
_STRUCTURAL_BYTES[[ord(c) for c in '",\r\n']] = True


def _text_flags(table: pa.Table) -> tuple[bool, bool]:
    """Whether any text cell may start like a formula, and whether any may need quotes.

    A quick look at the raw Arrow buffers (first bytes, any byte) decides for almost every
    chunk; only when it says "maybe" do the exact regex checks of the writers module run.
    """
    formula = structural = False
    for column in table.columns:
        for chunk in column.chunks:
            kind = chunk.type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                if pa.types.is_dictionary(kind) or pa.types.is_string_view(kind):
                    return True, True
                continue
            if len(chunk) == 0:
                continue
            _, offsets_buffer, data_buffer = chunk.buffers()
            offset_type = np.int32 if pa.types.is_string(kind) else np.int64
            offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
                chunk.offset:chunk.offset + len(chunk) + 1]
            if data_buffer is None or offsets[-1] == offsets[0]:
                continue
            data = np.frombuffer(data_buffer, dtype=np.uint8)
            starts = offsets[:-1][offsets[1:] > offsets[:-1]]
            formula = formula or bool(_FORMULA_BYTES[data[starts]].any())
            structural = structural or bool(_STRUCTURAL_BYTES[data[offsets[0]:offsets[-1]]].any())
            if formula and structural:
                return True, True
    return formula, structural


def _check_out_writable(out: Path) -> None:
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"Cannot write {out}: {parent} is a file. Choose another --out.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {out}: permission denied in {parent}. Choose another --out.")
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(f"Cannot write {out}: permission denied. Choose another --out.")


def _score(model: _Scorer, source: _Source, out: Path, feature_cols: list[str],
           id_col: str | None, block_scale: int, advance: object) -> PredictResult:
    needed = list(dict.fromkeys(([id_col] if id_col else []) + feature_cols))
    validator = _Validator(model.features, feature_cols, id_col,
                           decimal_comma=source.delimiter in (";", "\t"))
    scored = _CsvAppender(out)
    rejected = _CsvAppender(rejects_path_for(out))
    k = model.n_segments
    customers = np.zeros(k, dtype=np.int64)
    atypical = np.zeros(k, dtype=np.int64)
    names = pa.array(list(model.names), pa.string())
    n_input = n_scored = n_rejected = 0
    done = 0.0
    try:
        for chunk in source.chunks(needed, block_scale):
            n_input += chunk.table.num_rows + len(chunk.parse_rejects)
            keep, values, rejects = validator.check(chunk)
            if len(rejects):
                rejected.write(pa.Table.from_pandas(rejects, schema=_REJECT_SCHEMA,
                                                    preserve_index=False))
                n_rejected += len(rejects)
            if len(values):
                index, distance, flag = model.assign(values)
                keep_arrow = pa.array(keep)
                first = (chunk.table.column(id_col).filter(keep_arrow) if id_col is not None
                         else pa.array(chunk.rows[keep]))
                table = pa.table({
                    id_col if id_col is not None else ROW_COLUMN: first,
                    CLUSTER_COLUMN: pa.array(model.clusters[index].astype(np.int32)),
                    SEGMENT_COLUMN: names.take(pa.array(index)),
                    DISTANCE_COLUMN: pa.array(distance),
                    ATYPICAL_COLUMN: pa.array(flag),
                })
                scored.write(table)
                n_scored += len(index)
                customers += np.bincount(index, minlength=k)
                atypical += np.bincount(index[flag], minlength=k)
            now = 100 * source.fraction_done()
            advance(now - done)
            done = now
        if n_input == 0:
            raise DataValidationError(f"{source.name} has a header but no customer rows. Export "
                                      "the table with its data.")
        if n_scored == 0:
            raise DataValidationError(
                f"No valid rows in {source.name}: all {n_input:,} rows were rejected (most often: "
                f"{validator.most_common_problem()}). Fix those values, or check that this is the "
                "file meant for this model.")
        if n_scored + n_rejected != n_input:  # pragma: no cover - a bug, not a user error
            raise RuntimeError(f"row accounting broken: {n_input} != {n_scored} + {n_rejected}")
        rejects_path = rejected.commit() if n_rejected else None
        if rejects_path is None:
            with contextlib.suppress(OSError):
                rejects_path_for(out).unlink(missing_ok=True)
        scored.commit()
    finally:
        scored.discard()
        rejected.discard()
    counts = pd.DataFrame({SEGMENT_COLUMN: list(model.names), "customers": customers,
                           "share": customers / n_scored, "atypical": atypical},
                          index=pd.Index(model.clusters, name=CLUSTER_COLUMN))
    return PredictResult(out=out, rejects_path=rejects_path, n_input=n_input, n_scored=n_scored,
                         n_rejected=n_rejected, counts=counts, n_atypical=int(atypical.sum()),
                         has_thresholds=model.has_thresholds, input_name=source.name,
                         input_sha256=source.sha256,
                         threshold_quantile=getattr(model, "threshold_quantile", None)
                         if model.has_thresholds else None)
