"""Validate a raw table: the clean rows to segment, and every other row with its reason.

The count identity ``clean rows + rejected rows = input rows`` always holds. Each rejected row
gets exactly one reason: the first failing check, taking the id column first, then the features
in the order given; duplicates of an id are checked last, among the rows that passed, so the
first valid occurrence of a customer is kept. All checks are vectorised (Arrow and NumPy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.config import ON_INVALID
from custseg.data.columns import canonical_name, resolve_column, resolve_columns
from custseg.data.readers import RawTable, SourceInfo
from custseg.data.rejects import REJECT_COLUMNS, Reason, combine
from custseg.exceptions import ConfigError, DataValidationError

#: Plausible ranges of known columns, keyed by canonical name: (low, high), inclusive; None is
#: unbounded. Edit here to add a rule; a feature without an entry only has to be a finite number.
RANGE_RULES: dict[str, tuple[float | None, float | None]] = {
    "Annual Income (k$)": (0, None),
    "Spending Score (1-100)": (1, 100),
    "Age": (0, 120),
}
#: Text that means "no value" in exports, compared after trimming and lower-casing.
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "#n/a", "-")
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"
_INFINITY = r"^[+-]?(inf|infinity)$"

# Check codes, in the order a row's reason is chosen within one column.
_OK, _MISSING, _NON_NUMERIC, _INFINITE, _RANGE = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class ValidatedTable:
    """The rows to segment, their feature values, and the rows rejected.

    Attributes
    ----------
    table : pyarrow.Table
        Clean rows, every input column in input order, cells as read.
    values : numpy.ndarray
        Feature values of the clean rows, float64, shape (n_rows, n_features).
    features : tuple of str
        Feature names as the run asked for them (used in tables, figures and names).
    feature_columns : tuple of str
        The input columns holding the features (may differ: ``AnnualIncome``).
    id_column : str or None
        Input column identifying customers; ``None`` when the input has none.
    row_numbers : numpy.ndarray
        Spreadsheet row of each clean row (header is row 1).
    rejects : pandas.DataFrame
        One row per rejected record: row, customer_id, column, value, reason.
    n_input : int
        Records in the input.
    source : SourceInfo
        Where the table came from.
    """

    table: pa.Table
    values: np.ndarray
    features: tuple[str, ...]
    feature_columns: tuple[str, ...]
    id_column: str | None
    row_numbers: np.ndarray
    rejects: pd.DataFrame
    n_input: int
    source: SourceInfo

    @property
    def n_rows(self) -> int:
        """Number of clean rows."""
        return self.table.num_rows

    def column(self, wanted: str) -> str | None:
        """The input column holding ``wanted`` (alias-aware), or ``None``."""
        return resolve_column(wanted, self.table.column_names)


def parse_numbers(column: pa.ChunkedArray | pa.Array, decimal_comma: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Parse a column to float64 and say, per cell, why it is not a usable number.

    Parameters
    ----------
    column : pyarrow array
        Numeric or text cells.
    decimal_comma : bool, default False
        Accept ``12,5`` as 12.5 (semicolon- and tab-separated European exports).

    Returns
    -------
    values : numpy.ndarray
        float64, NaN where the cell is not a usable number.
    codes : numpy.ndarray
        uint8 per cell: 0 ok, 1 missing, 2 non-numeric text, 3 infinity.

    Examples
    --------
    >>> v, c = parse_numbers(pa.array(["1", " 2.5", "", "abc", "inf", "NA"]))
    >>> v[:2].tolist(), c.tolist()
    ([1.0, 2.5], [0, 0, 1, 2, 3, 1])
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    codes = np.zeros(len(column), dtype=np.uint8)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pc.utf8_trim_whitespace(column)
        try:
            numbers = pc.cast(text, pa.float64())  # fast path: every cell a plain number
        except pa.ArrowInvalid:
            numbers = _parse_messy_text(text, codes, decimal_comma)
    elif (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
          or pa.types.is_decimal(column.type) or pa.types.is_boolean(column.type)):
        numbers = pc.cast(column, pa.float64())
    else:
        # Dates, lists... are not numbers; treat every non-null cell as non-numeric.
        numbers = pa.nulls(len(column), pa.float64())
        codes[:] = _NON_NUMERIC
    values = numbers.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    free = codes == _OK
    codes[free & np.isnan(values)] = _MISSING
    codes[free & np.isinf(values)] = _INFINITE
    codes[np.asarray(column.is_null())] = _MISSING
    if not values.flags.writeable:
        values = values.copy()
    values[codes != _OK] = np.nan
    return values, codes


def _parse_messy_text(text: pa.Array, codes: np.ndarray, decimal_comma: bool) -> pa.Array:
    lower = pc.utf8_lower(text)
    missing = np.asarray(pc.fill_null(pc.is_in(lower, pa.array(MISSING_TOKENS)), True))
    if decimal_comma:
        is_comma = pc.fill_null(pc.match_substring_regex(text, _DECIMAL_COMMA), False)
        text = pc.if_else(is_comma, pc.replace_substring(text, ",", "."), text)
    number = np.asarray(pc.fill_null(pc.match_substring_regex(text, _NUMBER), False))
    infinite = np.asarray(pc.fill_null(pc.match_substring_regex(lower, _INFINITY), False))
    codes[missing] = _MISSING
    codes[~missing & infinite] = _INFINITE
    codes[~missing & ~infinite & ~number] = _NON_NUMERIC
    usable = pa.array(number & ~missing)
    return pc.cast(pc.if_else(usable, text, pa.scalar(None, pa.string())), pa.float64())


def range_codes(values: np.ndarray, codes: np.ndarray, canonical: str) -> str | None:
    """Mark out-of-range values of a known column in ``codes``; return the reason text."""
    rule = RANGE_RULES.get(canonical)
    if rule is None:
        return None
    low, high = rule
    bad = np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            bad |= values < low
        if high is not None:
            bad |= values > high
    codes[(codes == _OK) & bad] = _RANGE
    if high is None:
        return Reason.NEGATIVE if low == 0 else Reason.BELOW_MIN.format(low=low)
    return Reason.OUT_OF_RANGE.format(low=low, high=high)


def validate(
    raw: RawTable,
    features: Sequence[str],
    id_column: str | None = "CustomerID",
    *,
    id_required: bool = False,
    column_map: Mapping[str, str] | None = None,
    on_invalid: str = "reject",
) -> ValidatedTable:
    """Check every row of ``raw`` and split it into clean rows and rejected rows.

    Parameters
    ----------
    raw : RawTable
        The table as read.
    features : sequence of str
        Columns to segment on; each must hold finite numbers in its plausible range.
    id_column : str or None, default "CustomerID"
        Customer id column; ids must be present and unique.
    id_required : bool, default False
        When False, a missing ``id_column`` is not an error: rows are identified by row number.
    column_map : mapping, optional
        ``{column in file: name wanted}`` renames, as ``--column-map``.
    on_invalid : {"reject", "fail"}, default "reject"
        ``"fail"`` raises on the first invalid row instead of rejecting it.

    Returns
    -------
    ValidatedTable

    Raises
    ------
    DataValidationError
        Missing columns, no valid rows left, or an invalid row with ``on_invalid="fail"``.
    """
    if on_invalid not in ON_INVALID:
        raise ConfigError(f"--on-invalid must be one of {', '.join(ON_INVALID)} (got {on_invalid!r}).")
    table, name = raw.table, raw.source.name
    feature_columns, id_col = resolve_columns(table.column_names, features, id_column, name,
                                              id_required=id_required, column_map=column_map)

    n = table.num_rows
    decimal_comma = raw.source.delimiter in (";", "\t")
    # reason_col[i] = index of the column that rejected row i (-1: row is fine)
    reason_col = np.full(n, -1, dtype=np.int64)
    reason_code = np.zeros(n, dtype=np.uint8)
    checked: list[str] = []
    range_reasons: list[str | None] = []
    values = np.empty((n, len(feature_columns)), dtype=np.float64)

    if id_col is not None:
        ids = table.column(id_col)
        id_missing = np.asarray(pc.fill_null(pc.equal(pc.utf8_trim_whitespace(
            pc.cast(ids, pa.string())), ""), True))
        _record(reason_col, reason_code, id_missing, len(checked), _MISSING)
        checked.append(id_col)
        range_reasons.append(None)
    for j, (wanted, column) in enumerate(zip(features, feature_columns, strict=True)):
        col_values, codes = parse_numbers(table.column(column), decimal_comma)
        range_reasons.append(range_codes(col_values, codes, canonical_name(wanted)))
        values[:, j] = col_values
        _record(reason_col, reason_code, codes != _OK, len(checked), codes)
        checked.append(column)

    duplicate_of = np.full(n, -1, dtype=np.int64)
    if id_col is not None:
        duplicate_of = _first_occurrence_of_duplicates(table.column(id_col), reason_col < 0)

    rejected = (reason_col >= 0) | (duplicate_of >= 0)
    row_numbers = raw.row_numbers
    rejects = _rejects_frame(table, row_numbers, rejected, reason_col, reason_code, duplicate_of,
                             checked, range_reasons, id_col)
    rejects = combine(raw.parse_rejects, rejects)
    if on_invalid == "fail" and len(rejects):
        first = rejects.iloc[0]
        where = f" in column {first['column']!r}" if first["column"] is not None else ""
        raise DataValidationError(
            f"{name} row {first['row']}{where}: {first['reason']} ({first['value']!r}). "
            f"{len(rejects)} invalid row(s) in all; fix them, or use --on-invalid reject."
        )
    keep = ~rejected
    if not keep.any():
        raise DataValidationError(
            f"No valid rows left in {name}: all {raw.n_input} rows were rejected "
            f"(most often: {_most_common_problem(rejects)}). Fix those values, or choose other "
            "columns with --features."
        )
    if not keep.all():
        table = table.filter(pa.array(keep))
        values = values[keep]
        row_numbers = row_numbers[keep]
    return ValidatedTable(
        table=table,
        values=values,
        features=tuple(features),
        feature_columns=tuple(feature_columns),
        id_column=id_col,
        row_numbers=row_numbers,
        rejects=rejects,
        n_input=raw.n_input,
        source=raw.source,
    )


def _most_common_problem(rejects: pd.DataFrame) -> str:
    if rejects.empty:
        return "no rows"
    counts = rejects.groupby(["column", "reason"], dropna=False, sort=True).size()
    column, reason = counts.idxmax()
    return f"{column!r}: {reason}" if isinstance(column, str) else str(reason)


def _record(reason_col: np.ndarray, reason_code: np.ndarray, failed: np.ndarray, column: int,
            codes: np.ndarray | int) -> None:
    """Give rows that failed this check, and no earlier one, this column's reason."""
    new = failed & (reason_col < 0)
    reason_col[new] = column
    reason_code[new] = codes[new] if isinstance(codes, np.ndarray) else codes


