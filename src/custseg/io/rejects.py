"""The rejects: one row per input record that was not segmented, with its reason.

:class:`RejectStore` keeps them for a run: every rejected record is spilled to an Arrow stream
on disk (``rejected_rows.csv`` is written from it), the counts per reason are exact, and the first
:data:`REJECTS_KEPT` stay in memory for the run's result and its messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from custseg.io.csvsafe import any_structural, text_flags

#: Columns of ``rejected_rows.csv`` and their pandas dtypes.
REJECT_COLUMNS: dict[str, str] = {
    "row": "int64",
    "customer_id": "object",
    "column": "object",
    "value": "object",
    "reason": "object",
}
#: The same columns as an Arrow schema (how rejects travel and are spilled).
REJECT_SCHEMA = pa.schema([("row", pa.int64()), ("customer_id", pa.string()),
                           ("column", pa.string()), ("value", pa.string()),
                           ("reason", pa.string())])
#: Rejected rows kept in memory (all of them are on disk and in ``rejected_rows.csv``).
REJECTS_KEPT = 100_000


class Reason:
    """Reason texts written to ``rejected_rows.csv`` (one per rejected row)."""

    MISSING = "missing value"
    NON_NUMERIC = "non-numeric text"
    INFINITY = "infinity"
    TOO_LARGE = "too large to segment (beyond ±1e30)"
    NEGATIVE = "negative value"
    BELOW_MIN = "below {low:g}"
    OUT_OF_RANGE = "outside {low:g}..{high:g}"
    DUPLICATE_ID = "duplicate customer id (first seen in row {first})"
    FIELD_COUNT = "wrong number of fields: expected {expected}, found {actual}"


def empty_rejects() -> pd.DataFrame:
    """An empty rejects table with the right columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in REJECT_COLUMNS.items()})


def as_frame(table: pa.Table) -> pd.DataFrame:
    """Rejects as a pandas data frame with :data:`REJECT_COLUMNS`' dtypes."""
    if table.num_rows == 0:
        return empty_rejects()
    return table.to_pandas().astype(REJECT_COLUMNS)


def parse_rejects(records: list) -> pa.Table:
    """Records the CSV parser could not split (Arrow's ``InvalidRow``) in the rejects layout.

    Records without a row number (threaded parsing) get row 0.
    """
    return pa.table({
        "row": pa.array([r.number if r.number is not None else 0 for r in records], pa.int64()),
        "customer_id": pa.nulls(len(records), pa.string()),
        "column": pa.nulls(len(records), pa.string()),
        "value": pa.array([r.text for r in records], pa.string()),
        "reason": pa.array([Reason.FIELD_COUNT.format(expected=r.expected_columns,
                                                      actual=r.actual_columns) for r in records],
                           pa.string()),
    }, schema=REJECT_SCHEMA)


#: A chunk without rejects shares this empty table (readers of a chunk never modify it).
NO_REJECTS = REJECT_SCHEMA.empty_table()


class RejectStore:
    """Every rejected record of a run, in row order: counted, spilled, the first kept in memory.

    Parameters
    ----------
    path : pathlib.Path
        Arrow stream file the rejects are spilled to (in the run's work folder).
    keep : int, default :data:`REJECTS_KEPT`
        Rejected rows kept in memory (:attr:`preview`).

    Examples
    --------
    >>> import tempfile
    >>> store = RejectStore(Path(tempfile.mkdtemp()) / "rejects.arrows")
    >>> store.add(pa.table({"row": [3], "customer_id": ["7"], "column": ["Age"], "value": ["x"],
    ...                     "reason": [Reason.NON_NUMERIC]}, schema=REJECT_SCHEMA))
    >>> store.close()
    >>> store.count, dict(store.reasons), store.preview["row"].tolist()
    (1, {'non-numeric text': 1}, [3])
    """

    def __init__(self, path: Path, keep: int = REJECTS_KEPT) -> None:
        self.path = path
        self.keep = keep
        self.count = 0
        self.reasons: Counter = Counter()
        #: Whether some rejected cell needs quotes in a CSV (a comma, a quote, a line break).
        self.structural = False
        self._kept: list[pa.Table] = []
        self._kept_rows = 0
        self._writer: ipc.RecordBatchStreamWriter | None = None

    def add(self, table: pa.Table) -> None:
        """Add rejected records (layout :data:`REJECT_SCHEMA`, after every earlier one)."""
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._writer = ipc.new_stream(str(self.path), REJECT_SCHEMA)
        self._writer.write_table(table)
        self.count += table.num_rows
        self.reasons.update(table.column("reason").to_pylist())
        if self._kept_rows < self.keep:
            part = table.slice(0, self.keep - self._kept_rows)
            self._kept.append(part)
            self._kept_rows += part.num_rows
        if not self.structural and text_flags(table)[1]:
            self.structural = any_structural(table)

    def close(self) -> None:
        """Finish the spill file (no more :meth:`add`)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @property
    def first(self) -> dict | None:
        """The first rejected record, as a dict, or None."""
        return self._kept[0].slice(0, 1).to_pylist()[0] if self._kept else None

    @property
    def preview(self) -> pd.DataFrame:
        """The first :attr:`keep` rejected records (all of them when there are no more)."""
        if not self._kept:
            return empty_rejects()
        return as_frame(pa.concat_tables(self._kept))

    def batches(self) -> Iterator[pa.Table]:
        """Every rejected record, read back from the spill file in order."""
        self.close()
        if self.count == 0:
            return
        with ipc.open_stream(str(self.path)) as reader:
            for batch in reader:
                yield pa.Table.from_batches([batch], schema=REJECT_SCHEMA)
