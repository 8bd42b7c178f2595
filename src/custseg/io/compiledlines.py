"""Plain CSV lines formatted by compiled code (Numba), each line written twice in one pass.

:func:`custseg.io.csvlines.plain_lines` joins a table's text cells and a per-row tail with one
Arrow kernel, and :func:`custseg.io.csvlines.lines_by_code` regroups the lines by segment with
a sort and a ``take``. :class:`LineFormatter` writes the same bytes in one compiled pass over the
rows: each row's line goes to the file's body (row order) and, at once, to its group's region
(row order within a group), about four times faster than the two Arrow steps (``bench/`` and
``tests/test_compiledlines.py`` check the bytes are the same).

Why it is fast: a cell is a few bytes, so a copy is dominated by its set-up, not its bytes.
Every copy moves 16 bytes at a time with unaligned vector loads and stores (:func:`_copy16`)
and may write up to 15 bytes past its end, which the next copy overwrites. The output buffers
therefore keep :data:`SLACK` spare bytes at the end of the body and between groups, and a copy
may read up to 15 bytes past a cell: rows whose cells lie that close to the end of their Arrow
buffer (a handful at most) are formatted from padded copies of their cells instead.

Cells come as raw addresses (the Arrow buffers' data, kept alive by the caller) and one 2-D
array of offsets, so a single compilation serves any number of columns; it is cached on disk.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from custseg.io.csvlines import text_buffers

#: Spare bytes after each output region (the longest overshoot of a copy is 15).
SLACK = 16
_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False}


@intrinsic
def _copy16(typingctx, dst, index, address):
    """Copy the 16 bytes at ``address`` (an integer) to ``dst[index:index + 16]``: one
    unaligned vector load and store, no index check."""
    sig = types.void(dst, index, address)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        vector = ir.VectorType(ir.IntType(8), 16).as_pointer()
        target = builder.bitcast(builder.gep(array.data, [args[1]], inbounds=True), vector)
        source = builder.inttoptr(args[2], vector)
        builder.store(builder.load(source, align=1), target, align=1)
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always")
def _copy(dst, index, address, n):
    """``n`` bytes from ``address`` to ``dst[index:]``, 16 at a time (may overshoot by 15)."""
    i = 0
    while i < n:
        _copy16(dst, index + i, address + i)
        i += 16


@njit(**_OPTIONS)
def _format(offsets, addresses, tail_offsets, tail_address, codes, groups, body, pos, body_address,
            grouped, ends):
    """Rows of ``offsets`` (columns x rows + 1, into the cells at ``addresses``) as lines ending
    with tail ``codes[row]``, appended to ``body`` from ``pos`` and (unless ``ends`` is empty)
    to ``grouped`` at ``ends[groups[row]]`` (advanced); returns the new ``pos``."""
    grouping = ends.shape[0] > 0
    n_columns = offsets.shape[0]
    for r in range(codes.shape[0]):
        start = pos
        for j in range(n_columns):
            a = offsets[j, r]
            n = offsets[j, r + 1] - a
            _copy(body, pos, addresses[j] + a, n)
            pos += n
            body[pos] = 44  # ","
            pos += 1
        c = codes[r]
        a = tail_offsets[c]
        n = tail_offsets[c + 1] - a
        _copy(body, pos, tail_address + a, n)
        pos += n
        if grouping:
            g = groups[r]
            _copy(grouped, ends[g], body_address + start, pos - start)
            ends[g] += pos - start
    return pos


class LineFormatter:
    """Formats batches of plain lines and their groups (see the module notes).

    Parameters
    ----------
    tails : pyarrow.Array
        The lines' tails (:func:`custseg.io.csvlines.line_tails`).
    k : int
        Number of groups (0..k-1); 0: lines in row order only (no groups).

    Notes
    -----
    The formatter owns two sets of output buffers and uses them in turn, so the arrays one
    :meth:`format` call returns stay valid until the call after the next one: a caller can
    write one batch's groups in another thread while it formats the next batch.

    Examples
    --------
    >>> from custseg.io.csvlines import line_tails
    >>> formatter = LineFormatter(line_tails([["0", "A"], ["1", "B"]]), 2)
    >>> body, groups = formatter.format(pa.table({"id": ["7", "8", "9"]}), np.array([1, 0, 1]))
    >>> bytes(body), [bytes(g) for g in groups]
    (b'7,1,B\\n8,0,A\\n9,1,B\\n', [b'8,0,A\\n', b'7,1,B\\n9,1,B\\n'])
    """

    def __init__(self, tails: pa.Array, k: int) -> None:
        offsets, data = text_buffers(tails)
        self._tail_offsets = np.ascontiguousarray(offsets, dtype=np.int32)
        self._tails = np.zeros(len(data) + SLACK, dtype=np.uint8)  # padded: read 16 at a time
        self._tails[:len(data)] = data
        self._tail_lengths = np.diff(self._tail_offsets).astype(np.int64)
        self.k = k
        self._buffers: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0, np.uint8),) * 2] * 2
        self._turn = 0

    def format(self, table: pa.Table, codes: np.ndarray, groups: np.ndarray | None = None
               ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The lines of ``table`` (text columns, no missing cell, no cell needing quotes).

        Parameters
        ----------
        table : pyarrow.Table
            The cells, one line per row.
        codes : numpy.ndarray
            Per row, the index of its tail.
        groups : numpy.ndarray, optional
            Per row, its group (0..k-1); default ``codes``.

        Returns
        -------
        body : numpy.ndarray
            The lines in row order (uint8): :func:`custseg.io.csvlines.plain_lines`' bytes.
        groups : list of numpy.ndarray
            Per group, its lines in row order (none when the formatter has no groups).
        """
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        groups = codes if groups is None else np.ascontiguousarray(groups, dtype=np.int64)
        # The kernel does not check its indexes: a wrong code would write outside the buffers.
        grouping = self.k > 0
        for name, values, limit in (("code", codes, len(self._tail_lengths)),
                                    *((("group", groups, self.k),) if grouping else ())):
            if len(values) and (values.min() < 0 or values.max() >= limit):
                raise ValueError(f"a {name} outside 0..{limit - 1}")
        if len(codes) != table.num_rows or len(groups) != table.num_rows:
            raise ValueError("one code and one group per row are needed")
        # A table's columns may be chunked differently: its record batches line them up.
        batches = [(batch.num_rows, [text_buffers(column) for column in batch.columns])
                   for batch in table.to_batches()]
        lengths = self._tail_lengths[codes] + table.num_columns
        start = 0
        for m, parts in batches:
            for offsets, _ in parts:
                lengths[start:start + m] += np.diff(offsets)
            start += m
        if grouping:
            sizes = np.bincount(groups, weights=lengths, minlength=self.k).astype(np.int64)
            bounds = np.concatenate([[0], np.cumsum(sizes + SLACK)])
            total = int(sizes.sum())
        else:  # no group regions: an empty ``ends`` tells the kernel
            sizes, bounds, total = lengths[:0], np.zeros(1, np.int64), int(lengths.sum())
        body, grouped = self._take_buffers(total + SLACK, int(bounds[-1]))
        ends = bounds[:-1].copy()
        pos = start = 0
        for m, parts in batches:
            safe = min((_safe_rows(offsets, data) for offsets, data in parts), default=m)
            pos = self._run(parts, codes[start:start + safe], groups[start:start + safe],
                            body, pos, grouped, ends)
            if safe < m:  # the last rows, from padded copies of their cells
                pos = self._run([_padded(offsets, data, safe) for offsets, data in parts],
                                codes[start + safe:start + m], groups[start + safe:start + m],
                                body, pos, grouped, ends)
            start += m
        return body[:total], [grouped[bounds[j]:bounds[j] + sizes[j]] for j in range(self.k)]

    def _run(self, parts: list[tuple[np.ndarray, np.ndarray]], codes: np.ndarray,
             groups: np.ndarray, body: np.ndarray, pos: int, grouped: np.ndarray,
             ends: np.ndarray) -> int:
        """Format the first ``len(codes)`` rows of ``parts``; the body's new end."""
        m = len(codes)
        if m == 0:
            return pos
        offsets = (np.stack([offsets[:m + 1] for offsets, _ in parts]) if parts
                   else np.zeros((0, m + 1), dtype=np.int32))
        addresses = np.array([_address(data) for _, data in parts], dtype=np.int64)
        return int(_format(offsets, addresses, self._tail_offsets, _address(self._tails),
                           codes, groups, body, pos, _address(body), grouped, ends))

    def _take_buffers(self, body_size: int, grouped_size: int) -> tuple[np.ndarray, np.ndarray]:
        body, grouped = self._buffers[self._turn]
        # Grown with room to spare, then kept: fresh pages cost a fault each.
        if len(body) < body_size:
            body = np.empty(body_size + body_size // 4, dtype=np.uint8)
        if len(grouped) < grouped_size:
            grouped = np.empty(grouped_size + grouped_size // 4, dtype=np.uint8)
        self._buffers[self._turn] = (body, grouped)
        self._turn = 1 - self._turn
        return body, grouped


def _address(data: np.ndarray) -> int:
    return data.ctypes.data if data.size else 0


def _safe_rows(offsets: np.ndarray, data: np.ndarray) -> int:
    """How many leading rows' cells can be read 16 bytes at a time within ``data``."""
    return int(np.searchsorted(offsets[1:], len(data) - (SLACK - 1), side="right"))


def _padded(offsets: np.ndarray, data: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``first`` onwards as offsets from 0 into a copy of their cells with spare bytes."""
    a, b = int(offsets[first]), int(offsets[-1])
    padded = np.zeros(b - a + SLACK, dtype=np.uint8)
    padded[:b - a] = data[a:b]
    return offsets[first:] - offsets[first], padded
