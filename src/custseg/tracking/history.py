"""Run history: one JSON line per run, so ``custseg history`` can list what was done and when.

Where
-----
The history file ``.custseg-history.jsonl`` (:data:`HISTORY_FILE`) lives in the *parent* of a run's
output folder (:func:`history_dir_for`): monthly runs written to ``runs/2024-01`` and
``runs/2024-02`` share ``runs/.custseg-history.jsonl``, and each record names its run folder
relative to that parent. It is not inside the run folder because a run's outputs must stay
byte-identical for the same input and seed: the date of a run lives only here.

Format
------
UTF-8 JSON Lines, one object per line, keys sorted (:func:`run_record` builds one)::

    {"date": "2024-02-01T09:30:00Z", "format_version": 1, "input": {"name": ..., "sha256": ...},
     "k": 5, "model": "model.json", "rows": {"clustered": 200, "input": 200, "rejected": 0},
     "run": "2024-02", "segments": [{"id": 0, "name": "...", "size": 81}, ...]}

Records are only ever appended (one ``write`` of a whole line, then ``fsync``). A run killed while
recording can leave an incomplete line; readers skip it and say so (:func:`read_history`), and the
next record starts on a line of its own.

The history file is data, never a command: it is opened without following a symbolic link
(``O_NOFOLLOW``) and only when it is a regular file (a FIFO is refused, not waited on), and a
line of valid JSON of the wrong shape (a list, a number, a field of the wrong type) is skipped
with a note like an incomplete one (:func:`shape_problem`).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from custseg.exceptions import ConfigError, InputFileError, OutputError

HISTORY_FILE = ".custseg-history.jsonl"
HISTORY_FORMAT_VERSION = 1
TABLE_COLUMNS = ("run", "date", "input", "sha256", "rows", "clustered", "rejected", "k", "segments", "model")


def history_dir_for(out: str | os.PathLike[str]) -> Path:
    """The folder holding the history of runs written to ``out``: its parent.

    Examples
    --------
    >>> history_dir_for("runs/2024-02") == Path("runs").absolute()
    True
    """
    return Path(out).absolute().parent


def history_path(history_dir: str | os.PathLike[str]) -> Path:
    """The history file of ``history_dir`` (``history_dir`` itself if it names the file)."""
    path = Path(history_dir)
    return path if path.name == HISTORY_FILE else path / HISTORY_FILE


def utc_now() -> str:
    """The current time, ISO 8601 in UTC to the second (``2024-02-01T09:30:00Z``)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_record(out: str | os.PathLike[str], *, input_name: str, input_sha256: str | None, rows_input: int,
               rows_clustered: int, rows_rejected: int, segment_ids: Sequence[int],
               segment_names: Sequence[str], segment_sizes: Sequence[int], model: str | None = None,
               date: str | None = None, **extra: object) -> dict:
    """One history record of a run written to ``out``.

    Parameters
    ----------
    out : path
        The run's output folder; recorded relative to :func:`history_dir_for` (its name).
    input_name, input_sha256 : str
        The input's file name and SHA-256 fingerprint.
    rows_input, rows_clustered, rows_rejected : int
        Row counts of the run.
    segment_ids, segment_names, segment_sizes : sequence
        Stable id, name and customers of each segment, in segment order.
    model : str, optional
        The model file, relative to the run folder.
    date : str, optional
        ISO 8601 UTC time of the run; default now.
    **extra
        More JSON-serialisable fields (``previous`` run compared with, seed, ...).

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        If the segment lists differ in length.

    Examples
    --------
    >>> r = run_record("runs/2024-02", input_name="feb.csv", input_sha256="ab12", rows_input=3,
    ...                rows_clustered=3, rows_rejected=0, segment_ids=[0, 1], segment_names=["A", "B"],
    ...                segment_sizes=[2, 1], date="2024-02-01T09:30:00Z")
    >>> r["run"], r["k"], r["segments"][1]
    ('2024-02', 2, {'id': 1, 'name': 'B', 'size': 1})
    """
    if not len(segment_ids) == len(segment_names) == len(segment_sizes):
        raise ConfigError(f"History record needs one id, name and size per segment, got {len(segment_ids)} "
                          f"ids, {len(segment_names)} names and {len(segment_sizes)} sizes.")
    record = {
        "format_version": HISTORY_FORMAT_VERSION,
        "run": Path(out).absolute().name,
        "date": date or utc_now(),
        "input": {"name": str(input_name), "sha256": input_sha256},
        "rows": {"input": int(rows_input), "clustered": int(rows_clustered), "rejected": int(rows_rejected)},
        "k": len(segment_ids),
        "segments": [{"id": int(i), "name": str(n), "size": int(s)}
                     for i, n, s in zip(segment_ids, segment_names, segment_sizes, strict=True)],
        "model": None if model is None else str(model),
    }
    record.update(extra)
    return record


