"""Features chosen when none are given: the table's numeric behaviour columns.

When the default features (the Mall data's income and spending score) are not in a table and
``--features`` was not given, a run clusters on the columns that describe behaviour. The
choice is made on the first :data:`PROBE_ROWS` records (the same rows whatever the engine and
batch size, so the same choice) and keeps a numeric column unless it is

1. the id column (or an integer column named like an id whose values are all distinct);
2. named with ``--exclude``;
3. constant (one distinct value);
4. an integer code: whole numbers with at most :data:`MAX_CODE_VALUES` distinct values
   (``Channel``, ``Region``, ``TENURE`` in months 6..12);
5. a near-duplicate of a column kept before it: ``|r| >`` :data:`MAX_CORRELATION` (Pearson,
   pairwise complete rows); the earlier column in table order is kept.

A column is numeric when every cell that is not missing parses as a number
(:func:`custseg.io.numbers.parse_numbers`). :class:`FeatureChoice` says what was kept and
why each other column was left out; ``segments.json`` records it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from custseg.exceptions import DataValidationError
from custseg.io import numbers
from custseg.io.columns import normalise

#: Records read to choose the features.
PROBE_ROWS = 50_000
#: Whole-number columns with at most this many distinct values are codes, not behaviour.
MAX_CODE_VALUES = 10
#: Of two columns correlated beyond this (absolute Pearson r), only the first is kept.
MAX_CORRELATION = 0.95


@dataclass(frozen=True)
class FeatureChoice:
    """The features a run chose by itself, and why the other columns were left out.

    Attributes
    ----------
    features : tuple of str
        The columns kept, in table order.
    left_out : tuple of (str, str)
        ``(column, reason)`` for every other column, in table order.
    probe_rows : int
        Records the choice looked at.
    """

    features: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]
    probe_rows: int

    def summary(self) -> str:
        """The choice in one line, for the terminal.

        Examples
        --------
        >>> FeatureChoice(("a", "b"), (("id", "the id"), ("c", "a code")), 10).summary()
        'Features chosen: a, b (left out: id: the id; c: a code). Override with --features.'
        """
        out = "; ".join(f"{column}: {reason}" for column, reason in self.left_out)
        return (f"Features chosen: {', '.join(self.features)}"
                f"{f' (left out: {out})' if out else ''}. Override with --features.")

    def to_dict(self) -> dict:
        """For ``segments.json``."""
        return {"chosen": "automatically", "features": list(self.features),
                "left_out": [{"column": c, "reason": r} for c, r in self.left_out],
                "rule": (f"numeric columns, not the id, not constant, not whole-number codes with "
                         f"<= {MAX_CODE_VALUES} values, not |r| > {MAX_CORRELATION} with a column "
                         "kept before"),
                "probe_rows": self.probe_rows}


def choose_features(table: pa.Table, id_column: str | None, source_name: str, *,
                    exclude: Sequence[str] = (), decimal_comma: bool = False,
                    categorical: Sequence[str] = (),
                    thousands: str | None = None) -> FeatureChoice:
    """Choose the behaviour columns of ``table`` (see the module notes).

    Parameters
    ----------
    table : pyarrow.Table
        The first records of the input (every column).
    id_column : str or None
        The input's id column.
    source_name : str
        The input's name, for messages.
    exclude : sequence of str, default ()
        Columns never to choose (``--exclude``).
    categorical : sequence of str, default ()
        Columns that are categorical features (``--categorical``), never numeric ones.
    decimal_comma : bool, default False
        Accept ``12,5`` as 12.5.
    thousands : {".", ","} or None, default None
        The mark grouping thousands (``--decimal`` chose the other).

    Returns
    -------
    FeatureChoice

    Raises
    ------
    DataValidationError
        An excluded column is not in the table, or no column is left.

    Examples
    --------
    >>> t = pa.table({"id": [1, 2, 3, 4], "code": [1, 2, 1, 2], "spend": [1.5, 20.0, 3.0, 4.0],
    ...               "spend2": [3.0, 40.1, 6.0, 8.0], "name": ["a", "b", "c", "d"]})
    >>> choice = choose_features(t, "id", "t.csv")
    >>> choice.features, [c for c, _ in choice.left_out]
    (('spend',), ['id', 'code', 'spend2', 'name'])
    """
    columns = list(table.column_names)
    for name in exclude:
        if name not in columns:
            listed = ", ".join(repr(c) for c in columns)
            raise DataValidationError(
                f"--exclude {name!r}: no such column in {source_name}. Columns present: {listed}.")
    left_out: dict[str, str] = {}
    candidates: dict[str, np.ndarray] = {}
    for name in columns:
        reason = None
        if name == id_column:
            reason = "the id"
        elif name in exclude:
            reason = "--exclude"
        elif name in categorical:
            reason = "--categorical"
        else:
            reason, values = _numeric_reason(name, table.column(name), decimal_comma, thousands)
            if reason is None:
                candidates[name] = values
        if reason is not None:
            left_out[name] = reason
    kept: list[str] = []
    for name, values in candidates.items():
        twin = next((k for k in kept if abs(_correlation(candidates[k], values)) > MAX_CORRELATION),
                    None)
        if twin is None:
            kept.append(name)
        else:
            r = _correlation(candidates[twin], values)
            left_out[name] = f"near-duplicate of {twin} (r = {r:.2f}), {twin} kept"
    if not kept:
        raise DataValidationError(
            f"No numeric behaviour column to segment on in {source_name} (every column is the id, "
            "text, constant or a code). Name the columns with --features.")
    return FeatureChoice(tuple(kept), tuple((c, left_out[c]) for c in columns if c in left_out),
                         table.num_rows)


def _numeric_reason(name: str, column: pa.ChunkedArray, decimal_comma: bool,
                    thousands: str | None = None) -> tuple[str | None, np.ndarray]:
    """Why ``column`` is not a behaviour feature (None if it is), and its values."""
    values, codes = numbers.parse_numbers(column, decimal_comma, thousands)
    present = codes == numbers.OK
    if np.any((codes != numbers.OK) & (codes != numbers.MISSING)) or not present.any():
        return "not numeric", values
    observed = values[present]
    distinct = np.unique(observed)
    if len(distinct) <= 1:
        return "constant", values
    whole = bool(np.all(observed == np.round(observed)))
    if whole and len(distinct) <= MAX_CODE_VALUES:
        return f"a code ({len(distinct)} whole-number values)", values
    if whole and len(distinct) == len(observed) and normalise(name).endswith("id"):
        return "an id (distinct whole numbers)", values
    return None, values


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over the rows where both are present (0 when it is undefined)."""
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 3:
        return 0.0
    x, y = a[both] - a[both].mean(), b[both] - b[both].mean()
    denominator = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return float(np.dot(x, y) / denominator) if denominator > 0 else 0.0
