"""Delimited text files as a :class:`~custseg.io.chunks.Source`: encoding, delimiter and header
detected (:func:`custseg.io.formats.sniff_csv`), cells read as text exactly as written, and every
record the parser cannot split into the header's fields kept as a reject with its row number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import InputFileError
from custseg.io.chunks import Chunk, FileSource
from custseg.io.formats import FIRST_DATA_ROW, first_line, sequential_rows, sniff_csv
from custseg.io.rejects import NO_REJECTS, parse_rejects

#: Largest CSV block tried before a record is declared too long.
MAX_BLOCK = 1 << 30
#: CSV bytes parsed at a time by the batch reader (Arrow buffers a few blocks ahead).
CSV_BLOCK = 1 << 20
#: CSV bytes parsed at a time by the whole-file reader.
CSV_BLOCK_ALL = 16 << 20



class CsvSource(FileSource):
    """A delimited text file (encoding, delimiter and header detected; see
    :func:`custseg.io.formats.sniff_csv`)."""

    format = "csv"

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, path.name
        self.size_bytes = path.stat().st_size
        dialect = sniff_csv(path)
        self.sha256, self.encoding, self.delimiter = dialect.sha256, dialect.encoding, dialect.delimiter
        self.columns = dialect.header
        self.line_bytes, self.longest = dialect.line_bytes, dialect.longest
        self._stream: pa.NativeFile | None = None

    def row_bytes(self) -> float:
        # Arrow text: the characters plus a 4-byte offset per cell.
        return self.line_bytes + 4 * len(self.columns)

    def fraction_done(self) -> float:
        if self._stream is None or self._stream.closed or self.size_bytes == 0:
            return 1.0
        return min(1.0, self._stream.tell() / self.size_bytes)

    def _options(self, threads: bool, block: int, columns: list[str], on_invalid: object) -> dict:
        import pyarrow.csv as pacsv

        return {
            "read_options": pacsv.ReadOptions(use_threads=threads, encoding=self.encoding,
                                              column_names=self.columns, skip_rows=1,
                                              block_size=block),
            "parse_options": pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True,
                                                invalid_row_handler=on_invalid),
            "convert_options": pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()), include_columns=columns,
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        }

    def read_all(self) -> Chunk:
        import pyarrow.csv as pacsv

        def read(threads: bool, block: int) -> tuple[pa.Table, list]:
            bad: list = []

            def on_invalid(row: object) -> str:
                bad.append(row)
                return "skip"

            return pacsv.read_csv(self.path, **self._options(threads, block, self.columns,
                                                             on_invalid)), bad

        block = CSV_BLOCK_ALL
        while True:
            try:
                table, bad = read(True, block)
                if any(row.number is None for row in bad):
                    # Threaded parsing does not know row numbers; re-read the (rare) malformed
                    # file in one thread so every unparseable record is reported with its row.
                    table, bad = read(False, block)
                break
            except pa.ArrowInvalid as exc:
                if "straddl" in str(exc) and block < MAX_BLOCK:
                    block *= 16  # a record longer than a block: read with bigger blocks
                    continue
                raise self._error(exc) from exc
            except UnicodeDecodeError as exc:
                raise self._error(exc) from exc
            except OSError as exc:
                raise InputFileError(f"Cannot read {self.name}: {exc.strerror or exc}.") from exc
        # Arrow counts the header as row 1, like a spreadsheet, when it reports a bad row.
        bad_rows = np.array([row.number for row in bad], dtype=np.int64)
        all_rows = sequential_rows(table.num_rows + len(bad))
        rows = all_rows[~np.isin(all_rows, bad_rows)] if len(bad) else all_rows
        return Chunk(table, rows, parse_rejects(bad) if bad else NO_REJECTS)

    def _error(self, exc: BaseException) -> InputFileError:
        return InputFileError(f"Cannot read {self.name} as CSV ({first_line(exc)}). Check that it "
                              "is a text table and its encoding, or name the format with --format.")

    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:
        # A record longer than the parser's block fails the read; it starts again with bigger
        # blocks and skips what was already handed out, so callers never see the retry.
        columns = list(self.columns) if columns is None else columns
        scale, done = 1, FIRST_DATA_ROW - 1
        while True:
            try:
                for chunk in self._chunks(rows, columns, scale):
                    if scale > 1:
                        chunk = _after(chunk, done)
                    if chunk.n_records:
                        done = max(done, _last_row(chunk))
                        yield chunk
                return
            except _BlockTooSmall:
                if self._block(rows, scale * 16) >= MAX_BLOCK:
                    raise InputFileError(f"Cannot read {self.name} as CSV: a record is larger "
                                         "than 1 GiB. Check the file's quoting.") from None
                scale *= 16

    def _block(self, rows: int, scale: int) -> int:
        # Arrow reads several blocks ahead: small blocks keep that buffer small.
        size = min(int(self.line_bytes * rows), CSV_BLOCK)
        size = max(size, 16 * self.longest + 64, 4096)
        return min(size * scale, MAX_BLOCK)

    def _chunks(self, rows: int, columns: list[str], scale: int) -> Iterator[Chunk]:
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
                reader = pacsv.open_csv(stream, **self._options(False, self._block(rows, scale),
                                                                columns, on_invalid))
                # Small reader blocks gathered into chunks of ``rows`` rows.
                parts: list[pa.RecordBatch] = []
                part_rows: list[np.ndarray] = []
                part_bad: list = []
                count = 0
                for batch in reader:
                    # Single-threaded parsing reports every unparseable record, with its row,
                    # before the batch it precedes: number the parsed rows around them.
                    pending.extend(bad)
                    bad.clear()
                    skip = np.array([r.number for r in pending], dtype=np.int64)
                    n = batch.num_rows
                    candidates = np.arange(next_row, next_row + n + len(skip), dtype=np.int64)
                    numbers = candidates[~np.isin(candidates, skip)][:n] if len(skip) else candidates[:n]
                    if n:
                        next_row = int(numbers[-1]) + 1
                    before = [r for r in pending if r.number < next_row]
                    pending = [r for r in pending if r.number >= next_row]
                    start = 0
                    while True:
                        stop = min(n, start + rows - count)
                        # A piece takes the unparseable records before its last row, so the
                        # rejects stay in row order.
                        limit = int(numbers[stop - 1]) + 1 if stop < n else next_row
                        mine = [r for r in before if r.number < limit]
                        before = before[len(mine):]
                        part_bad.extend(mine)
                        if stop > start:
                            parts.append(batch.slice(start, stop - start))
                            part_rows.append(numbers[start:stop])
                            count += stop - start
                        if count >= rows:
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
                raise self._error(exc) from exc
            except UnicodeDecodeError as exc:
                raise self._error(exc) from exc
            finally:
                self._stream = None


class _BlockTooSmall(Exception):
    """A CSV record did not fit in the reader's block: read again with bigger blocks."""


def _gather(parts: list[pa.RecordBatch], rows: list[np.ndarray], bad: list, schema: pa.Schema
            ) -> Chunk:
    table = pa.Table.from_batches(parts, schema=schema)
    numbers = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    return Chunk(table, numbers, parse_rejects(bad) if bad else NO_REJECTS)


def _last_row(chunk: Chunk) -> int:
    """The last spreadsheet row of ``chunk``, parsed or not."""
    last = int(chunk.rows[-1]) if chunk.rows.size else 0
    rejects = chunk.parse_rejects
    return max(last, int(rejects["row"][rejects.num_rows - 1].as_py()) if rejects.num_rows else 0)


def _after(chunk: Chunk, done: int) -> Chunk:
    """The part of ``chunk`` after spreadsheet row ``done`` (what a restarted read repeats)."""
    keep = chunk.rows > done
    rejects = chunk.parse_rejects
    if rejects.num_rows:
        rejects = rejects.filter(pc.greater(rejects["row"], done))
    return Chunk(chunk.table.filter(pa.array(keep)), chunk.rows[keep], rejects)
