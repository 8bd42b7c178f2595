"""Dates in transaction logs: which form a column's dates are written in, and parsing them.

A date column is read in one of these forms (:data:`DATE_FAMILIES`), chosen from the first
batch of the log: ISO (``2024-03-05``, with or without a time), compact ``YYYYMMDD`` (the CDNOW
log), day-first (``05/03/2024``, ``05.03.2024``, ``05-03-2024``) and month-first
(``03/05/2024``). When day-first and month-first read the sample equally well (no day above 12
was seen), the order is ambiguous and the run is refused with a message naming
``--date-format``; the user's ``--date-format`` (a ``strptime`` format such as ``%d/%m/%Y``)
is used as given. Parquet and Arrow date or timestamp columns need no parsing.

Dates become Arrow ``date32`` (days since 1970-01-01); a cell that does not parse is null, and
the caller rejects its line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.exceptions import ConfigError, DataValidationError

#: Forms of dates tried on a column, each a list of ``strptime`` formats tried in turn.
DATE_FAMILIES: dict[str, tuple[str, ...]] = {
    "ISO": ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
            "%Y/%m/%d"),
    "YYYYMMDD": ("%Y%m%d",),
    "day-first": ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
                  "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M"),
    "month-first": ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"),
}


@dataclass(frozen=True)
class DateFormat:
    """How a column's dates are written.

    Attributes
    ----------
    name : str
        ``"ISO"``, ``"YYYYMMDD"``, ``"day-first"``, ``"month-first"``, ``"typed"`` (an Arrow
        date or timestamp column) or the user's ``--date-format``.
    formats : tuple of str
        ``strptime`` formats tried in turn (empty for typed columns).
    """

    name: str
    formats: tuple[str, ...] = ()

    def parse(self, column: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The column as ``date32``; null where a cell is empty or does not parse.

        Examples
        --------
        >>> DateFormat("YYYYMMDD", ("%Y%m%d",)).parse(pa.array(["19970101", "x"])).to_pylist()
        [datetime.date(1997, 1, 1), None]
        """
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if is_typed_date(column.type):
            return pc.cast(column, pa.date32())
        text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
        parsed = pa.nulls(len(text), pa.timestamp("s"))
        for fmt in self.formats:
            parsed = pc.coalesce(parsed, _strict_strptime(text, fmt))
        return pc.cast(parsed, pa.date32())


def _unpadded(text: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(text, r"(^|\D)0+(\d)", r"\1\2")


def _strict_strptime(text: pa.Array, fmt: str) -> pa.Array:
    """``strptime``, null where the text is not a real date. Arrow reads 2024-02-30 as March 1,
    so a date that lands on day 1..3 of a month (where such overflows land) is written back in
    ``fmt`` and must give the text again (zero padding aside)."""
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    suspect = pc.indices_nonzero(pc.fill_null(pc.less_equal(pc.day(parsed), 3), False))
    if len(suspect) == 0:
        return parsed
    same = pc.equal(_unpadded(pc.strftime(parsed.take(suspect), format=fmt)),
                    _unpadded(text.take(suspect)))
    bad = np.zeros(len(parsed), dtype=bool)
    bad[suspect.filter(pc.invert(pc.fill_null(same, False))).to_numpy()] = True
    return pc.if_else(pa.array(bad), pa.scalar(None, parsed.type), parsed)


def is_typed_date(kind: pa.DataType) -> bool:
    """Whether an Arrow type already holds dates (date or timestamp)."""
    return pa.types.is_date(kind) or pa.types.is_timestamp(kind)


def parse_as_of(text: str | None) -> int | None:
    """``--as-of`` (ISO ``YYYY-MM-DD``, or ``YYYYMMDD``) as days since 1970-01-01.

    Examples
    --------
    >>> parse_as_of("1998-07-01"), parse_as_of("19980701"), parse_as_of(None)
    (10408, 10408, None)
    """
    if text is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        value = pc.strptime(pa.array([str(text).strip()]), format=fmt, unit="s",
                            error_is_null=True)
        if value[0].is_valid:
            return pc.cast(pc.cast(value, pa.date32()), pa.int32())[0].as_py()
    raise ConfigError(f"--as-of {text!r} is not a date. Write it as YYYY-MM-DD, e.g. --as-of "
                      "2024-03-31.")


def detect_date_format(sample: pa.Array | pa.ChunkedArray, column: str, source_name: str,
                       user_format: str | None = None) -> DateFormat:
    """The form of the dates in ``sample`` (the first batch of the column).

    Parameters
    ----------
    sample : pyarrow array
        The date column's cells of the first batch.
    column, source_name : str
        For messages.
    user_format : str, optional
        ``--date-format``: used as given.

    Raises
    ------
    DataValidationError
        No form reads the dates, or both day-first and month-first read them equally well.

    Examples
    --------
    >>> detect_date_format(pa.array(["2024-03-05", "2024-12-31"]), "date", "log.csv").name
    'ISO'
    >>> detect_date_format(pa.array(["05/03/2024", "25/12/2024"]), "date", "log.csv").name
    'day-first'
    >>> try:
    ...     detect_date_format(pa.array(["05/03/2024"]), "date", "log.csv")
    ... except DataValidationError as exc:
    ...     print(str(exc)[:80])
    Dates in column 'date' of log.csv such as '05/03/2024' read both day-first and m
    """
    if user_format:
        return DateFormat(user_format, (user_format,))
    if isinstance(sample, pa.ChunkedArray):
        sample = sample.combine_chunks()
    if is_typed_date(sample.type):
        return DateFormat("typed")
    text = pc.utf8_trim_whitespace(pc.cast(sample, pa.string()))
    text = pc.filter(text, pc.not_equal(text, ""))
    if len(text) == 0:
        raise DataValidationError(f"Column {column!r} of {source_name} holds no dates in its first "
                                  "lines. Check the column, or name another with --date-column.")
    counts = {name: DateFormat(name, formats).parse(text).null_count
              for name, formats in DATE_FAMILIES.items()}
    best = min(counts.values())
    if best == len(text):
        raise DataValidationError(
            f"Cannot read the dates in column {column!r} of {source_name} (e.g. "
            f"{text[0].as_py()!r}). Name their form with --date-format, e.g. --date-format "
            "'%Y-%m-%d'.")
    winners = [name for name, bad in counts.items() if bad == best]
    if "day-first" in winners and "month-first" in winners:
        example = text[0].as_py()
        raise DataValidationError(
            f"Dates in column {column!r} of {source_name} such as {example!r} read both "
            "day-first and month-first. Name the order with --date-format '%d/%m/%Y' (day first) "
            "or --date-format '%m/%d/%Y' (month first).")
    return DateFormat(winners[0], DATE_FAMILIES[winners[0]])
