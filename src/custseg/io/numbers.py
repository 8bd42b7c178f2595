"""Numbers in customer tables: parse text cells, say why a cell is not a usable number, check ranges.

Each cell gets a code (the order in which a row's reason is chosen within one column):
:data:`OK`, :data:`MISSING` (empty, ``NA``, ``n/a``, ``null``, ``-``...), :data:`NON_NUMERIC`
(``12k``), :data:`INFINITE` (``inf``), :data:`OUT_OF_RANGE` (outside :data:`RANGE_RULES`),
:data:`TOO_LARGE` (a finite number beyond ±:data:`MAX_MAGNITUDE`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.io.rejects import Reason
from custseg.optional import COMPILED_MIN_ROWS, compiled_code_allowed, compiled_code_loaded

#: Plausible ranges of known columns, keyed by canonical name: (low, high), inclusive; None is
#: unbounded. Edit here to add a rule; a feature without an entry only has to be a finite number.
RANGE_RULES: dict[str, tuple[float | None, float | None]] = {
    "Annual Income (k$)": (0, None),
    "Spending Score (1-100)": (1, 100),
    "Age": (0, 120),
}
#: Largest magnitude of a usable number. Beyond it a value is no customer's (1e40 income) and
#: breaks the fit's arithmetic (the CRM rules' tree works in float32, whose range ends at 3.4e38),
#: so it is rejected with a reason rather than segmented.
MAX_MAGNITUDE = 1e30
#: Text columns of at least this many cells are parsed by compiled code when their numbers are
#: plain (:mod:`custseg.io.compiledparse`); smaller ones do not repay importing Numba.
COMPILED_MIN_CELLS = COMPILED_MIN_ROWS
#: Text that means "no value" in exports, compared after trimming and lower-casing.
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "#n/a", "-")
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"
_INFINITY = r"^[+-]?(inf|infinity)$"
#: Numbers grouped in thousands by ``.`` or ``,`` (the other mark, if any, marking decimals).
_GROUPED = {".": r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$", ",": r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"}
#: A cell that may be grouped in thousands by ``.`` in a file whose decimal mark is ``,``
#: (``1.234``, ``1.234.567``, ``1.234,5``); ``0.125`` is no grouping.
_MAYBE_DOT_GROUPED = r"^[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?$"

#: Cell codes, in the order a row's reason is chosen within one column.
OK, MISSING, NON_NUMERIC, INFINITE, OUT_OF_RANGE = 0, 1, 2, 3, 4
TOO_LARGE = 5


def parse_numbers(column: pa.ChunkedArray | pa.Array, decimal_comma: bool = False,
                  thousands: str | None = None, writeable: bool = True
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Parse a column to float64 and say, per cell, why it is not a usable number.

    Parameters
    ----------
    column : pyarrow array
        Numeric or text cells.
    decimal_comma : bool, default False
        Accept ``12,5`` as 12.5 (semicolon- and tab-separated European exports).
    thousands : {".", ","} or None, default None
        The mark that groups thousands (``--decimal`` chose the other): ``1.234.567,5`` is
        1234567.5 with ``"."``; any other cell holding that mark is not a number.
    writeable : bool, default True
        False: ``values`` may be a read-only view of Arrow's memory (no copy, for a caller
        that only reads them).

    Returns
    -------
    values : numpy.ndarray
        float64, NaN where the cell is not a usable number.
    codes : numpy.ndarray
        uint8 per cell: 0 ok, 1 missing, 2 non-numeric text, 3 infinity, 5 beyond
        ±``MAX_MAGNITUDE``.

    Examples
    --------
    >>> v, c = parse_numbers(pa.array(["1", " 2.5", "", "abc", "inf", "NA", "-1e40"]))
    >>> v[:2].tolist(), c.tolist()
    ([1.0, 2.5], [0, 0, 1, 2, 3, 1, 5])
    >>> parse_numbers(pa.array(["1.234.567,5", "12.5", "7"]), True, ".")[0].tolist()
    [1234567.5, nan, 7.0]
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    codes = np.zeros(len(column), dtype=np.uint8)
    messy = False
    plain = None
    if (thousands is None and len(column) >= COMPILED_MIN_CELLS and pa.types.is_string(column.type)
            and compiled_code_allowed() and compiled_code_loaded()):  # never waits for Numba
        from custseg.io.compiledparse import plain_decimals  # one pass over the text

        plain = plain_decimals(column)
    if plain is not None:
        numbers = plain  # every cell a plain number, parsed as Arrow's cast parses it
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = column if thousands is None else _ungrouped(column, thousands)
        try:
            numbers = pc.cast(text, pa.float64())  # fast path: every cell a plain number
        except pa.ArrowInvalid:
            text = pc.utf8_trim_whitespace(text)
            try:
                numbers = pc.cast(text, pa.float64())
            except pa.ArrowInvalid:
                numbers, messy = _parse_messy_text(text, codes, decimal_comma), True
    elif (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
          or pa.types.is_decimal(column.type) or pa.types.is_boolean(column.type)):
        numbers = pc.cast(column, pa.float64())
    else:
        # Dates, lists... are not numbers; treat every non-null cell as non-numeric.
        numbers = pa.nulls(len(column), pa.float64())
        codes[:] = NON_NUMERIC
        messy = True
    values = (numbers if isinstance(numbers, np.ndarray)
              else numbers.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    if not (messy or column.null_count or values.dtype != np.float64) and _all_usable(values):
        # The usual column: every cell a finite number within range; two reductions decide it.
        return (values if values.flags.writeable or not writeable else values.copy()), codes
    free = codes == OK
    codes[free & np.isnan(values)] = MISSING
    codes[free & np.isinf(values)] = INFINITE
    with np.errstate(invalid="ignore"):
        codes[free & np.isfinite(values) & (np.abs(values) > MAX_MAGNITUDE)] = TOO_LARGE
    codes[np.asarray(column.is_null())] = MISSING
    if not values.flags.writeable:
        values = values.copy()
    values[codes != OK] = np.nan
    return values, codes


def _all_usable(values: np.ndarray) -> bool:
    """Whether every value is finite and within ±:data:`MAX_MAGNITUDE` (a NaN fails both
    comparisons)."""
    if len(values) == 0:
        return True
    return bool(values.min() >= -MAX_MAGNITUDE) and bool(values.max() <= MAX_MAGNITUDE)


def _ungrouped(column: pa.Array, thousands: str) -> pa.Array:
    """Cells with the thousands mark removed where it groups digits by three; a cell holding the
    mark otherwise becomes text that is no number."""
    text = pc.utf8_trim_whitespace(column)
    grouped = pc.fill_null(pc.match_substring_regex(text, _GROUPED[thousands]), False)
    stray = pc.and_(pc.fill_null(pc.match_substring(text, thousands), False), pc.invert(grouped))
    text = pc.if_else(grouped, pc.replace_substring(text, thousands, ""), text)
    return pc.if_else(stray, pa.scalar("not a number"), text)


def maybe_grouped(column: pa.ChunkedArray | pa.Array) -> int | None:
    """Index of the first cell that may be a number grouped in thousands by ``.`` (``1.234``,
    ``1.234,5``), or None: in a file whose decimal mark is ``,`` such a cell is ambiguous.

    Examples
    --------
    >>> maybe_grouped(pa.array(["12,5", "0.125", "15.123"])), maybe_grouped(pa.array(["12.5"]))
    (2, None)
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    hits = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(column),
                                                 _MAYBE_DOT_GROUPED), False)
    first = pc.index(hits, True).as_py()
    return None if first < 0 else first


