"""Row validation: which records can be segmented, and for every other one, why not.

:class:`RowValidator` checks record batches in file order; a table held in memory is one batch.
Each rejected record gets exactly one reason: the first failing check, taking the id column
first, then the features in the order given; duplicates of an id are checked last, among the
rows that passed, so the first valid occurrence of a customer is kept (ids compared as
:mod:`custseg.io.ids` describes, across every batch). All checks are vectorised (Arrow and
NumPy). The count identity ``valid rows + rejected rows = input rows`` always holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import DataValidationError
from custseg.io import numbers
from custseg.io.chunks import Chunk
from custseg.io.columns import canonical_name
from custseg.io.formats import SourceInfo
from custseg.io.ids import SeenIds, id_keys, plain_integer_keys
from custseg.io.levels import level_codes
from custseg.io.numbers import maybe_grouped, parse_numbers, range_codes
from custseg.io.rejects import REJECT_SCHEMA, Reason


def check_feature_type(column: str, kind: pa.DataType) -> None:
    """Raise unless a column of type ``kind`` can hold a feature: numbers, or text holding them
    (a database's date or binary column, say, cannot).

    Examples
    --------
    >>> check_feature_type("Income", pa.decimal128(8, 2))
    >>> try:
    ...     check_feature_type("Signup", pa.date32())
    ... except DataValidationError as exc:
    ...     print(str(exc).split(", so")[0])
    Column 'Signup' holds date32[day] values, not numbers
    """
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
            or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_boolean(kind)
            or pa.types.is_null(kind)):
        raise DataValidationError(
            f"Column {column!r} holds {kind} values, not numbers, so it cannot be a feature. "
            "Choose numeric columns with --features (or convert it in a --query).")


class RowValidator:
    """``custseg run``'s row checks, batch by batch, with duplicate ids found across batches.

    Parameters
    ----------
    features : sequence of str
        Feature names as asked for (they choose the range rules).
    feature_columns : sequence of str
        The input columns holding them (:func:`custseg.io.columns.resolve_columns`).
    id_column : str or None
        The id column, or None (rows are identified by number; no duplicate check).
    decimal_comma : bool, default False
        Accept ``12,5`` as 12.5 (semicolon- and tab-separated files).
    thousands : {".", ","} or None, default None
        The mark grouping thousands, once ``--decimal`` chose the other.
    unsettled_in : SourceInfo, optional
        The input, when ``,`` marks its decimals and nobody said what ``.`` does
        (:attr:`SourceInfo.grouping_unsettled`): a feature cell such as ``1.234`` then stops the
        check with :func:`grouping_error` rather than being read either way.
    allow_missing : bool or sequence of bool, default False
        A missing feature cell does not reject its row: its value is NaN (``--missing impute``);
        one flag for every feature, or one per feature.
    categorical : sequence of bool, optional
        Per feature: a category (``--categorical``), whose cells become level codes
        (:func:`custseg.io.levels.level_codes`) instead of numbers.
    levels : sequence of numpy.ndarray or None, optional
        Per feature, the level codes a model knows (``custseg predict``): a category cell of
        another level rejects its row (:data:`UNSEEN_LEVEL`). None: any level (a run).

    Attributes
    ----------
    seen : SeenIds
        Ids of the valid rows so far.
    level_texts : dict of float to str
        The text of every level code seen in a category cell.
    problems : collections.Counter
        Rejects per (column, kind of problem), for messages.

    Examples
    --------
    >>> from custseg.io.chunks import Chunk
    >>> from custseg.io.rejects import NO_REJECTS
    >>> table = pa.table({"id": ["1", "2", "2"], "x": ["5", "abc", "7"]})
    >>> v = RowValidator(["x"], ["x"], "id")
    >>> keep, values, rejects = v.check(Chunk(table, np.array([2, 3, 4]), NO_REJECTS))
    >>> keep.tolist(), values.ravel().tolist(), rejects.column("reason").to_pylist()
    ([True, False, True], [5.0, 7.0], ['non-numeric text'])
    """

    def __init__(self, features: Sequence[str], feature_columns: Sequence[str],
                 id_column: str | None, decimal_comma: bool = False,
                 allow_missing: bool | Sequence[bool] = False, thousands: str | None = None,
                 unsettled_in: SourceInfo | None = None,
                 categorical: Sequence[bool] | None = None,
                 levels: Sequence[np.ndarray | None] | None = None) -> None:
        self.features = list(features)
        self.feature_columns = list(feature_columns)
        self.id_column = id_column
        self.decimal_comma, self.thousands, self.unsettled_in = decimal_comma, thousands, unsettled_in
        self.allow_missing = np.broadcast_to(np.asarray(allow_missing, dtype=bool),
                                             (len(self.feature_columns),))
        self.checked = ([id_column] if id_column else []) + self.feature_columns
        self.categorical = list(categorical or [False] * len(self.feature_columns))
        self.levels = list(levels or [None] * len(self.feature_columns))
        self.level_texts: dict[float, str] = {}
        self.seen = SeenIds()
        self.problems: Counter = Counter()

    def check(self, chunk: Chunk, out: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, pa.Table]:
        """Validate the next batch (batches must come in file order).

        Parameters
        ----------
        chunk : Chunk
            The batch.
        out : numpy.ndarray, optional
            float64, C-contiguous, at least as many rows as the batch and one column per
            feature: the values are written there (the kept rows first) and ``values`` is a
            view of it, so an engine holding every row fills its array in place.

        Returns
        -------
        keep : numpy.ndarray
            bool per parsed row of ``chunk.table``: valid.
        values : numpy.ndarray
            Feature values of the kept rows, float64, shape (kept, n_features).
        rejects : pyarrow.Table
            This batch's rejects, parse rejects included, in row order (:data:`REJECT_SCHEMA`).
        """
        table, rows = chunk.table, chunk.rows
        n = table.num_rows
        reason_col = np.full(n, -1, dtype=np.int32)
        reason_code = np.zeros(n, dtype=np.uint8)
        range_reasons: list[str | None] = []
        values = np.empty((n, len(self.feature_columns)), dtype=np.float64) if out is None else out[:n]
        key = keys = None
        if self.id_column is not None:
            ids = table.column(self.id_column)
            ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
            if pa.types.is_integer(ids.type):
                key = ids  # typed ids (Parquet): no text round trip
                missing = np.asarray(ids.is_null())
            elif pa.types.is_string(ids.type) and (keys := plain_integer_keys(ids)) is not None:
                # The usual export (1, 2, 3...): nothing to trim, none missing, keys found once.
                key, missing = ids, None
            else:
                key = pc.utf8_trim_whitespace(pc.cast(ids, pa.string()))
                missing = np.asarray(pc.fill_null(pc.equal(key, ""), True))
            if missing is not None:
                _record(reason_col, reason_code, missing, 0, numbers.MISSING)
            range_reasons.append(None)
        if self.unsettled_in is not None:
            self._check_grouping(table, rows)
        for j, (wanted, column) in enumerate(zip(self.features, self.feature_columns, strict=True)):
            if self.categorical[j]:
                codes = self._levels(table.column(column), j)
                range_reasons.append(UNSEEN_LEVEL)
                values[:, j] = np.where(codes == numbers.OK, self._codes, np.nan)
                failed = codes != numbers.OK
                if self.allow_missing[j]:
                    failed &= codes != numbers.MISSING
                _record(reason_col, reason_code, failed, len(range_reasons) - 1, codes)
                continue
            check_feature_type(column, table.schema.field(column).type)
            col_values, codes = parse_numbers(table.column(column), self.decimal_comma,
                                              self.thousands, writeable=False)
            range_reasons.append(range_codes(col_values, codes, canonical_name(wanted)))
            values[:, j] = col_values
            failed = codes != numbers.OK
            if self.allow_missing[j]:
                failed &= codes != numbers.MISSING
            _record(reason_col, reason_code, failed, len(range_reasons) - 1, codes)
        first_row = None
        if key is not None:
            passed = reason_col < 0
            if passed.all():  # the usual batch: no take, no scatter
                first_row = self.seen.first_rows(id_keys(key) if keys is None else keys, rows)
            else:
                valid = np.flatnonzero(passed)
                first_row = np.full(n, -1, dtype=np.int64)
                valid_keys = (id_keys(key.take(pa.array(valid))) if keys is None
                              else keys[valid])  # keys are per id: a subset's are a subset
                first_row[valid] = self.seen.first_rows(valid_keys, rows[valid])
        rejected = reason_col >= 0
        if first_row is not None:
            rejected |= first_row >= 0
        rejects = self._rejects(table, rows, rejected, reason_col, reason_code, first_row,
                                range_reasons)
        if chunk.parse_rejects.num_rows:
            self.problems[(None, "wrong number of fields")] += chunk.parse_rejects.num_rows
            both = pa.concat_tables([chunk.parse_rejects, rejects])
            rejects = both.take(pc.sort_indices(both, [("row", "ascending")]))
        keep = ~rejected
        if keep.all():
            return keep, values, rejects
        kept = values[keep]
        if out is not None:
            values = out[:len(kept)]
            values[:] = kept
            kept = values
        return keep, kept, rejects

    def _levels(self, column: pa.ChunkedArray, j: int) -> np.ndarray:
        """Check codes of a category column's cells (:data:`numbers.OK`, ``MISSING``, or
        ``OUT_OF_RANGE`` for a level the model does not know); the cells' level codes are left
        in ``self._codes``."""
        self._codes, texts = level_codes(column)
        if len(self.level_texts) < MAX_LEVEL_TEXTS:  # beyond, the scan stops the run anyway
            self.level_texts.update(texts)
        codes = np.where(np.isnan(self._codes), numbers.MISSING, numbers.OK).astype(np.uint8)
        known = self.levels[j]
        if known is not None:
            codes[(codes == numbers.OK) & ~np.isin(self._codes, known)] = numbers.OUT_OF_RANGE
        return codes

    def _check_grouping(self, table: pa.Table, rows: np.ndarray) -> None:
        """Stop at the batch's first feature cell that may be grouped in thousands (the first
        row, then the first feature: the same cell whatever the batches)."""
        hits = [(i, j) for j, column in enumerate(self.feature_columns)
                if not self.categorical[j] and (i := maybe_grouped(table.column(column))) is not None]
        if hits:
            i, j = min(hits)
            cell = str(table.column(self.feature_columns[j])[i].as_py()).strip()
            raise grouping_error(self.unsettled_in, self.feature_columns[j], int(rows[i]), cell)

    def _rejects(self, table: pa.Table, rows: np.ndarray, rejected: np.ndarray,
                 reason_col: np.ndarray, reason_code: np.ndarray, first_row: np.ndarray | None,
                 range_reasons: list[str | None]) -> pa.Table:
        idx = np.flatnonzero(rejected)
        if len(idx) == 0:
            return REJECT_SCHEMA.empty_table()
        col, code = reason_col[idx], reason_code[idx]
        is_dup = col < 0
        # One lookup table (checked column x code) of reason texts, one take per column.
        texts = np.empty((max(len(self.checked), 1), numbers.TOO_LARGE + 1), dtype=object)
        texts[:, numbers.MISSING] = Reason.MISSING
        texts[:, numbers.NON_NUMERIC] = Reason.NON_NUMERIC
        texts[:, numbers.INFINITE] = Reason.INFINITY
        texts[:, numbers.TOO_LARGE] = Reason.TOO_LARGE
        texts[:len(range_reasons), numbers.OUT_OF_RANGE] = range_reasons
        reason = np.empty(len(idx), dtype=object)
        reason[~is_dup] = texts[col[~is_dup], code[~is_dup]]
        before, _, after = Reason.DUPLICATE_ID.partition("{first}")
        if is_dup.any():  # duplicates only where ids were compared (first_row given)
            reason[is_dup] = [f"{before}{first}{after}"
                              for first in first_row[idx[is_dup]].tolist()]
        owner = np.where(is_dup, 0, col)
        column = np.array(self.checked, dtype=object)[owner]
        value = np.full(len(idx), None, dtype=object)
        for j, name in enumerate(self.checked):
            mine = np.flatnonzero(owner == j)
            if len(mine):
                cells = table.column(name).take(pa.array(idx[mine]))
                value[mine] = pc.cast(cells, pa.string()).to_numpy(zero_copy_only=False)
        if self.id_column is not None:
            customer = pc.cast(table.column(self.id_column).take(pa.array(idx)), pa.string())
        else:
            customer = pa.nulls(len(idx), pa.string())
        kinds = np.where(is_dup, "duplicate customer id", reason.astype(str))
        self.problems.update(zip(column.tolist(), kinds.tolist(), strict=True))
        return pa.table({"row": pa.array(rows[idx], pa.int64()), "customer_id": customer,
                         "column": pa.array(column, pa.string()), "value": pa.array(value, pa.string()),
                         "reason": pa.array(reason, pa.string())}, schema=REJECT_SCHEMA)

    def most_common_problem(self) -> str:
        """The most frequent (column, problem) so far, for messages."""
        if not self.problems:
            return "no rows"
        (column, reason), _ = max(self.problems.items(), key=lambda item: item[1])
        return f"{column!r}: {reason}" if column is not None else reason


#: Most level texts remembered (a column with more is no category).
MAX_LEVEL_TEXTS = 10_000
#: Reason of a row whose category is not one of the model's levels (``custseg predict``).
UNSEEN_LEVEL = "category not seen in training"


def grouping_error(source: SourceInfo, column: str, row: int, cell: str) -> DataValidationError:
    """The error for a number that may be grouped in thousands by ``.`` where ``,`` marks
    decimals: says what was seen and that ``--decimal`` decides."""
    kind = {";": "semicolon", "\t": "tab"}.get(source.delimiter or "", repr(source.delimiter))
    return DataValidationError(
        f"{source.name} row {row} in column {column!r} holds {cell!r}: in this {kind}-separated "
        "file ',' marks decimals, so '.' may group thousands or mark decimals too. Say which: "
        "--decimal , ('.' groups thousands: 1.234,5 is 1234.5) or --decimal . ('.' marks "
        "decimals, ',' groups thousands).")


def _record(reason_col: np.ndarray, reason_code: np.ndarray, failed: np.ndarray, column: int,
            codes: np.ndarray | int) -> None:
    """Give rows that failed this check, and no earlier one, this column's reason."""
    if not failed.any():
        return
    new = failed & (reason_col < 0)
    reason_col[new] = column
    reason_code[new] = codes[new] if isinstance(codes, np.ndarray) else codes
