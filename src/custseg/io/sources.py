"""Customer files in batches: chunked reading, ``run``'s row checks, duplicate ids across batches.

The machinery behind everything that must not hold a whole customer file in memory:
``custseg predict`` (:mod:`custseg.scoring`) and the streaming engine of ``custseg run``
(:mod:`custseg.streaming`).

Reading
    :func:`open_source` opens a CSV (Arrow's streaming reader, single-threaded so that every
    unparseable record is reported with its spreadsheet row), a Parquet file (one record batch
    at a time) or an Excel sheet (read whole: a sheet holds at most about a million rows) and
    hands it out as :class:`Chunk` objects: some parsed rows, their spreadsheet row numbers
    (the header is row 1) and the unparseable records that precede them. CSV cells are text,
    exactly as written; Parquet columns keep their stored types, as :mod:`custseg.data.readers`
    reads them.

Validation
    :class:`BatchValidator` applies ``custseg run``'s checks row for row (same checks, same
    order, same reason texts, same row numbers, see :mod:`custseg.data.validate`), with two
    differences that batches need: a batch with no valid row is not an error (only a file with
    none is), and duplicate ids are found across batches with :class:`SeenIds`.

Duplicate ids
    A duplicate is an id already seen on an earlier valid row; ids are compared as trimmed
    text, like ``run`` does. Plain numeric ids (``0``, ``17``, not ``007``) are kept as their
    exact integer value (:func:`id_keys`); any other id as a 64-bit hash, so two different such
    ids could be taken for duplicates with a probability of about n² / 2⁶⁵ (3 in a million for
    ten million ids). Runs of consecutive integer ids on consecutive rows (the usual export:
    ids 1, 2, 3, ...) are remembered as spans, 24 bytes per span whatever its length; other ids
    cost 12 bytes each (8 for the key, 4 for the row).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.data.columns import canonical_name, resolve_columns  # noqa: F401 - re-exported
from custseg.data.readers import (
    _SNIFF_BYTES,
    FIRST_DATA_ROW,
    SourceInfo,
    _check_header,
    _file_sha256,
    _first_line,
    _name_unnamed,
    _sha256_and_encoding,
    _sniff_delimiter,
    check_input_file,
)
from custseg.data.rejects import REJECT_COLUMNS, Reason
from custseg.data.validate import parse_numbers, range_codes
from custseg.exceptions import DataValidationError, InputFileError

# Codes of custseg.data.validate.parse_numbers / range_codes, in the order a reason is chosen.
_OK, _MISSING, _NON_NUMERIC, _INFINITE, _RANGE = 0, 1, 2, 3, 4
_PLAIN_INTEGER = r"^(0|[1-9][0-9]{0,17})$"
#: Largest integer id kept exactly (18 digits, as :data:`_PLAIN_INTEGER`); larger ones are hashed.
_PLAIN_LIMIT = 10**18
_HASHED = np.uint64(1 << 63)
#: Sorted runs of remembered ids are merged while the result stays under this many ids.
MERGE_LIMIT = 4_000_000
#: Consecutive ids on consecutive rows are kept as a span when at least this many in a row.
SPAN_MIN = 4
#: Arrow schema of a rejects batch (the columns of ``rejected_rows.csv``).
REJECT_SCHEMA = pa.schema([("row", pa.int64()), ("customer_id", pa.string()),
                           ("column", pa.string()), ("value", pa.string()),
                           ("reason", pa.string())])
#: Largest CSV block tried before a record is declared too long.
MAX_BLOCK = 1 << 30
#: CSV bytes parsed at a time (Arrow's streaming reader buffers a few blocks ahead).
CSV_BLOCK = 1 << 20


class BlockTooSmall(Exception):
    """A CSV record did not fit in the reader's block: retry with bigger blocks."""


