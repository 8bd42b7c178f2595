"""What every source hands out: :class:`Chunk` batches of parsed rows, and the :class:`Source`
interface (see :mod:`custseg.io.sources` for the formats)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from custseg.io.formats import SourceInfo, file_sha256


@dataclass
class Chunk:
    """Some parsed rows of a customer table.

    Attributes
    ----------
    table : pyarrow.Table
        The columns asked for, of the parsed rows, cells as read.
    rows : numpy.ndarray
        Spreadsheet row of each (the header is row 1), int64.
    parse_rejects : pyarrow.Table
        Records the CSV parser could not split into the header's fields that come before the
        next chunk's rows (layout :data:`custseg.io.rejects.REJECT_SCHEMA`).
    """

    table: pa.Table
    rows: np.ndarray
    parse_rejects: pa.Table

    @property
    def n_records(self) -> int:
        """Records of the input in this chunk (parsed or not)."""
        return self.table.num_rows + self.parse_rejects.num_rows


class Source(ABC):
    """A customer table to read, whole or in batches.

    Attributes
    ----------
    name : str
        Name for messages (the file name, or ``"<data frame>"``).
    format : str
        ``"csv"``, ``"parquet"``, ``"excel"`` or ``"dataframe"``.
    columns : list of str
        The header, in input order.
    delimiter : str or None
        The CSV delimiter (None for other formats).
    total_rows : int or None
        Records in the table when known without reading it.
    size_bytes : int
        Size of the input file (0 for a data frame).
    """

    name: str
    format: str
    columns: list[str]
    delimiter: str | None = None
    total_rows: int | None = None
    size_bytes: int = 0

    #: The whole table, read ahead of the run (:mod:`custseg.io.early`), until
    #: :meth:`read_whole` hands it out.
    ahead: Chunk | None = None

    @abstractmethod
    def read_all(self) -> Chunk:
        """The whole table as one chunk (every column)."""

    def read_whole(self) -> Chunk:
        """The whole table: the chunk read ahead (once), else :meth:`read_all` now."""
        chunk, self.ahead = self.ahead, None
        return chunk if chunk is not None else self.read_all()

    @abstractmethod
    def chunks(self, rows: int, columns: list[str] | None = None) -> Iterator[Chunk]:
        """The table from the start, in chunks of about ``rows`` rows.

        Parameters
        ----------
        rows : int
            Rows per chunk (the last may hold fewer; CSV chunks may end a little early).
        columns : list of str, optional
            Columns to read (default: every column, in input order).
        """

    @abstractmethod
    def info(self) -> SourceInfo:
        """Where the table comes from (hashing the file if that was not done yet)."""

    def fraction_done(self) -> float:
        """Share of the table read by the current :meth:`chunks` iteration, 0..1."""
        return 0.0

    def row_bytes(self) -> float:
        """Rough bytes per record in memory (to size batches)."""
        return 64.0

    def memory_basis(self) -> tuple[int, dict]:
        """The bytes an in-memory run's peak is estimated from (``--engine auto``), and how
        they were found: for a file, its size on disk."""
        return self.size_bytes, {"from": "file size", "bytes": int(self.size_bytes)}


class FileSource(Source):
    """A source read from a file (its SHA-256 computed when first asked for)."""

    path: Path
    sha256: str | None = None
    #: The decimal mark the user chose (``--decimal``), or None: from the delimiter.
    decimal: str | None = None

    def info(self) -> SourceInfo:
        if self.sha256 is None:
            self.sha256 = file_sha256(self.path)
        return SourceInfo(self.name, self.path, self.format, getattr(self, "encoding", None),
                          self.delimiter, self.sha256, self.size_bytes, self.decimal)