def _parse_messy_text(text: pa.Array, codes: np.ndarray, decimal_comma: bool) -> pa.Array:
    lower = pc.utf8_lower(text)
    missing = np.asarray(pc.fill_null(pc.is_in(lower, pa.array(MISSING_TOKENS)), True))
    if decimal_comma:
        is_comma = pc.fill_null(pc.match_substring_regex(text, _DECIMAL_COMMA), False)
        text = pc.if_else(is_comma, pc.replace_substring(text, ",", "."), text)
    number = np.asarray(pc.fill_null(pc.match_substring_regex(text, _NUMBER), False))
    infinite = np.asarray(pc.fill_null(pc.match_substring_regex(lower, _INFINITY), False))
    codes[missing] = MISSING
    codes[~missing & infinite] = INFINITE
    codes[~missing & ~infinite & ~number] = NON_NUMERIC
    usable = pa.array(number & ~missing)
    return pc.cast(pc.if_else(usable, text, pa.scalar(None, pa.string())), pa.float64())


def range_codes(values: np.ndarray, codes: np.ndarray, canonical: str) -> str | None:
    """Mark out-of-range values of a known column in ``codes``; return the reason text."""
    rule = RANGE_RULES.get(canonical)
    if rule is None:
        return None
    low, high = rule
    if len(values) and ((low is None or values.min() >= low)
                        and (high is None or values.max() <= high)):
        return _range_reason(low, high)  # all within range (a NaN would fail the comparisons)
    bad = np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            bad |= values < low
        if high is not None:
            bad |= values > high
    codes[(codes == OK) & bad] = OUT_OF_RANGE
    return _range_reason(low, high)


def _range_reason(low: float | None, high: float | None) -> str:
    if high is None:
        return Reason.NEGATIVE if low == 0 else Reason.BELOW_MIN.format(low=low)
    return Reason.OUT_OF_RANGE.format(low=low, high=high)
