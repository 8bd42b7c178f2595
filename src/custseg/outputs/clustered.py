"""The clustered customers and the per-segment lists, written during the assignment pass.

:class:`ClusteredWriter` observes the pass: every batch of valid rows (every input column, cells
as read) gets ``Cluster`` (the segment's stable id) and ``Segment`` (its name, a dictionary
column: K names, not one per row), and is appended to ``<input stem>_clustered.<format>`` and,
row by row, to its segment's ``segments/<segment-slug>.<format>``. CSV is spreadsheet-safe and
written in one quoting style for the whole file (decided by the scan), so the bytes do not
depend on how the rows were batched. When no cell needs quotes, each row's line is built once
(:func:`custseg.io.csvlines.plain_lines`: the input's cells and the segment's columns joined by one
Arrow kernel) and the segments' lists are those lines regrouped: the same bytes as writing the
table with Arrow's CSV writer, for a fraction of the work. Batches of at least
:data:`custseg.optional.COMPILED_MIN_ROWS` rows are formatted by compiled code when Numba is there
(:class:`custseg.io.compiledlines.LineFormatter`: each line written to the file's body and to
its segment's list in one pass), smaller ones by Arrow's kernels: the same bytes either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN
from custseg.describe.naming import SegmentInfo
from custseg.engines.base import AssignedBatch
from custseg.engines.scan import Scan
from custseg.io.csvlines import joinable, line_tails, lines_body, lines_by_code, plain_lines
from custseg.io.csvsafe import (
    TableWriter,
    any_structural,
    neutralise_formulas,
    plain_header,
    safe_for_spreadsheets,
)
from custseg.optional import COMPILED_MIN_ROWS, compiled_code_allowed
from custseg.runfolder import SEGMENTS_DIR
from custseg.segmentation.outliers import OutlierRule

#: Column of the clustered file flagging outliers (when the run's sample holds any).
OUTLIER_COLUMN = "outlier"
#: Rows formatted at a time as plain lines.
LINE_ROWS = 1 << 17


def clustered_plain(scanned: Scan, segments: Sequence[SegmentInfo]) -> bool:
    """Whether no cell of the clustered file needs quotes (no valid cell, no name, no header)."""
    names = pa.table({"name": [s.name for s in segments]})
    header = [*scanned.columns, CLUSTER_COLUMN, SEGMENT_COLUMN]
    return not scanned.text_needs_quotes and not any_structural(names) and plain_header(header)


class ClusteredWriter:
    """Writes the clustered file and one file per segment (see the module notes).

    Parameters
    ----------
    folder : pathlib.Path
        The (staging) output folder.
    file_name : str
        ``<input stem>_clustered.csv`` or ``.parquet`` (the suffix chooses the format).
    segments : sequence of SegmentInfo
        The segments by position: stable id (``cluster``), name and file name (``slug``).
    plain : bool
        Whether no cell needs quotes (:func:`clustered_plain`).
    outliers : (OutlierRule, callable) or None, default None
        With a rule and the scaler's ``transform``: an ``outlier`` column (1 or 0) after
        ``Segment`` (:mod:`custseg.segmentation.outliers`).
    formulas : bool, default True
        Whether some input cell may start like a formula (``Scan.text_formulas``); False: only
        the segment names are made spreadsheet-safe, once.
    """

    def __init__(self, folder: Path, file_name: str, segments: Sequence[SegmentInfo],
                 plain: bool, outliers: tuple[OutlierRule, Callable] | None = None,
                 formulas: bool = True) -> None:
        suffix = Path(file_name).suffix
        self.paths = {"clustered": folder / file_name}
        self.paths.update({f"segment:{s.slug}": folder / SEGMENTS_DIR / f"{s.slug}{suffix}"
                           for s in segments})
        self.writers = [TableWriter(path, plain=plain) for path in self.paths.values()]
        self.csv = suffix != ".parquet"
        self.ids = np.array([s.cluster for s in segments], dtype=np.int64)
        self.names = pa.array([s.name for s in segments], pa.string())
        self.k = len(segments)
        self.plain = plain
        self.outliers = outliers
        self.formulas = formulas
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="custseg-segment-lists")
        self._segments_done: Future | None = None
        self._formatter = None  # a LineFormatter, made on the first large batch
        if self.csv and not formulas:
            self.names = neutralise_formulas(pa.table({"n": self.names})).column("n").combine_chunks()
        # The segment's columns as the end of a plain CSV line, per label (and outlier flag):
        # names made safe here once, as the table path makes them safe batch by batch.
        safe = neutralise_formulas(pa.table({"n": self.names})).column("n").to_pylist()
        flags = ("0", "1") if outliers is not None else ("",)
        self.tails = line_tails([[str(int(self.ids[j])), safe[j], *([f] if f else [])]
                                 for j in range(self.k) for f in flags])

    #: An engine writing natively writes :attr:`paths` itself (:mod:`custseg.engines.base`).
    native = "clustered_files"

    def observe(self, batch: AssignedBatch) -> None:
        """Append one batch to the clustered file and each row to its segment's file."""
        labels = batch.labels
        flags = None
        if self.outliers is not None:
            rule, transform = self.outliers
            flags = rule.flag(transform(batch.values)).astype(np.int8)
        if self.csv and self.plain and self._observe_lines(batch.table, labels, flags):
            return
        table = (batch.table.append_column(CLUSTER_COLUMN, pa.array(self.ids[labels]))
                 .append_column(SEGMENT_COLUMN, pa.DictionaryArray.from_arrays(
                     pa.array(labels.astype(np.int32)), self.names)))
        if flags is not None:
            table = table.append_column(OUTLIER_COLUMN, pa.array(flags))
        if self.csv and self.formulas:  # formulas made safe once, for the file and every list
            table = safe_for_spreadsheets(table)
        self.writers[0].write(table, neutralised=True)
        # The per-segment lists (a take and K more files) are written by a helper thread while
        # the caller goes on (Arrow releases the GIL); each file is still written in row order.
        self._wait()
        self._segments_done = self._pool.submit(self._write_segments, table, labels)

    def _observe_lines(self, table: pa.Table, labels: np.ndarray, flags: np.ndarray | None
                       ) -> bool:
        """Write the batch as plain lines (see the module notes); False: not possible here."""
        cells = safe_for_spreadsheets(table) if self.formulas else table
        if not joinable(cells, self.tails):
            return False
        codes = labels if flags is None else labels * 2 + flags
        extra = [CLUSTER_COLUMN, SEGMENT_COLUMN, *([OUTLIER_COLUMN] if flags is not None else [])]
        schema = pa.schema([(name, pa.string()) for name in [*table.column_names, *extra]])
        # In slices of LINE_ROWS rows: the lines in flight (being written here, regrouped for
        # the segments' files there) stay a few MB.
        compiled = len(labels) >= COMPILED_MIN_ROWS and compiled_code_allowed()
        if compiled and self._formatter is None:
            from custseg.io.compiledlines import LineFormatter

            self._formatter = LineFormatter(self.tails, self.k)
        for start in range(0, max(len(labels), 1), LINE_ROWS):
            end = min(len(labels), start + LINE_ROWS)
            part, part_labels = cells.slice(start, end - start), labels[start:end]
            if compiled:
                # The formatter's buffers are used in turn: this batch's lines stay valid while
                # the previous batch's groups are written (waited for below).
                body, groups = self._formatter.format(part, codes[start:end], part_labels)
                self.writers[0].write_body(pa.py_buffer(body), len(part_labels), schema)
                self._wait()
                self._segments_done = self._pool.submit(
                    self._write_groups, groups, np.bincount(part_labels, minlength=self.k), schema)
                continue
            lines = plain_lines(part, self.tails, codes[start:end])
            self.writers[0].write_body(lines_body(lines), len(lines), schema)
            self._wait()
            self._segments_done = self._pool.submit(self._write_segment_lines, lines,
                                                    part_labels, schema)
        return True

    def _write_groups(self, groups: list[np.ndarray], counts: np.ndarray, schema: pa.Schema
                      ) -> None:
        for j in range(self.k):
            if counts[j]:
                self.writers[1 + j].write_body(pa.py_buffer(groups[j]), int(counts[j]), schema)

    def _write_segment_lines(self, lines: pa.Array, labels: np.ndarray, schema: pa.Schema) -> None:
        grouped, bounds = lines_by_code(lines, labels, self.k)
        for j in range(self.k):
            if bounds[j + 1] > bounds[j]:
                self.writers[1 + j].write_body(lines_body(grouped, bounds[j], bounds[j + 1]),
                                               int(bounds[j + 1] - bounds[j]), schema)

    def _write_segments(self, table: pa.Table, labels: np.ndarray) -> None:
        order = np.argsort(labels, kind="stable")
        by_segment = table.take(pa.array(order)) if self.k > 1 else table
        bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=self.k))])
        for j in range(self.k):
            if bounds[j + 1] > bounds[j]:
                self.writers[1 + j].write(by_segment.slice(bounds[j], bounds[j + 1] - bounds[j]),
                                          neutralised=True)

    def _wait(self) -> None:
        if self._segments_done is not None:
            done, self._segments_done = self._segments_done, None
            done.result()

    def close(self) -> dict[str, Path]:
        """Finish the files; return them by name (``clustered``, ``segment:<slug>``)."""
        try:
            self._wait()
        finally:
            self._pool.shutdown()
        for writer in self.writers:
            writer.close()
        return {name: path for name, path in self.paths.items() if path.exists()}