@dataclass
class Chunk:
    """Some parsed rows of a customer file.

    Attributes
    ----------
    table : pyarrow.Table
        The columns asked for, of the parsed rows, cells as read.
    rows : numpy.ndarray
        Spreadsheet row of each (the header is row 1), int64.
    parse_rejects : pandas.DataFrame
        Records the CSV parser could not split into the header's fields that come before the
        next chunk's rows, in the rejects layout (:data:`custseg.data.rejects.REJECT_COLUMNS`).
    """

    table: pa.Table
    rows: np.ndarray
    parse_rejects: pd.DataFrame


class BatchSource(ABC):
    """A customer file read in chunks; :func:`open_source` opens one.

    Attributes
    ----------
    name : str
        The file's name (for messages).
    path : pathlib.Path
        The file.
    format : str
        ``"csv"``, ``"parquet"`` or ``"excel"``.
    columns : list of str
        The header, in file order.
    delimiter, encoding : str or None
        What was detected for a CSV (None for other formats).
    sha256 : str or None
        SHA-256 of the file when already computed (CSV); see :meth:`source_info`.
    total_rows : int or None
        Records in the file when known without reading it (Parquet, Excel).
    """

    name: str
    path: Path
    format: str
    columns: list[str]
    delimiter: str | None = None
    encoding: str | None = None
    sha256: str | None = None
    total_rows: int | None = None

    @abstractmethod
    def chunks(self, needed: list[str] | None = None, block_scale: int = 1) -> Iterator[Chunk]:
        """The file from the start, in chunks of about ``chunk_rows`` rows.

        Parameters
        ----------
        needed : list of str, optional
            Columns to read (default: every column, in file order).
        block_scale : int, default 1
            CSV only: multiplies the parser's block size (after :class:`BlockTooSmall`).
        """

    @abstractmethod
    def fraction_done(self) -> float:
        """Share of the file read by the current :meth:`chunks` iteration, 0..1."""

    def block_size(self, block_scale: int) -> int:
        """CSV parser block size in bytes (0 for other formats)."""
        return 0

    def row_bytes(self) -> float:
        """Rough bytes per record in memory (to size batches)."""
        return 64.0

    def source_info(self) -> SourceInfo:
        """Where the table comes from, as :mod:`custseg.data.readers` describes it (hashes the
        file when its SHA-256 is not known yet)."""
        if self.sha256 is None:
            self.sha256 = _file_sha256(self.path)
        return SourceInfo(self.name, self.path, self.format, self.encoding, self.delimiter,
                          self.sha256, self.path.stat().st_size)


def open_source(path: Path, fmt: str | None, chunk_rows: int) -> BatchSource:
    """Check ``path`` and open it for chunked reading (header read, nothing else yet).

    Parameters
    ----------
    path : pathlib.Path
        Customer file: CSV, Parquet or Excel.
    fmt : {"csv", "parquet", "excel"} or None
        Overrides the format the extension names.
    chunk_rows : int
        Rows per chunk (the last one may hold fewer; CSV chunks may end a little early).

    Returns
    -------
    BatchSource

    Raises
    ------
    InputFileError
        Missing, unreadable, or not in the named format.
    DataValidationError
        Empty, or a header without rows (Parquet).
    """
    kind = check_input_file(path, fmt)
    try:
        if path.stat().st_size == 0:
            raise DataValidationError(f"Input file {path.name} is empty. Export the customer table "
                                      "again.")
        return {"csv": _CsvSource, "parquet": _ParquetSource, "excel": _ExcelSource}[kind](
            path, chunk_rows)
    except PermissionError as exc:
        raise InputFileError(f"Cannot read {path.name}: permission denied. Check its permissions."
                             ) from exc


