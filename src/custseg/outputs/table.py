"""``--output-table``: one row per customer in a table of the engine's catalog (Spark).

Columns: the customer id (``customer_id``, text; the row number when the input has no id
column), ``Cluster``, ``Segment``, ``run_id`` (the run folder's name, e.g. ``2026-03``) and
``run_date`` (the day the run was made, UTC). With ``--if-exists append`` every monthly run goes
into one table, so "who was in which segment in March" is a query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from custseg.describe.naming import SegmentInfo
from custseg.engines.base import AssignedBatch
from custseg.exceptions import ConfigError


class CatalogTable:
    """The assignment pass's writer of ``--output-table`` (an engine with a catalog writes it).

    Attributes
    ----------
    name : str
        The table (``database.table``).
    if_exists : {"fail", "replace", "append"}
        What to do when it exists.
    run_id : str
        The run folder's name.
    run_date : datetime.date
        The day of the run (UTC).
    id_column : str or None
        The input's id column.
    ids : list of int
        Stable id of each segment position; ``names``: their names.
    """

    native = "catalog_table"

    def __init__(self, name: str, if_exists: str, run_id: str, id_column: str | None,
                 segments: Sequence[SegmentInfo], run_date: dt.date | None = None) -> None:
        self.name, self.if_exists, self.run_id, self.id_column = name, if_exists, run_id, id_column
        self.run_date = run_date or dt.datetime.now(dt.UTC).date()
        self.ids = [int(s.cluster) for s in segments]
        self.names = [s.name for s in segments]

    def observe(self, batch: AssignedBatch) -> None:  # pragma: no cover - config refuses it
        raise ConfigError("--output-table needs an engine with a table catalog (--engine spark).")