def record_run(history_dir: str | os.PathLike[str], record: Mapping[str, object]) -> Path:
    """Append ``record`` as one line to the history file of ``history_dir``.

    The line is written with a single ``write`` on a file opened for appending, then flushed to
    disk (``fsync``); if the file ends with an incomplete line (a run killed while recording), the
    record starts on a new line. A ``date`` (now, UTC) is added when the record has none.

    Parameters
    ----------
    history_dir : path
        Folder of the history file (created if missing), usually :func:`history_dir_for` ``(out)``.
    record : mapping
        JSON-serialisable record (:func:`run_record`).

    Returns
    -------
    pathlib.Path
        The history file.

    Raises
    ------
    ConfigError
        If ``record`` cannot be written as JSON.
    OutputError
        If the history file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = record_run(folder, {"run": "2024-01", "date": "2024-01-31T08:00:00Z"})
    >>> path.read_text(encoding="utf-8")
    '{"date": "2024-01-31T08:00:00Z", "run": "2024-01"}\\n'
    """
    record = dict(record)
    record.setdefault("date", utc_now())
    try:
        line = json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Cannot record the run in the history: {exc}.") from exc
    path = history_path(history_dir)
    data = line.encode("utf-8") + b"\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0))
        try:
            size = os.fstat(fd).st_size
            if size and not _ends_with_newline(path, size):
                data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except NotRegularFile as exc:
        raise OutputError(f"Cannot record the run in {path}: {exc}. Remove it, and let custseg "
                          "create the history file.") from None
    except OSError as exc:
        raise OutputError(f"Cannot record the run in {path}: {exc.strerror or exc}. "
                          "Check the folder's permissions.") from exc
    return path


class NotRegularFile(OSError):
    """The history path is a symbolic link, a FIFO, a device or a folder."""


def open_regular(path: Path, flags: int) -> int:
    """``os.open`` of a regular file only: symbolic links are not followed (``O_NOFOLLOW``) and a
    FIFO is opened without waiting for a writer (``O_NONBLOCK``), then refused.

    Raises
    ------
    NotRegularFile
        ``path`` is a symbolic link or not a regular file.
    OSError
        It cannot be opened (``FileNotFoundError`` when it does not exist).
    """
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR) or (exc.errno == errno.ENXIO and path.is_fifo()):
            raise NotRegularFile(_kind(path)) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegularFile(_kind(path))
    return fd


def _kind(path: Path) -> str:
    if path.is_symlink():
        return "it is a symbolic link, which custseg does not follow"
    if path.is_fifo():
        return "it is a FIFO (named pipe), not a regular file"
    if path.is_dir():
        return "it is a folder, not a regular file"
    return "it is not a regular file (a device or socket)"


def _ends_with_newline(path: Path, size: int) -> bool:
    with path.open("rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


def read_history(history_dir: str | os.PathLike[str], *, notes: list[str] | None = None) -> list[dict]:
    """Every run recorded in the history of ``history_dir``, oldest first.

    Parameters
    ----------
    history_dir : path
        Folder of the history file, or the file itself.
    notes : list of str, optional
        Receives one sentence per line skipped: a line that is not a complete JSON object (a run
        killed while recording) is skipped instead of failing the whole history.

    Returns
    -------
    list of dict
        Empty when there is no history file.

    Raises
    ------
    InputFileError
        If the history file exists but cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / HISTORY_FILE).write_text('{"run": "a"}\\n{"run": "b", "da', encoding="utf-8")
    >>> notes = []
    >>> read_history(folder, notes=notes), len(notes)
    ([{'run': 'a'}], 1)
    """
    path = history_path(history_dir)
    try:
        with os.fdopen(open_regular(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)), "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return []
    except NotRegularFile as exc:
        raise InputFileError(f"Cannot read the run history {path}: {exc}.") from None
    except OSError as exc:
        raise InputFileError(f"Cannot read the run history {path}: {exc.strerror or exc}.") from exc
    records: list[dict] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            record = _JUNK
        if isinstance(record, dict):
            problem = shape_problem(record)
        elif record is not _JUNK:
            problem = f"a JSON {type(record).__name__}, not an object"
        else:
            problem = None
        if isinstance(record, dict) and problem is None:
            records.append(record)
        elif notes is not None and problem is not None:
            notes.append(f"Skipped line {number} of {path}: not a run record ({problem}).")
        elif notes is not None:
            notes.append(f"Skipped line {number} of {path}: not a complete run record "
                         "(a run was probably interrupted while recording it).")
    return records


#: A line that is not JSON at all.
_JUNK = object()
#: Types of a record's fields (when present); ``None`` is allowed where listed.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "run": (str,), "date": (str, type(None)), "k": (int,), "format_version": (int,),
    "model": (str, type(None)), "previous": (str, type(None)), "seed": (int, type(None)),
    "rows": (dict,), "input": (dict,), "segments": (list,),
}