def _first_occurrence_of_duplicates(ids: pa.ChunkedArray, valid: np.ndarray) -> np.ndarray:
    """For each valid row whose id appeared on an earlier valid row: that row's index; else -1."""
    n = len(ids)
    out = np.full(n, -1, dtype=np.int64)
    key = pc.utf8_trim_whitespace(pc.cast(ids, pa.string()))
    numbers = _canonical_integers(key)
    if numbers is not None:
        # Plain integer ids (the common export): sorting int64 beats hashing 10^7 strings.
        rows = np.flatnonzero(valid)
        v = numbers[rows]
        if len(v) < 2 or np.all(v[1:] > v[:-1]):
            return out  # strictly increasing: no duplicates, decided in one pass
        order = np.argsort(v, kind="stable")  # equal ids keep their row order
        sv = v[order]
        same = np.flatnonzero(sv[1:] == sv[:-1]) + 1  # sorted positions repeating the previous id
        if len(same) == 0:
            return out
        run_start = np.zeros(len(sv), dtype=np.int64)
        starts = np.flatnonzero(np.concatenate([[True], sv[1:] != sv[:-1]]))
        run_start[starts] = starts
        run_start = np.maximum.accumulate(run_start)
        out[rows[order[same]]] = rows[order[run_start[same]]]
        return out
    index = np.arange(n, dtype=np.int64)
    candidates = pa.table({"id": key, "i": index}).filter(pa.array(valid))
    firsts = candidates.group_by("id", use_threads=False).aggregate([("i", "min")])
    if firsts.num_rows == candidates.num_rows:
        return out  # no duplicates: the common case, decided by one hash pass
    first_index = pc.index_in(candidates["id"], firsts["id"])
    first_row = pc.take(firsts["i_min"], first_index).to_numpy()
    rows = candidates["i"].to_numpy()
    dup = first_row != rows
    out[rows[dup]] = first_row[dup]
    return out