class _CsvSource(BatchSource):
    format = "csv"

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
        self.line_bytes = max(1.0, len(sample_bytes) / max(1, len(lines)))
        self.longest = max(len(line) for line in complete)
        self._stream: pa.NativeFile | None = None

    def row_bytes(self) -> float:
        # Arrow text: the characters plus a 4-byte offset per cell.
        return self.line_bytes + 4 * len(self.columns)

    def block_size(self, block_scale: int) -> int:
        # Arrow reads several blocks ahead: small blocks keep that buffer small.
        size = min(int(self.line_bytes * self.chunk_rows), CSV_BLOCK)
        size = max(size, 16 * self.longest + 64, 4096)
        return min(size * block_scale, MAX_BLOCK)

    def fraction_done(self) -> float:
        if self._stream is None or self._stream.closed or self.size == 0:
            return 1.0
        return min(1.0, self._stream.tell() / self.size)

    def chunks(self, needed: list[str] | None = None, block_scale: int = 1) -> Iterator[Chunk]:
        import pyarrow.csv as pacsv

        needed = list(self.columns) if needed is None else needed
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
                    raise BlockTooSmall() from exc
                raise InputFileError(f"Cannot read {self.name} as CSV ({_first_line(exc)}). Check "
                                     "that it is a text table, or name the format with --format."
                                     ) from exc
            except UnicodeDecodeError as exc:
                raise InputFileError(f"Cannot read {self.name} as CSV ({_first_line(exc)}). Check "
                                     "its encoding.") from exc
            finally:
                self._stream = None


def _gather(parts: list[pa.RecordBatch], rows: list[np.ndarray], bad: list, schema: pa.Schema
            ) -> Chunk:
    table = pa.Table.from_batches(parts, schema=schema)
    numbers = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    return Chunk(table, numbers, _parse_rejects(bad) if bad else _NO_REJECTS)


def _parse_rejects(rows: list) -> pd.DataFrame:
    return pd.DataFrame({
        "row": np.array([r.number if r.number is not None else 0 for r in rows], dtype=np.int64),
        "customer_id": [None] * len(rows),
        "column": [None] * len(rows),
        "value": [r.text for r in rows],
        "reason": [Reason.FIELD_COUNT.format(expected=r.expected_columns, actual=r.actual_columns)
                   for r in rows],
    }).astype(REJECT_COLUMNS)


#: The parse rejects of a chunk without any (shared: building an empty frame per chunk is slow;
#: readers of a chunk never modify it).
_NO_REJECTS = _parse_rejects([])


class _ParquetSource(BatchSource):
    format = "parquet"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        import pyarrow.parquet as pq

        self.path, self.name, self.chunk_rows = path, path.name, chunk_rows
        try:
            # No pre-buffering: with it, iter_batches keeps every row group it has read
            # (memory grows with the file; measured on pyarrow 26).
            self.file = pq.ParquetFile(path, pre_buffer=False)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFileError(f"Cannot read {path.name} as Parquet ({_first_line(exc)}). Check "
                                 "the file, or name its format with --format.") from exc
        self.columns = [str(c) for c in self.file.schema_arrow.names]
        _check_header(self.columns, path.name)
        self.total = self.total_rows = self.file.metadata.num_rows
        if self.total == 0:
            raise DataValidationError(f"{path.name} has a header but no customer rows. Export the "
                                      "table with its data.")
        self.done = 0

    def fraction_done(self) -> float:
        return self.done / self.total if self.total else 1.0

    def row_bytes(self) -> float:
        meta = self.file.metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return max(8.0 * len(self.columns), size / max(1, self.total))

    def chunks(self, needed: list[str] | None = None, block_scale: int = 1) -> Iterator[Chunk]:
        start = FIRST_DATA_ROW
        self.done = 0
        try:
            for batch in self.file.iter_batches(batch_size=self.chunk_rows, columns=needed):
                n = batch.num_rows
                rows = np.arange(start, start + n, dtype=np.int64)
                start += n
                self.done += n
                yield Chunk(pa.Table.from_batches([batch]), rows, _NO_REJECTS)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFileError(f"Cannot read {self.name} as Parquet ({_first_line(exc)}). Check "
                                 "the file.") from exc


