"""Plain numbers in text cells parsed by compiled code (Numba), or left to Arrow.

Exports hold numbers such as ``42``, ``-3`` and ``61.5``. Arrow's cast parses any spelling and
rounds correctly; these kernels parse only the plain spellings and say when a column holds
anything else, so the caller falls back to Arrow for the whole column:

- :func:`plain_decimals`: ``-?digits(.digits)?`` with at most 15 digits in all. The digits form
  an integer below 2**53 and the point a division by a power of ten up to 10**15, both exact in
  float64, so one IEEE division gives the correctly rounded value: the value Arrow's cast gives
  (the "fast path" of correctly rounded parsers);
- :func:`plain_integers`: ids that are plain non-negative integers (``0``, ``17``; not ``007``,
  ``+7``, ``-7``, `` 7``) below 10**18, as :func:`custseg.io.ids.plain_integer_keys` defines
  them.

One pass over the text, no temporary arrays: faster than the cast and the checks around it on
millions of cells. The callers use them on large columns
(:data:`custseg.io.numbers.COMPILED_MIN_CELLS`) once Numba is loaded, never waiting for it;
this module imports Numba.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from custseg.io.csvlines import text_buffers

_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy"}
#: Powers of ten exact in float64, by exponent.
_POWERS = np.array([10.0 ** p for p in range(16)])
_MAX_DIGITS = 15
_MAX_ID_DIGITS = 18


@njit(**_OPTIONS)
def _decimals(offsets, data, powers, out):
    """Parse every cell into ``out``; False at the first cell that is not plain."""
    for r in range(len(offsets) - 1):
        a, b = offsets[r], offsets[r + 1]
        negative = a < b and data[a] == 45  # "-"
        if negative:
            a += 1
        if a == b:
            return False
        mantissa = 0
        digits = 0
        fraction = -1  # digits after the point; -1: no point yet
        for i in range(a, b):
            c = data[i]
            if 48 <= c <= 57:
                mantissa = mantissa * 10 + (c - 48)
                digits += 1
                if fraction >= 0:
                    fraction += 1
            elif c == 46 and fraction < 0 and i > a and i < b - 1:  # ".", between digits
                fraction = 0
            else:
                return False
        if digits > _MAX_DIGITS:
            return False
        value = np.float64(mantissa)
        if fraction > 0:
            value = value / powers[fraction]
        out[r] = -value if negative else value
    return True


@njit(**_OPTIONS)
def _integers(offsets, data, out):
    """Every cell's integer into ``out``; False at the first cell that is not a plain id."""
    for r in range(len(offsets) - 1):
        a, b = offsets[r], offsets[r + 1]
        if a == b or b - a > _MAX_ID_DIGITS or (data[a] == 48 and b - a > 1):
            return False
        key = np.uint64(0)
        for i in range(a, b):
            c = data[i]
            if c < 48 or c > 57:
                return False
            key = key * np.uint64(10) + np.uint64(c - 48)
        out[r] = key
    return True


def plain_decimals(column: pa.Array) -> np.ndarray | None:
    """The cells of a string column as float64 when every one is a plain number (see the
    module notes), else None.

    Examples
    --------
    >>> plain_decimals(pa.array(["42", "-3", "61.5", "0.1"])).tolist()
    [42.0, -3.0, 61.5, 0.1]
    >>> plain_decimals(pa.array(["42", " 3"])) is None
    True
    """
    if not pa.types.is_string(column.type) or column.null_count:
        return None
    out = np.empty(len(column), dtype=np.float64)
    return out if _decimals(*text_buffers(column), _POWERS, out) else None


def plain_integers(column: pa.Array) -> np.ndarray | None:
    """The cells of a string column as uint64 when every one is a plain id (see the module
    notes), else None.

    Examples
    --------
    >>> plain_integers(pa.array(["17", "0"])).tolist(), plain_integers(pa.array(["007"]))
    ([17, 0], None)
    """
    if not pa.types.is_string(column.type) or column.null_count:
        return None
    out = np.empty(len(column), dtype=np.uint64)
    return out if _integers(*text_buffers(column), out) else None
