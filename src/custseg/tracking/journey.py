"""Customer journeys: a customer's segment in every run of the monthly view.

Both journeys are observers of the view's walk (:func:`custseg.tracking.timeline.build_timeline`),
which reads each run's customers file once, in batches, and hands every batch over in the view's
segment ids:

- :class:`JourneyFinder` keeps one customer's segment per run (``custseg journey ID DIR``);
- :class:`JourneyTable` keeps every customer's (``custseg journey --csv``): per customer a 64-bit
  id key, its id text (Arrow, not Python strings) and one int32 segment per run, -1 when absent.
  A run's customers are merged into the table when the run has been read, so only one run's
  batches are pending at a time; no Python object per customer is ever made.

Customers are identified as across two runs (:mod:`custseg.tracking.migration`): plain integer
ids exactly, other ids as trimmed text; row numbers when a run had no id column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from custseg.exceptions import ConfigError
from custseg.io.csvsafe import TableWriter
from custseg.tracking.migration import customer_keys, id_text
from custseg.tracking.runset import find_runs
from custseg.tracking.timeline import Timeline, build_timeline

#: Column of the customer id in the journeys file.
ID_COLUMN = "customer_id"
#: Rows written at a time.
WRITE_ROWS = 500_000


def key_of(customer_id: str) -> np.uint64:
    """The 64-bit key a customer id has in every run's customers (as :func:`customer_keys`).

    Examples
    --------
    >>> int(key_of(" 17 ")), bool(key_of("A-17") == key_of("A-17"))
    (17, True)
    """
    return customer_keys(pa.array([str(customer_id)]), np.zeros(1, dtype=np.int64))[0]


class JourneyFinder:
    """One customer's view segment id in each run (None: not in that run).

    Parameters
    ----------
    customer_id : str
        The customer's id as the runs' input files have it.
    runs : int
        Number of runs of the view.

    Examples
    --------
    >>> finder = JourneyFinder("b", 2)
    >>> finder.batch(0, pa.array(["a", "b"]), np.array([2, 3]), np.array([4, 1]))
    >>> finder.done(0, True)
    >>> finder.done(1, True)
    >>> finder.segments, finder.read
    ([1, None], [True, True])
    """

    def __init__(self, customer_id: str, runs: int) -> None:
        if not str(customer_id).strip():
            raise ConfigError("The customer id is empty: give the id as the runs' input files have it.")
        self.customer_id = str(customer_id).strip()
        self.key = key_of(self.customer_id)
        self.segments: list[int | None] = [None] * runs
        self.read = [False] * runs

    def batch(self, index: int, ids: pa.ChunkedArray | None, rows: np.ndarray, segments: np.ndarray
              ) -> None:
        """Look for the customer in a batch of run ``index``."""
        hit = np.flatnonzero(customer_keys(ids, rows) == self.key)
        if hit.size:
            self.segments[index] = int(segments[hit[0]])

    def done(self, index: int, complete: bool) -> None:
        """Run ``index`` was read (``complete``) or could not be."""
        self.read[index] = complete
        if not complete:
            self.segments[index] = None


@dataclass(frozen=True)
class Stop:
    """A customer in one run: the run, its date, the segment (None: absent or unknown), its name
    in that run, and what changed since the run before."""

    run: str
    date: str | None
    segment: int | None
    name: str | None
    change: str


def stops(view: Timeline, segments: list[int | None], read: list[bool]) -> list[Stop]:
    """A customer's journey, one stop per run, with what changed since the run before.

    ``segments``: the customer's view segment id in each run (None: absent); ``read``: whether
    each run's customers could be read.

    ``change``: ``first seen``, ``stayed``, ``moved from <name>``, ``new`` (absent from the run
    before), ``returned`` (after an absence), ``departed``, ``absent``, or ``unknown`` (the run's
    customers could not be read).
    """
    out: list[Stop] = []
    seen = False
    before: int | None = None
    for index, step in enumerate(view.steps):
        segment = segments[index]
        names = step.names
        if not read[index]:
            change = "unknown"
        elif segment is None:
            change = "departed" if before is not None else "absent"
        elif not seen:
            change = "first seen" if index == 0 else "new"
        elif before is None:
            change = "returned"
        elif before == segment:
            change = "stayed"
        else:
            change = f"moved from {view.steps[index - 1].names.get(before, f'segment {before}')}"
        out.append(Stop(step.run.name, step.run.date, segment,
                        None if segment is None else names.get(segment), change))
        seen = seen or segment is not None
        before = segment if read[index] else None
    return out


def find_journey(folder: str | Path, customer_id: str) -> tuple[Timeline, list[Stop]]:
    """A customer's segment in every run of ``folder`` (every run's customers read once).

    Raises
    ------
    ConfigError
        When the customer is in none of the runs.
    InputFileError
        When the folder holds no usable run.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import run
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = run(RunConfig(k=5, out=folder / "jan"))
    >>> view, journey = find_journey(folder, "1")
    >>> [(s.run, s.name, s.change) for s in journey]
    [('jan', 'Low income · Low spending', 'first seen')]
    """
    runset = find_runs(folder)
    finder = JourneyFinder(customer_id, len(runset.runs))
    view = build_timeline(runset, observer=finder)
    if all(s is None for s in finder.segments):
        raise ConfigError(f"Customer {finder.customer_id} is in none of the {len(view.steps)} runs in "
                          f"{folder}. Give the id as the runs' input files have it.")
    return view, stops(view, finder.segments, finder.read)


class JourneyTable:
    """Every customer's view segment id in every run, merged run by run (module notes).

    Parameters
    ----------
    runs : int
        Number of runs of the view.

    Examples
    --------
    >>> table = JourneyTable(2)
    >>> table.batch(0, pa.array(["a", "b"]), np.array([2, 3]), np.array([0, 1]))
    >>> table.done(0, True)
    >>> table.batch(1, pa.array(["c", "a"]), np.array([2, 3]), np.array([2, 1]))
    >>> table.done(1, True)
    >>> table.to_table(["jan", "feb"]).to_pylist()[2]
    {'customer_id': 'c', 'jan': None, 'feb': 2}
    """

    def __init__(self, runs: int) -> None:
        self.keys = np.empty(0, dtype=np.uint64)
        self.order = np.empty(0, dtype=np.int64)  # positions of self.keys, by key
        self.text: list[pa.Array] = []
        self.columns: list[np.ndarray | None] = [None] * runs
        self._pending: list[tuple[np.ndarray, pa.Array, np.ndarray]] = []

    def __len__(self) -> int:
        return len(self.keys)

    def batch(self, index: int, ids: pa.ChunkedArray | None, rows: np.ndarray, segments: np.ndarray
              ) -> None:
        """Keep a batch of run ``index``'s customers until the run is read."""
        text = id_text(ids, rows)
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        self._pending.append((customer_keys(ids, rows), text, np.asarray(segments, dtype=np.int32)))

    def done(self, index: int, complete: bool) -> None:
        """Merge run ``index``'s customers (when read completely; else its column stays unknown)."""
        pending, self._pending = self._pending, []
        if not complete:
            return
        if not pending:
            self.columns[index] = np.full(len(self.keys), -1, dtype=np.int32)
            return
        keys = np.concatenate([p[0] for p in pending])
        segments = np.concatenate([p[2] for p in pending])
        position = np.full(len(keys), -1, dtype=np.int64)
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys[self.order], keys), len(self.keys) - 1)
            hit = self.keys[self.order[at]] == keys
            position[hit] = self.order[at[hit]]
        fresh = np.flatnonzero(position < 0)
        if fresh.size:
            position[fresh] = len(self.keys) + np.arange(fresh.size)
            self.keys = np.concatenate([self.keys, keys[fresh]])
            text = pa.chunked_array([p[1] for p in pending], type=pa.string())
            self.text.append(text.take(pa.array(fresh)).combine_chunks())
            self.order = np.argsort(self.keys, kind="stable")
        column = np.full(len(self.keys), -1, dtype=np.int32)
        column[position] = segments
        self.columns[index] = column

    def journey_of(self, customer_id: str) -> tuple[list[int | None], list[bool]] | None:
        """One customer's view segment id per run (None: absent) and whether each run was read;
        None when the customer is in no run."""
        if not len(self.keys):
            return None
        key = key_of(customer_id)
        at = min(int(np.searchsorted(self.keys[self.order], key)), len(self.keys) - 1)
        row = int(self.order[at])
        if self.keys[row] != key:
            return None
        segments = [None if c is None or row >= len(c) or c[row] < 0 else int(c[row]) for c in self.columns]
        return segments, [c is not None for c in self.columns]

    def to_table(self, names: list[str], start: int = 0, stop: int | None = None) -> pa.Table:
        """Rows ``start:stop`` (first seen first): ``customer_id``, then one column per run
        named ``names[i]``, the view segment id or null when absent (or the run unreadable)."""
        stop = len(self.keys) if stop is None else min(stop, len(self.keys))
        ids = pa.chunked_array(self.text or [], type=pa.string())
        data = {ID_COLUMN: ids.slice(start, stop - start)}
        for name, column in zip(names, self.columns, strict=True):
            part = np.full(stop - start, -1, dtype=np.int32)
            if column is not None:
                known = column[start:stop]
                part[:len(known)] = known
            data[name] = pa.array(part, mask=part < 0)
        return pa.table(data)

    def write(self, writer: TableWriter, names: list[str], rows: int = WRITE_ROWS) -> int:
        """Write every customer's journey with ``writer``, ``rows`` at a time; the rows written."""
        if not len(self.keys):
            writer.write_header(self.to_table(names).schema)
        for start in range(0, len(self.keys), rows):
            writer.write(self.to_table(names, start, start + rows))
        return len(self.keys)


def all_journeys(folder: str | Path) -> tuple[Timeline, JourneyTable]:
    """Every customer's segment in every run of ``folder``, each run's customers read once.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import run
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = run(RunConfig(k=5, out=folder / "jan"))
    >>> view, table = all_journeys(folder)
    >>> len(table), table.to_table(view.runs).column_names
    (200, ['customer_id', 'jan'])
    """
    runset = find_runs(folder)
    table = JourneyTable(len(runset.runs))
    return build_timeline(runset, observer=table), table