def shape_problem(record: Mapping[str, object]) -> str | None:
    """What is wrong with the shape of a history record (valid JSON), or None.

    Examples
    --------
    >>> shape_problem({"run": "2024-01", "k": 2}), shape_problem({"run": "a", "k": "two"})
    (None, "'k' is str, not a whole number")
    """
    for key, kinds in _FIELD_TYPES.items():
        if key not in record:
            continue
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            what = "a whole number" if int in kinds else kinds[0].__name__
            return f"{key!r} is {type(value).__name__}, not {what}"
        if isinstance(value, int) and not _whole(value):
            return f"{key!r} is not a count (a whole number from 0 to 2**63 - 1)"
    rows, source = record.get("rows", {}), record.get("input", {})
    if not all(_whole(v) for v in rows.values()):
        return "a row count in 'rows' is not a whole number"
    if not all(isinstance(source.get(k), str | None) for k in ("name", "sha256")):
        return "'input' name or sha256 is not text"
    for segment in record.get("segments", []):
        if not isinstance(segment, dict) or not _whole(segment.get("id")) \
                or not isinstance(segment.get("name"), str) or not _whole(segment.get("size")):
            return "a segment is not {id, name, size}"
    return None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _get(record: Mapping[str, object], *keys: str) -> object:
    value: object = record
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _segments_text(segments: object) -> str | None:
    if not isinstance(segments, list):
        return None
    parts = [" ".join(str(part) for part in (s.get("id"), s.get("name"), f"({s.get('size')})")
                      if part not in (None, ""))
             for s in segments if isinstance(s, Mapping)]
    return "; ".join(parts)


def history_table(records: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """The runs as a table to print, one row per record, in recorded order.

    Columns: ``run``, ``date``, ``input`` (file name), ``sha256`` (first 12 hex digits),
    ``rows``, ``clustered``, ``rejected``, ``k``, ``segments`` (``id name (size)`` joined by
    ``; ``) and ``model``. Missing fields are empty (records of older versions still list).

    Examples
    --------
    >>> t = history_table([{"run": "2024-01", "k": 2, "segments": [{"id": 0, "name": "A", "size": 5},
    ...                                                               {"id": 1, "name": "B", "size": 3}]}])
    >>> t.loc[0, "segments"], int(t.loc[0, "k"])
    ('0 A (5); 1 B (3)', 2)
    """
    sha = [_get(r, "input", "sha256") for r in records]
    frame = pd.DataFrame({
        "run": [_get(r, "run") for r in records],
        "date": [_get(r, "date") for r in records],
        "input": [_get(r, "input", "name") for r in records],
        "sha256": [s[:12] if isinstance(s, str) else None for s in sha],
        "rows": pd.array([_get(r, "rows", "input") for r in records], dtype="Int64"),
        "clustered": pd.array([_get(r, "rows", "clustered") for r in records], dtype="Int64"),
        "rejected": pd.array([_get(r, "rows", "rejected") for r in records], dtype="Int64"),
        "k": pd.array([_get(r, "k") for r in records], dtype="Int64"),
        "segments": [_segments_text(_get(r, "segments")) for r in records],
        "model": [_get(r, "model") for r in records],
    }, columns=list(TABLE_COLUMNS))
    for column in ("run", "date", "input", "sha256", "segments", "model"):
        frame[column] = frame[column].astype("str")
    return frame
