"""Where ``custseg predict`` writes: the scored file's default name, its rejects file beside it,
and files staged in the output's side folder, put in place by one rename at the end."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pyarrow as pa

from custseg.exceptions import ConfigError, OutputError
from custseg.io.csvsafe import TableWriter
from custseg.io.outlock import OutputLock
from custseg.io.publish import publish
from custseg.io.writefail import write_failure

#: Suffix of the rejects file beside the output: ``new_scored.csv`` -> ``new_scored_rejected_rows.csv``.
REJECTS_SUFFIX = "_rejected_rows.csv"


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


def output_path(input_path: Path | None, out_path: str | Path | None, named: str | Path) -> Path:
    """Where the scored customers go: ``out_path`` (a folder gets :func:`default_out_path` of
    ``named`` inside it), never the input file itself."""
    out = default_out_path(named) if out_path is None else Path(out_path)
    if out.is_dir():
        out = default_out_path(named, out)
    if input_path is not None and out.exists() and out.resolve() == input_path.resolve():
        raise ConfigError(f"--out {out} is the input file; scoring would overwrite it. Choose "
                          "another output file.")
    return out


class StagedFile:
    """A CSV written into the output's side folder, put in place by one rename at the end."""

    def __init__(self, target: Path, lock: OutputLock) -> None:
        self.target = target
        self.lock = lock
        self.writer: TableWriter | None = None

    def write(self, table: pa.Table) -> None:
        self._writer().write(table)

    def write_body(self, body: pa.Buffer, rows: int, schema: pa.Schema) -> None:
        """Append CSV lines already formatted (:meth:`TableWriter.write_body`)."""
        self._writer().write_body(body, rows, schema)

    def _writer(self) -> TableWriter:
        if self.writer is None:
            self.writer = TableWriter(self.lock.side / f"new-{self.target.name}.tmp")  # CSV
        return self.writer

    def commit(self) -> Path:
        self.writer.close()
        try:
            publish(self.writer.path, self.target, self.lock.side / f"old-{self.target.name}")
        except OSError as exc:
            raise write_failure(exc, self.target) from exc
        self.writer = None
        return self.target

    def discard(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(OSError):
                self.writer.close()
            self.writer = None


def check_out_writable(out: Path) -> None:
    """Raise :class:`OutputError` unless ``out`` can be written (before any row is scored)."""
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"Cannot write {out}: {parent} is a file. Choose another --out.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {out}: permission denied in {parent}. Choose another --out.")
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(f"Cannot write {out}: permission denied. Choose another --out.")