def _canonical_integers(key: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """The ids as int64 when every one is written as a plain integer (no sign, no leading zero,
    so that equal numbers are equal texts); ``None`` otherwise (compare them as text)."""
    canonical = pc.match_substring_regex(key, r"^(0|-?[1-9][0-9]{0,17})$")  # fits in int64
    if key.null_count or not pc.all(canonical).as_py():
        return None
    return pc.cast(key, pa.int64()).to_numpy()


def _rejects_frame(table: pa.Table, row_numbers: np.ndarray, rejected: np.ndarray,
                   reason_col: np.ndarray, reason_code: np.ndarray, duplicate_of: np.ndarray,
                   checked: list[str], range_reasons: list[str | None],
                   id_col: str | None) -> pd.DataFrame:
    idx = np.flatnonzero(rejected)
    if len(idx) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in REJECT_COLUMNS.items()})
    col = reason_col[idx]
    code = reason_code[idx]
    is_dup = col < 0
    # Vectorised: one lookup table (checked column x code) of reason texts, one take per column.
    texts = np.empty((max(len(checked), 1), _RANGE + 1), dtype=object)
    texts[:, _MISSING], texts[:, _NON_NUMERIC], texts[:, _INFINITE] = (
        Reason.MISSING, Reason.NON_NUMERIC, Reason.INFINITY)
    texts[:len(range_reasons), _RANGE] = range_reasons
    reason = np.empty(len(idx), dtype=object)
    reason[~is_dup] = texts[col[~is_dup], code[~is_dup]]
    before, _, after = Reason.DUPLICATE_ID.partition("{first}")
    first_rows = pd.Series(row_numbers[duplicate_of[idx[is_dup]]]).astype(str)
    reason[is_dup] = (before + first_rows + after).to_numpy()
    # Duplicates belong to the id column, which is always checked first (index 0).
    owner = np.where(is_dup, 0, col)
    column = np.array(checked, dtype=object)[owner]
    value = np.full(len(idx), None, dtype=object)
    for j, name in enumerate(checked):
        mine = np.flatnonzero(owner == j)
        if len(mine):
            cells = table.column(name).take(pa.array(idx[mine]))
            value[mine] = pc.cast(cells, pa.string()).to_numpy(zero_copy_only=False)
    ids = (pc.cast(table.column(id_col).take(pa.array(idx)), pa.string())
           .to_numpy(zero_copy_only=False) if id_col else np.full(len(idx), None, dtype=object))
    return pd.DataFrame({
        "row": row_numbers[idx],
        "customer_id": ids,
        "column": column,
        "value": value,
        "reason": reason,
    }).astype(REJECT_COLUMNS)