class _ExcelSource(BatchSource):
    """Excel is read whole (a sheet holds at most ~1M rows), then handed out in chunks."""

    format = "excel"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        from custseg.data.readers import read_table

        self.path, self.name, self.chunk_rows = path, path.name, chunk_rows
        self.raw = read_table(path, "excel")
        self.sha256 = self.raw.source.sha256
        self.columns = list(self.raw.table.column_names)
        self.total_rows = self.raw.table.num_rows
        self.done = 0

    def fraction_done(self) -> float:
        return self.done / max(1, self.raw.table.num_rows)

    def chunks(self, needed: list[str] | None = None, block_scale: int = 1) -> Iterator[Chunk]:
        table = self.raw.table if needed is None else self.raw.table.select(needed)
        self.done = 0
        for start in range(0, table.num_rows, self.chunk_rows):
            part = table.slice(start, self.chunk_rows)
            self.done += part.num_rows
            yield Chunk(part, self.raw.row_numbers[start:start + part.num_rows], _NO_REJECTS)


# --------------------------------------------------------------------------- validation

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
        if np.all(keys[1:] > keys[:-1]):
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
    plain = pc.fill_null(pc.match_substring_regex(ids, _PLAIN_INTEGER), False)
    if pc.all(plain).as_py():
        return pc.cast(ids, pa.int64()).to_numpy().astype(np.uint64)
    text = ids.to_numpy(zero_copy_only=False).astype(object)
    keys = pd.util.hash_array(text, categorize=False) | _HASHED
    is_plain = np.asarray(plain)
    if is_plain.any():
        keys[is_plain] = pc.cast(ids.filter(plain), pa.int64()).to_numpy().astype(np.uint64)
    return keys


class BatchValidator:
    """``run``'s row checks, chunk by chunk, with duplicate ids found across chunks.

    Parameters
    ----------
    features : sequence of str
        Feature names as asked for (they choose the range rules).
    feature_cols : list of str
        The input columns holding them (:func:`resolve_columns`).
    id_col : str or None
        The id column, or None (rows are identified by number; no duplicate check).
    decimal_comma : bool
        Accept ``12,5`` as 12.5 (semicolon- and tab-separated files, as ``run``).

    Attributes
    ----------
    seen : SeenIds
        Ids of the valid rows so far.
    problems : collections.Counter
        Rejects per (column, kind of problem).
    """

    def __init__(self, features: Sequence[str], feature_cols: list[str], id_col: str | None,
                 decimal_comma: bool) -> None:
        self.features = list(features)
        self.feature_cols = feature_cols
        self.id_col = id_col
        self.decimal_comma = decimal_comma
        self.checked = ([id_col] if id_col else []) + feature_cols
        self.seen = SeenIds()
        self.problems: Counter = Counter()

    def check(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Validate the next chunk (chunks must come in file order).

        Returns
        -------
        keep : numpy.ndarray
            bool per parsed row of ``chunk.table``: valid.
        values : numpy.ndarray
            Feature values of the kept rows, float64, shape (kept, n_features).
        rejects : pandas.DataFrame
            This chunk's rejects, parse rejects included, in row order.
        """
        table, rows = chunk.table, chunk.rows
        n = table.num_rows
        reason_col = np.full(n, -1, dtype=np.int64)
        reason_code = np.zeros(n, dtype=np.uint8)
        range_reasons: list[str | None] = []
        values = np.empty((n, len(self.feature_cols)), dtype=np.float64)
        key = None
        if self.id_col is not None:
            ids = table.column(self.id_col)
            ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
            if pa.types.is_integer(ids.type):
                key = ids  # typed ids (Parquet): no text round trip
                missing = np.asarray(ids.is_null())
            else:
                key = pc.utf8_trim_whitespace(pc.cast(ids, pa.string()))
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
            first_row[valid] = self.seen.first_rows(id_keys(key.take(pa.array(valid))),
                                                          rows[valid])
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
        """The most frequent (column, problem) so far, for messages."""
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



# --------------------------------------------------------------------------- text checks

_FORMULA_BYTES = np.zeros(256, dtype=bool)
_FORMULA_BYTES[[ord(c) for c in "=+-@\t\r"]] = True
_STRUCTURAL_BYTES = np.zeros(256, dtype=bool)
_STRUCTURAL_BYTES[[ord(c) for c in '",\r\n']] = True


def text_flags(table: pa.Table) -> tuple[bool, bool]:
    """Whether any text cell of ``table`` may start like a formula, and whether any may need quotes.

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

