"""``--output-table NAME`` on the local engines: segments and scores written to a database.

The database is ``--output-db URL`` when given, else the input's (a database URL as INPUT).
:class:`SpilledTables` is the writing, shared by ``custseg run`` (:class:`DatabaseTable`) and
``custseg predict`` (:class:`ScoredTable`): rows spilled to an Arrow file while they come, then
every table written in one transaction and committed (all or nothing).

``custseg run`` writes:

Two tables, written in one transaction when the run has succeeded (all or nothing: a failed
run, or a failed write, leaves both as they were):

``NAME``
    One row per segmented customer, in input order, the columns of the Spark engine's catalog
    table (:mod:`custseg.outputs.table`): ``customer_id`` (text; the row number when the input
    has no id column), ``Cluster``, ``Segment``, ``run_id`` (the run folder's name) and
    ``run_date`` (the day of the run, UTC).
``NAME_segments``
    One row per segment: ``run_id``, ``run_date``, ``id`` (the ``Cluster`` value), ``name``,
    ``action``, ``centroid`` (JSON: feature -> value in original units) and ``size``.

``custseg predict`` writes ``NAME``: one row per scored customer, in input order, the columns of
its file (``customer_id`` as text, ``Cluster``, ``Segment``, ``distance``, ``atypical``) and
``scored_date`` (the day of the scoring, UTC).

``--if-exists fail`` (the default) stops before the work when a table exists (and checks again
inside the transaction); ``replace`` drops and re-creates them; ``append`` adds the rows (every
monthly run in one table; the existing columns must be these). The rows are spilled to an Arrow
file beside the outputs, then streamed to the database.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN, RunConfig
from custseg.dboptions import is_database_url
from custseg.exceptions import OutputError
from custseg.io.dbconnect import Database
from custseg.io.dburl import DatabaseUrl, TableName, parse_url

if TYPE_CHECKING:  # annotations only: writing a scored table needs neither at run time
    from custseg.describe.naming import SegmentInfo
    from custseg.engines.base import AssignedBatch

#: Suffix of the segment definitions' table.
SEGMENTS_SUFFIX = "_segments"
CUSTOMER_SCHEMA = pa.schema([("customer_id", pa.string()), (CLUSTER_COLUMN, pa.int32()),
                             (SEGMENT_COLUMN, pa.string()), ("run_id", pa.string()),
                             ("run_date", pa.date32())])
SEGMENT_SCHEMA = pa.schema([("run_id", pa.string()), ("run_date", pa.date32()), ("id", pa.int32()),
                            ("name", pa.string()), ("action", pa.string()),
                            ("centroid", pa.string()), ("size", pa.int64())])
SCORED_SCHEMA = pa.schema([("customer_id", pa.string()), (CLUSTER_COLUMN, pa.int32()),
                           (SEGMENT_COLUMN, pa.string()), ("distance", pa.float64()),
                           ("atypical", pa.bool_()), ("scored_date", pa.date32())])


def output_url(output_table: str | None, output_db: str | None, input: object, *,
               output_password: str | None = None, input_password: str | None = None,
               password_env: str | None = None) -> DatabaseUrl | None:
    """The database ``output_table`` goes to: ``output_db``, else the input's; None without either
    (or without ``output_table``)."""
    if output_table is None:
        return None
    if output_db is not None:
        return parse_url(str(output_db), output_password, password_env)
    if is_database_url(input):
        return parse_url(str(input), input_password, password_env)
    return None


def database_writer(config: RunConfig) -> DatabaseTable | None:
    """The writer of ``config.output_table`` when it goes to a database, else None."""
    url = output_url(config.output_table, config.output_db, config.input,
                     output_password=config.output_password, input_password=config.password,
                     password_env=config.password_env)
    if url is None:
        return None
    return DatabaseTable(url, config.output_table, config.if_exists, Path(config.out).name,
                         spill_parent=Path(config.out).absolute().parent)


def customer_ids(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Customer ids as the tables hold them: text, without surrounding blanks."""
    return pc.utf8_trim_whitespace(pc.cast(column, pa.string()))


