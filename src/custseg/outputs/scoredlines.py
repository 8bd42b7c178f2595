"""The scored file's rows (``custseg predict``): an Arrow table, or plain lines formatted by
compiled code.

Arrow's CSV writer formats a scored row cell by cell: about 2.5 s of CPU per 10^7 rows, which
made the writing thread the slowest part of ``predict``. When no cell needs quotes or a formula
guard, a row's line is ``id,Cluster,Segment,distance,atypical``: the id as text, one of K
segment heads (``3,Target``, made once), the distance as Arrow casts it to text (what its CSV
writer writes), and ``true`` or ``false``. :class:`~custseg.io.compiledlines.LineFormatter`
copies those pieces into the file's bytes in one pass, so only the distances' text is left to
Arrow (about half the CPU). The lines are the bytes the table path writes
(``tests/test_scoredlines.py``); anything else (text ids with quotes, commas or formula-like
starts, ids neither text nor integers, small chunks, no Numba) takes the table path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN
from custseg.io.csvlines import line_tails
from custseg.io.csvsafe import TableWriter, text_flags
from custseg.modelfile.format import ATYPICAL_COLUMN, DISTANCE_COLUMN
from custseg.optional import COMPILED_MIN_ROWS, compiled_code_allowed
from custseg.outputs.scoredfiles import StagedFile


class ScoredRows:
    """Writes scored chunks to a :class:`~custseg.outputs.scoredfiles.StagedFile`.

    Parameters
    ----------
    id_name : str
        The first column's name (the input's id column, or the row number's).
    clusters : numpy.ndarray
        Each segment's cluster number.
    names : sequence of str
        Each segment's name.

    Examples
    --------
    >>> rows = ScoredRows("id", np.array([4, 7]), ["Careful", "Target"])
    >>> rows.table(pa.array(["a", "b"]), np.array([1, 0]), np.array([0.5, 2.0]),
    ...            np.array([False, True])).to_pylist()[1]
    {'id': 'b', 'Cluster': 4, 'Segment': 'Careful', 'distance': 2.0, 'atypical': True}
    """

    def __init__(self, id_name: str, clusters: np.ndarray, names: Sequence[str]) -> None:
        self.id_name = id_name
        self.clusters = np.asarray(clusters).astype(np.int32)
        self.names = pa.array(list(names), pa.string())
        self.schema = pa.schema([(name, pa.string()) for name in
                                 (id_name, CLUSTER_COLUMN, SEGMENT_COLUMN, DISTANCE_COLUMN,
                                  ATYPICAL_COLUMN)])
        heads = [f"{int(c)},{name}" for c, name in zip(self.clusters, names, strict=True)]
        # Names needing quotes or a formula guard leave every row to Arrow's writer.
        self._heads = pa.array(heads, pa.string()) if text_flags(
            pa.table({"n": self.names})) == (False, False) else None
        self._formatter = None  # a LineFormatter, made on the first large chunk

    def table(self, ids: pa.Array | pa.ChunkedArray, index: np.ndarray, distance: np.ndarray,
              flag: np.ndarray) -> pa.Table:
        """The scored rows as an Arrow table (ids, cluster, segment name, distance, flag)."""
        return pa.table({
            self.id_name: ids,
            CLUSTER_COLUMN: pa.array(self.clusters[index]),
            SEGMENT_COLUMN: self.names.take(pa.array(index)),
            DISTANCE_COLUMN: pa.array(distance),
            ATYPICAL_COLUMN: pa.array(flag),
        })

    def write(self, out: StagedFile | TableWriter, ids: pa.Array | pa.ChunkedArray, index: np.ndarray,
              distance: np.ndarray, flag: np.ndarray) -> None:
        """Append one chunk's scored rows to ``out`` (lines when they can be, else the table)."""
        body = self.lines(ids, index, distance, flag)
        if body is None:
            out.write(self.table(ids, index, distance, flag))
        else:
            out.write_body(pa.py_buffer(body), len(index), self.schema)

    def lines(self, ids: pa.Array | pa.ChunkedArray, index: np.ndarray, distance: np.ndarray,
              flag: np.ndarray) -> np.ndarray | None:
        """The chunk's CSV lines (uint8, valid until the call after the next), or None when
        the table path has to write it (see the module notes)."""
        if (self._heads is None or len(index) < COMPILED_MIN_ROWS
                or not compiled_code_allowed()):
            return None
        text = _plain_text(ids)
        if text is None:
            return None
        if self._formatter is None:
            from custseg.io.compiledlines import LineFormatter

            self._formatter = LineFormatter(line_tails([["false"], ["true"]]), 0)
        cells = pa.table({"id": text, "head": self._heads.take(pa.array(index)),
                          "distance": pc.cast(pa.array(distance), pa.string())})
        body, _ = self._formatter.format(cells, np.asarray(flag, dtype=np.int64))
        return body


def _plain_text(ids: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """``ids`` as the CSV writer writes them (``string``), or None when a cell may need quotes
    or a formula guard, is missing, or the type is neither text nor an integer."""
    if ids.null_count:
        return None
    kind = ids.type
    if pa.types.is_integer(kind):
        return pc.cast(ids, pa.string())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    if text_flags(pa.table({"id": ids})) != (False, False):
        return None
    return ids if pa.types.is_string(kind) else pc.cast(ids, pa.string())
