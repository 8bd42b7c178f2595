"""Write outputs safely: spreadsheet-safe CSV, and an output folder that changes all at once.

Every output of a run is written into a temporary folder beside ``--out`` and moved into place
only when the whole run has succeeded, so a failed run never leaves half-written files over a
good previous run. A small manifest records which entries of the folder a run owns, so files a
newer run no longer produces (say, ``rejected_rows.csv``) are removed, and files the user put
there are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import OutputError

MANIFEST = ".custseg-manifest.json"
#: Text cells starting with one of these are formulas to a spreadsheet (OWASP CSV injection).
_FORMULA_CHARS = pa.array(["=", "+", "-", "@", "\t", "\r"])
_STRUCTURAL = r'[",\r\n]'
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Prefix text cells a spreadsheet would run as a formula with ``'``; numbers stay as they are.

    Examples
    --------
    >>> t = pa.table({"a": ["=1+1", "-5", "@x", "ok"], "b": [-1, 2, 3, 4]})
    >>> neutralise_formulas(t).column("a").to_pylist()
    ["'=1+1", '-5', "'@x", 'ok']
    """
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            # Neutralise the (few) dictionary values, keep the codes: no per-row text.
            chunks = [pa.DictionaryArray.from_arrays(
                chunk.indices, neutralise_formulas(pa.table({"v": chunk.dictionary})).column("v")
                .combine_chunks()) for chunk in column.chunks]
            columns.append(pa.chunked_array(chunks, type=chunks[0].type) if chunks else column)
            continue
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # Cheap test first (first character), the number regex only when something starts
            # like a formula: most columns of most files have no such cell at all.
            first = pc.utf8_slice_codeunits(column, 0, 1)
            starts = pc.fill_null(pc.is_in(first, value_set=_FORMULA_CHARS), False)
            if pc.any(starts).as_py():
                risky = pc.and_(starts, pc.invert(pc.match_substring_regex(column, _PLAIN_NUMBER)))
                if pc.any(risky).as_py():
                    column = pc.if_else(risky, pc.utf8_replace_slice(column, 0, 0, "'"), column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A data frame as an Arrow table, without its index."""
    return pa.Table.from_pandas(frame, preserve_index=False)


@dataclass(frozen=True)
class CsvTable:
    """A table made ready for :func:`write_csv` once (formulas neutralised, quoting decided), so
    that subsets of it (per-segment lists) are written without scanning every cell again."""

    table: pa.Table
    plain_header: bool
    plain_cells: bool

    def subset(self, mask: pa.Array | pa.ChunkedArray) -> CsvTable:
        """The rows where ``mask`` is true (a subset needs no more quoting than the whole)."""
        return CsvTable(self.table.filter(mask), self.plain_header, self.plain_cells)


def prepare_csv(data: pa.Table | pd.DataFrame) -> CsvTable:
    """Neutralise formulas and decide quoting (plain: no name, or no cell, needs quotes)."""
    table = neutralise_formulas(to_arrow(data) if isinstance(data, pd.DataFrame) else data)
    header_plain = not any(re.search(_STRUCTURAL, name) for name in table.column_names)
    return CsvTable(table, header_plain, header_plain and not _any_structural(table))


def write_csv(data: pa.Table | pd.DataFrame | CsvTable, path: Path) -> Path:
    """Write ``data`` as UTF-8 CSV (LF, quoted only where needed), formulas neutralised."""
    import pyarrow.csv as pacsv

    prepared = data if isinstance(data, CsvTable) else prepare_csv(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Arrow's "needed" quotes every text cell; when no cell needs quotes, write none, so the
    # output reads like the input (1,Male,19,...). Otherwise quote text cells (still valid CSV).
    options = pacsv.WriteOptions(quoting_style="none" if prepared.plain_cells else "needed",
                                 quoting_header="none" if prepared.plain_header else "needed")
    pacsv.write_csv(prepared.table, path, options)
    return path


def _any_structural(table: pa.Table) -> bool:
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = pa.chunked_array([c.dictionary for c in column.chunks], column.type.value_type)
        is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if is_text and any(pc.any(pc.match_substring(column, ch)).as_py() for ch in '",\r\n'):
            return True
    return False


def write_json(data: object, path: Path) -> Path:
    """Write ``data`` as indented UTF-8 JSON with sorted keys (byte-stable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def check_writable(out: Path) -> None:
    """Fail early, before any work, if ``out`` cannot be created or written."""
    parent = _existing_parent(out)
    if not parent.is_dir():
        raise OutputError(f"Cannot create output folder {out}: {parent} is a file. "
                          "Choose a folder with --out.")
    if out.exists() and not out.is_dir():
        raise OutputError(f"Output path {out} is a file, not a folder. Choose a folder with --out.")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.is_dir() and not os.access(out, os.W_OK)):
        raise OutputError(
            f"Cannot write to output folder {out}: permission denied. Choose another with --out."
        )


def _existing_parent(out: Path) -> Path:
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


class OutputFolder:
    """A staging folder whose contents replace ``out``'s on success, and vanish on failure.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with OutputFolder(out) as staging:
    ...     _ = (staging.path / "a.txt").write_text("hello")
    >>> (out / "a.txt").read_text()
    'hello'
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = Path()

    def __enter__(self) -> OutputFolder:
        check_writable(self.out)
        try:
            self.out.absolute().parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.staging-",
                                              dir=self.out.absolute().parent))
        except OSError as exc:
            raise OutputError(f"Cannot write to output folder {self.out}: {exc.strerror}. "
                              "Choose another with --out.") from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> None:
        """Move every staged entry into ``out``, replacing the previous run's entries."""
        out = self.out
        try:
            out.mkdir(parents=True, exist_ok=True)
            previous = _read_manifest(out)
            entries = sorted(p.name for p in self.path.iterdir())
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.absolute().parent))
            try:
                for name in sorted(set(previous) - set(entries)):
                    if (out / name).exists():
                        os.replace(out / name, trash / name)
                for name in entries:
                    old, new = out / name, self.path / name
                    if old.exists() and (old.is_dir() or new.is_dir()):
                        os.replace(old, trash / name)  # os.replace swaps files, not folders
                    os.replace(new, old)
                (out / MANIFEST).write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
            finally:
                shutil.rmtree(trash, ignore_errors=True)
        except OSError as exc:
            raise OutputError(f"Cannot write outputs to {out}: {exc.strerror or exc}. "
                              "Choose another folder with --out.") from exc


def _read_manifest(out: Path) -> list[str]:
    try:
        names = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    # Only plain names inside the folder: a manifest must never make us move anything else.
    return [n for n in names if isinstance(n, str) and n and "/" not in n and n not in {".", ".."}]