class SpilledTables:
    """Tables written to a database in one transaction at the end (see the module notes).

    Parameters
    ----------
    url : DatabaseUrl
        The database.
    tables : sequence of (TableName, pyarrow.Schema)
        The tables; the first one's rows are spilled as they come (:meth:`spill`), the others'
        are given to :meth:`commit_tables`.
    if_exists : {"fail", "replace", "append"}
        What to do when a table exists.
    spill_parent : pathlib.Path, optional
        Where the spill folder goes (default: the system's temporary folder).
    """

    def __init__(self, url: DatabaseUrl, tables: Sequence[tuple[TableName, pa.Schema]],
                 if_exists: str, spill_parent: Path | None = None) -> None:
        self.url, self.tables, self.if_exists = url, list(tables), if_exists
        self.spill_parent = spill_parent
        self.folder: Path | None = None
        self.writer: pa.ipc.RecordBatchStreamWriter | None = None
        self.rows = 0

    def check(self) -> None:
        """Fail early when ``if_exists`` is ``fail`` and a table exists (the work would be lost)."""
        if self.if_exists == "fail":
            with Database(self.url, read_only=False) as db:
                self._refuse_existing(db)

    def _refuse_existing(self, db: Database) -> None:
        for table, _ in self.tables:
            if db.find(table) is not None:
                raise OutputError(
                    f"Table {table.text} already exists in {self.url.display}. Use --if-exists "
                    "replace to overwrite it, or --if-exists append to add these rows to it.")

    def open_spill(self) -> None:
        """Open the spill file of the first table's rows."""
        if self.spill_parent is not None:
            self.spill_parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=".custseg-table-", dir=self.spill_parent))
        self.writer = pa.ipc.new_stream(self.folder / "rows.arrows", self.tables[0][1])

    def spill(self, rows: pa.Table) -> None:
        """Add rows of the first table (its schema)."""
        self.writer.write_table(rows)
        self.rows += rows.num_rows

    def commit_tables(self, *rest: pa.Table) -> None:
        """Write the spilled rows and ``rest`` (the other tables' rows) in one transaction."""
        self.writer.close()
        self.writer = None
        with (Database(self.url, read_only=False) as db,
              pa.OSFile(str(self.folder / "rows.arrows")) as spill):
            if self.if_exists == "fail":
                self._refuse_existing(db)
            for (table, schema), data in zip(self.tables, (pa.ipc.open_stream(spill), *rest),
                                             strict=True):
                self._write(db, table, schema, data)
            db.commit()

    def _write(self, db: Database, table: TableName, schema: pa.Schema, data: object) -> None:
        existing = db.find(table)
        if existing is not None and self.if_exists == "replace":
            db.execute(f"DROP TABLE {table.sql}")
            existing = None
        if existing is not None:
            have = db.stream(f"SELECT * FROM {table.sql} LIMIT 0").schema.names
            if list(have) != schema.names:
                raise OutputError(
                    f"Table {table.text} in {self.url.display} has the columns {', '.join(have)}, "
                    f"not {', '.join(schema.names)}: custseg cannot append to it. Use --if-exists "
                    "replace, or another --output-table.")
        db.ingest(table, data, create=existing is None)

    def close(self) -> None:
        """Remove the spill (after a commit, or a failure)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class DatabaseTable(SpilledTables):
    """Observer of the assignment pass that writes ``custseg run``'s ``--output-table``.

    Parameters
    ----------
    url : DatabaseUrl
        The database.
    name : str
        ``NAME`` or ``SCHEMA.NAME``.
    if_exists : {"fail", "replace", "append"}
        What to do when a table exists.
    run_id : str
        The run folder's name.
    spill_parent : pathlib.Path, optional
        Where the spill folder goes (default: the system's temporary folder).
    run_date : datetime.date, optional
        Default: today (UTC).
    """

    def __init__(self, url: DatabaseUrl, name: str, if_exists: str, run_id: str, *,
                 spill_parent: Path | None = None, run_date: dt.date | None = None) -> None:
        self.table = TableName.parse(name)
        self.segments_table = self.table.with_suffix(SEGMENTS_SUFFIX)
        super().__init__(url, [(self.table, CUSTOMER_SCHEMA),
                               (self.segments_table, SEGMENT_SCHEMA)], if_exists, spill_parent)
        self.run_id = run_id
        self.run_date = run_date or dt.datetime.now(dt.UTC).date()

    def start(self, id_column: str | None, segments: Sequence[SegmentInfo]) -> None:
        """Open the spill file; ``segments`` in the order of the assignment's labels."""
        self.id_column = id_column
        self.ids = np.array([int(s.cluster) for s in segments], dtype=np.int32)
        self.names = pa.array([s.name for s in segments], pa.string())
        self.open_spill()

    def observe(self, batch: AssignedBatch) -> None:
        """Spill the batch's customer ids with their segment."""
        n = len(batch)
        if self.id_column is not None and batch.table is not None:
            ids = customer_ids(batch.table.column(self.id_column))
        else:
            ids = pa.array(batch.rows.astype(str))
        self.spill(pa.table([ids, pa.array(self.ids[batch.labels]),
                             self.names.take(pa.array(batch.labels)),
                             pa.array([self.run_id] * n, pa.string()),
                             pa.array([self.run_date] * n, pa.date32())], schema=CUSTOMER_SCHEMA))

    def segment_rows(self, result: object) -> pa.Table:
        """The ``NAME_segments`` rows of a finished run."""
        features = list(result.features)
        centroids = result.segmenter.cluster_centers_original_
        centroid = [json.dumps(dict(zip(features, map(float, c), strict=True)), ensure_ascii=False)
                    for c in centroids]
        k = len(result.segments)
        return pa.table([[self.run_id] * k, pa.array([self.run_date] * k, pa.date32()),
                         pa.array([int(s.cluster) for s in result.segments], pa.int32()),
                         [s.name for s in result.segments], [s.action for s in result.segments],
                         centroid, pa.array(np.asarray(result.sizes, dtype=np.int64))],
                        schema=SEGMENT_SCHEMA)

    def commit(self, result: object) -> None:
        """Write both tables in one transaction and commit it."""
        self.commit_tables(self.segment_rows(result))


class ScoredTable(SpilledTables):
    """``custseg predict``'s ``--output-table``: the scored rows (:data:`SCORED_SCHEMA`).

    Parameters
    ----------
    url : DatabaseUrl
        The database.
    name : str
        ``NAME`` or ``SCHEMA.NAME``.
    if_exists : {"fail", "replace", "append"}
        What to do when the table exists.
    spill_parent : pathlib.Path, optional
        Where the spill folder goes.
    scored_date : datetime.date, optional
        Default: today (UTC).
    """

    def __init__(self, url: DatabaseUrl, name: str, if_exists: str, *,
                 spill_parent: Path | None = None, scored_date: dt.date | None = None) -> None:
        self.table = TableName.parse(name)
        super().__init__(url, [(self.table, SCORED_SCHEMA)], if_exists, spill_parent)
        self.scored_date = scored_date or dt.datetime.now(dt.UTC).date()

    def write(self, scored: pa.Table) -> None:
        """Spill a chunk of the scored file's rows (id, Cluster, Segment, distance, atypical)."""
        n = scored.num_rows
        self.spill(pa.table([customer_ids(scored.column(0)), *scored.columns[1:5],
                             pa.array([self.scored_date] * n, pa.date32())], schema=SCORED_SCHEMA))

    def commit(self) -> None:
        """Write the table in one transaction and commit it."""
        self.commit_tables()
