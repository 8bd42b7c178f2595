"""The rejects table: one row per input record that was not segmented, with its reason."""

from __future__ import annotations

import pandas as pd

#: Columns of ``rejected_rows.csv`` and their dtypes.
REJECT_COLUMNS: dict[str, str] = {
    "row": "int64",
    "customer_id": "object",
    "column": "object",
    "value": "object",
    "reason": "object",
}


class Reason:
    """Reason texts written to ``rejected_rows.csv`` (one per rejected row)."""

    MISSING = "missing value"
    NON_NUMERIC = "non-numeric text"
    INFINITY = "infinity"
    NEGATIVE = "negative value"
    BELOW_MIN = "below {low:g}"
    OUT_OF_RANGE = "outside {low:g}..{high:g}"
    DUPLICATE_ID = "duplicate customer id (first seen in row {first})"
    FIELD_COUNT = "wrong number of fields: expected {expected}, found {actual}"


def empty_rejects() -> pd.DataFrame:
    """An empty rejects table with the right columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in REJECT_COLUMNS.items()})


def combine(*parts: pd.DataFrame) -> pd.DataFrame:
    """Concatenate rejects tables, sorted by row number."""
    frames = [p for p in parts if not p.empty]
    if not frames:
        return empty_rejects()
    out = pd.concat(frames, ignore_index=True).sort_values("row", kind="stable")
    return out.reset_index(drop=True).astype(REJECT_COLUMNS)
