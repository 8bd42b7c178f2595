"""Date forms of transaction logs: detection, ambiguity refused, parsing, --as-of."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from custseg.exceptions import ConfigError, DataValidationError
from custseg.io.dates import DateFormat, detect_date_format, parse_as_of


@pytest.mark.parametrize(("cells", "family", "first"), [
    (["2024-03-05", "2024-12-31"], "ISO", dt.date(2024, 3, 5)),
    (["2024-03-05 10:11:12", "2024-12-31T00:00:00"], "ISO", dt.date(2024, 3, 5)),
    (["19970101", "19980630"], "YYYYMMDD", dt.date(1997, 1, 1)),
    (["05/03/2024", "25/12/2024"], "day-first", dt.date(2024, 3, 5)),
    (["05.03.2024", "25.12.2024"], "day-first", dt.date(2024, 3, 5)),
    (["03/05/2024", "12/25/2024"], "month-first", dt.date(2024, 3, 5)),
])
def test_detects_the_form_and_parses(cells: list[str], family: str, first: dt.date) -> None:
    fmt = detect_date_format(pa.array(cells), "date", "log.csv")
    assert fmt.name == family
    assert fmt.parse(pa.array(cells))[0].as_py() == first


def test_ambiguous_dates_are_refused_naming_date_format() -> None:
    with pytest.raises(DataValidationError, match="--date-format '%d/%m/%Y'") as err:
        detect_date_format(pa.array(["01/02/2024", "03/04/2024", ""]), "order_date", "log.csv")
    assert "order_date" in str(err.value)
    assert "01/02/2024" in str(err.value)


def test_user_format_settles_ambiguity() -> None:
    fmt = detect_date_format(pa.array(["01/02/2024"]), "date", "log.csv", "%m/%d/%Y")
    assert fmt.parse(pa.array(["01/02/2024"]))[0].as_py() == dt.date(2024, 1, 2)


def test_unreadable_dates_name_the_option() -> None:
    with pytest.raises(DataValidationError, match="--date-format"):
        detect_date_format(pa.array(["yesterday", "last week"]), "date", "log.csv")


def test_bad_cells_parse_to_null_and_typed_columns_pass_through() -> None:
    fmt = DateFormat("ISO", ("%Y-%m-%d",))
    assert fmt.parse(pa.array(["2024-02-30", "x", None, "2024-02-29"])).to_pylist() == [
        None, None, None, dt.date(2024, 2, 29)]
    typed = pa.array([dt.datetime(2024, 1, 2, 23, 59)], pa.timestamp("s"))
    assert detect_date_format(typed, "date", "log.parquet").name == "typed"
    assert DateFormat("typed").parse(typed).to_pylist() == [dt.date(2024, 1, 2)]


def test_as_of() -> None:
    assert parse_as_of("1970-01-02") == 1
    with pytest.raises(ConfigError, match="--as-of"):
        parse_as_of("31/12/2024")
