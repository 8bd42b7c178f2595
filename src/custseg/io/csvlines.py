"""Plain CSV lines built with one Arrow kernel, for files whose cells need no quotes.

The clustered file repeats every input cell and appends a few columns that depend only on the
row's segment (``Cluster``, ``Segment``, ``outlier``). When no cell needs quotes (the scan knows),
a CSV line is the cells joined by commas, so :func:`plain_lines` joins the text columns and a
per-row *tail* (the segment's columns, as text, ending the line) with one
``binary_join_element_wise``: each line is one element of the result, and the result's data
buffer is the file's bytes, the same bytes :func:`pyarrow.csv.write_csv` writes with
``quoting_style="none"``. The lines of one segment are then a ``take`` away
(:func:`lines_by_code`), with no second formatting of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Largest body joined at once: the result's 32-bit offsets must hold it.
MAX_JOINED_BYTES = (1 << 31) - 1


def line_tails(columns: Sequence[Sequence[str]]) -> pa.Array:
    """The tails of :func:`plain_lines`: each entry's cells joined by commas, and a newline.

    Examples
    --------
    >>> line_tails([["0", "Careful"], ["1", "Target"]]).to_pylist()
    ['0,Careful\\n', '1,Target\\n']
    """
    return pa.array([",".join(cells) + "\n" for cells in columns], pa.string())


def joinable(table: pa.Table, tails: pa.Array) -> bool:
    """Whether :func:`plain_lines` can write ``table``: every column ``string`` with no missing
    cell, and the lines of any slice of it small enough for 32-bit offsets."""
    if table.num_columns == 0 or not pa.types.is_string(tails.type):
        return False
    body = int(np.max(np.asarray(pc.binary_length(tails)), initial=0)) * table.num_rows
    for column in table.columns:
        if not pa.types.is_string(column.type) or column.null_count:
            return False
        body += sum(_data_bytes(chunk) for chunk in column.chunks) + table.num_rows
    return body <= MAX_JOINED_BYTES


def plain_lines(table: pa.Table, tails: pa.Array, codes: np.ndarray) -> pa.Array:
    """Each row of ``table`` as a line of unquoted CSV followed by ``tails[codes[row]]``.

    Parameters
    ----------
    table : pyarrow.Table
        Text columns whose cells need no quotes (no ``,``, ``"``, line break), as
        :func:`joinable` checks.
    tails : pyarrow.Array
        String tails (:func:`line_tails`), each ending with a newline.
    codes : numpy.ndarray
        Per row, the index of its tail.

    Returns
    -------
    pyarrow.Array
        One string per row, the line (newline included); the data buffer between the first and
        last offset is the CSV body (:func:`lines_body`), byte for byte what
        :func:`pyarrow.csv.write_csv` writes with ``quoting_style="none"``.

    Examples
    --------
    >>> t = pa.table({"id": ["1", "2"], "g": ["Male", "Female"]})
    >>> plain_lines(t, line_tails([["0"], ["1"]]), np.array([1, 0])).to_pylist()
    ['1,Male,1\\n', '2,Female,0\\n']
    """
    tail = tails.take(pa.array(np.asarray(codes, dtype=np.int32)))
    lines = pc.binary_join_element_wise(*table.columns, tail, ",")
    if isinstance(lines, pa.ChunkedArray):
        # A table slice spanning the reader's chunks: one array, so the body is one buffer.
        lines = (lines.chunk(0) if lines.num_chunks == 1 else pa.concat_arrays(lines.chunks)
                 if lines.num_chunks else pa.array([], pa.string()))
    return lines


def lines_body(lines: pa.Array, start: int = 0, stop: int | None = None) -> pa.Buffer:
    """The bytes of ``lines[start:stop]`` (a string or binary array), without a copy."""
    stop = len(lines) if stop is None else stop
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:]
    data = lines.buffers()[2]
    first, last = int(offsets[start]), int(offsets[stop])
    return data.slice(first, last - first) if data is not None else pa.py_buffer(b"")


def lines_by_code(lines: pa.Array, codes: np.ndarray, k: int) -> tuple[pa.Array, np.ndarray]:
    """The lines grouped by code (0..k-1), each group in row order, and the groups' bounds.

    Examples
    --------
    >>> grouped, bounds = lines_by_code(pa.array(["a\\n", "b\\n", "c\\n"]), np.array([1, 0, 1]), 2)
    >>> grouped.to_pylist(), bounds.tolist()
    (['b\\n', 'a\\n', 'c\\n'], [0, 1, 3])
    """
    codes = np.asarray(codes)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=k))])
    if k == 1:
        return lines, bounds
    # A stable sort of small integers is a radix sort: linear, no comparisons.
    order = np.argsort(codes.astype(np.min_scalar_type(max(k - 1, 0))), kind="stable")
    return lines.take(pa.array(order.astype(np.int32))), bounds


def text_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's offsets (one more than its rows, from its slice offset) and its whole
    data buffer, as NumPy views (no copy): cell ``i`` is ``data[offsets[i]:offsets[i + 1]]``.

    Examples
    --------
    >>> offsets, data = text_buffers(pa.array(["ab", "", "c"]).slice(1))
    >>> offsets.tolist(), bytes(data)
    ([2, 2, 3], b'abc')
    """
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[array.offset:array.offset + len(array) + 1]
    data = buffers[2]
    return offsets, (np.frombuffer(data, dtype=np.uint8) if data is not None and data.size
                     else np.zeros(0, np.uint8))


def _data_bytes(chunk: pa.Array) -> int:
    if len(chunk) == 0:
        return 0
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
    return int(offsets[chunk.offset + len(chunk)]) - int(offsets[chunk.offset])
