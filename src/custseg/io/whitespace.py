"""Whitespace-separated text tables (fields separated by runs of spaces or tabs, as in the CDNOW
purchase log and many fixed-width exports) as a :class:`~custseg.io.chunks.Source`.

Arrow reads each line whole (no delimiter, no quoting), and ``utf8_split_whitespace`` splits it
into fields, so every line keeps its number: a line with more or fewer fields than the header
(a blank line included) becomes a reject with its row, never dropped. Cells are text, as a CSV's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import InputFileError
from custseg.io.chunks import Chunk, FileSource
from custseg.io.formats import (
    FIRST_DATA_ROW,
    SNIFF_BYTES,
    check_header,
    first_line,
    sha256_and_encoding,
)
from custseg.io.rejects import NO_REJECTS, REJECT_SCHEMA, Reason

#: A byte that never occurs in a text line: Arrow's "delimiter" when a line is read whole.
_NO_DELIMITER = "\x1f"
#: Bytes parsed at a time.
BLOCK = 1 << 20


def is_whitespace_table(path: Path) -> bool:
    """Whether ``path`` looks like a whitespace-separated table: no CSV delimiter in its header,
    at least two whitespace-separated header fields, and at least 90% of its first (up to 50)
    data lines split into as many.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "log.txt"
    >>> _ = p.write_text(" id  date  amount\\n 1 19970101  1.5\\n 2 19970102 3\\n")
    >>> is_whitespace_table(p)
    True
    >>> _ = p.write_text("id,date\\n1,2\\n")
    >>> is_whitespace_table(p)
    False
    """
    with path.open("rb") as fh:
        sample = fh.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]
    lines = [line for line in lines[:51] if line.strip()]
    if not lines or re.search(r"[,;|\"]", lines[0]):
        return False
    width = len(lines[0].split())
    if width < 2:
        return False
    data = lines[1:]
    return bool(data) and sum(len(line.split()) == width for line in data) >= 0.9 * len(data)


class WhitespaceSource(FileSource):
    """A text table whose fields are separated by runs of white space (header on the first line).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "log.txt"
    >>> _ = p.write_text(" id  date  amount\\n 1 19970101  1.5\\n\\n 2 19970102\\n")
    >>> chunk = WhitespaceSource(p).read_all()
    >>> chunk.table.to_pylist(), chunk.rows.tolist()
    ([{'id': '1', 'date': '19970101', 'amount': '1.5'}], [2])
    >>> chunk.parse_rejects["row"].to_pylist(), chunk.parse_rejects["reason"][0].as_py()
    ([3, 4], 'wrong number of fields: expected 3, found 0')
    """

    format = "csv"
    delimiter = " "

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, path.name
        self.size_bytes = path.stat().st_size
        self.sha256, self.encoding = sha256_and_encoding(path)
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES).decode(self.encoding, errors="replace").lstrip("\ufeff")
        self.columns = head.splitlines()[0].split() if head.strip() else []
        check_header(self.columns, path.name)
        lines = max(1, head.count("\n"))
        self.line_bytes = max(1.0, len(head) / lines)
        self._stream: pa.NativeFile | None = None

    def row_bytes(self) -> float:
        return self.line_bytes + 4 * len(self.columns)

    def fraction_done(self) -> float:
        if self._stream is None or self._stream.closed or self.size_bytes == 0:
            return 1.0
        return min(1.0, self._stream.tell() / self.size_bytes)

    def read_all(self) -> Chunk:
        parts = list(self.chunks(1 << 62))
        if not parts:
            return Chunk(pa.table({c: pa.array([], pa.string()) for c in self.columns}),
                         np.empty(0, np.int64), NO_REJECTS)
        return Chunk(pa.concat_tables([p.table for p in parts]),
                     np.concatenate([p.rows for p in parts]),
                     pa.concat_tables([p.parse_rejects for p in parts]))

    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:
        import pyarrow.csv as pacsv

        columns = list(self.columns) if columns is None else columns
        positions = [self.columns.index(c) for c in columns]
        options = {
            "read_options": pacsv.ReadOptions(use_threads=False, encoding=self.encoding,
                                              column_names=["line"], skip_rows=1,
                                              block_size=BLOCK),
            "parse_options": pacsv.ParseOptions(delimiter=_NO_DELIMITER, quote_char=False,
                                                ignore_empty_lines=False),
            "convert_options": pacsv.ConvertOptions(column_types={"line": pa.string()},
                                                    strings_can_be_null=False),
        }
        next_row = FIRST_DATA_ROW
        pending: list[pa.Array] = []
        count = 0
        try:
            with pa.OSFile(str(self.path), "rb") as stream:
                self._stream = stream
                reader = pacsv.open_csv(stream, **options)
                for batch in reader:
                    pending.append(batch.column(0))
                    count += batch.num_rows
                    if count >= rows:
                        yield self._split(pa.concat_arrays(pending), next_row, columns, positions)
                        next_row += count
                        pending, count = [], 0
                if count:
                    yield self._split(pa.concat_arrays(pending), next_row, columns, positions)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise InputFileError(f"Cannot read {self.name} as a whitespace-separated table "
                                 f"({first_line(exc)}). Check its encoding.") from exc
        finally:
            self._stream = None

    def _split(self, lines: pa.Array, start: int, columns: list[str], positions: list[int]
               ) -> Chunk:
        trimmed = pc.utf8_trim_whitespace(lines)
        fields = pc.utf8_split_whitespace(trimmed)
        found = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
        found = np.where(pc.equal(trimmed, "").to_numpy(zero_copy_only=False), 0, found)
        good = found == len(self.columns)
        numbers = np.arange(start, start + len(lines), dtype=np.int64)
        kept = fields.filter(pa.array(good))
        table = pa.table({c: pc.list_element(kept, i) for c, i in zip(columns, positions,
                                                                       strict=True)}
                         if len(kept) else {c: pa.array([], pa.string()) for c in columns})
        rejects = NO_REJECTS
        if not good.all():
            bad = ~good
            rejects = pa.table({
                "row": pa.array(numbers[bad]),
                "customer_id": pa.nulls(int(bad.sum()), pa.string()),
                "column": pa.nulls(int(bad.sum()), pa.string()),
                "value": lines.filter(pa.array(bad)),
                "reason": pa.array([Reason.FIELD_COUNT.format(expected=len(self.columns),
                                                              actual=int(n)) for n in found[bad]],
                                   pa.string()),
            }, schema=REJECT_SCHEMA)
        return Chunk(table, numbers[good], rejects)
