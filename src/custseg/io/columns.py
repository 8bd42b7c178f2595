"""Find the columns a run asks for among the columns a file has.

Exports from CRMs and spreadsheets name the same thing many ways. A wanted name is matched, in
this order, by: the user's ``--column-map OLD=NEW`` renames; the exact name; the same name
ignoring case, spaces and punctuation; a known alias (``Genre`` for ``Gender``, ``AnnualIncome``
for ``Annual Income (k$)``...). A name that matches nothing is an error that lists the columns
present and the closest one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from custseg.exceptions import ConfigError, DataValidationError

#: Names that mean the same column. The first name of each group is the canonical one: the one
#: validation rules and business names are keyed by.
ALIAS_GROUPS: tuple[tuple[str, ...], ...] = (
    ("CustomerID", "Customer ID", "customer_id", "CustID", "cust_id", "client_id", "ClientID"),
    ("Gender", "Genre", "Sex"),
    ("Age", "age_years"),
    (
        "Annual Income (k$)", "AnnualIncome", "annual_income_thousands", "Annual Income",
        "annual_income", "Income", "Annual Income (k)", "Income (k$)",
    ),
    (
        "Spending Score (1-100)", "SpendingScore", "spending_score", "Spending Score",
        "Score", "Spending",
    ),
)


def normalise(name: str) -> str:
    """Lower-case ``name`` and drop everything but letters and digits.

    Examples
    --------
    >>> normalise(" Annual Income (k$) ")
    'annualincomek'
    """
    return re.sub(r"[^0-9a-z]", "", name.lower())


def canonical_name(name: str) -> str:
    """The canonical name of the alias group ``name`` belongs to, or ``name`` itself.

    Examples
    --------
    >>> canonical_name("Genre"), canonical_name("spending_score"), canonical_name("Fresh")
    ('Gender', 'Spending Score (1-100)', 'Fresh')
    """
    key = normalise(name)
    for group in ALIAS_GROUPS:
        if any(normalise(alias) == key for alias in group):
            return group[0]
    return name


def parse_column_map(items: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Turn ``["OLD=NEW", ...]`` (or a mapping) into ``{OLD: NEW}``.

    Examples
    --------
    >>> parse_column_map(["Income=Annual Income (k$)"])
    {'Income': 'Annual Income (k$)'}
    """
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ConfigError(
                f"--column-map {item!r} is not OLD=NEW. Example: --column-map 'Income=Annual Income (k$)'."
            )
        out[old.strip()] = new.strip()
    return out


def resolve_column(
    wanted: str,
    present: Sequence[str],
    column_map: Mapping[str, str] | None = None,
    source_name: str | None = None,
) -> str | None:
    """Return the column of ``present`` that holds ``wanted``, or ``None``.

    The user's ``--column-map`` wins, then the exact name; otherwise every column whose name,
    ignoring case and punctuation, is ``wanted`` or one of its aliases is a match, and two
    matches are an error rather than a guess.

    Parameters
    ----------
    source_name : str, optional
        The input's name, for the error. Without it, two matches give ``None``, not an error
        (for optional columns, such as the one that colours a figure).

    Raises
    ------
    DataValidationError
        Two or more columns match ``wanted`` (and ``source_name`` is given).

    Examples
    --------
    >>> resolve_column("Gender", ["CustomerID", "Genre", "Age"])
    'Genre'
    >>> resolve_column("Annual Income (k$)", ["annual_income_thousands"])
    'annual_income_thousands'
    >>> resolve_column("X", ["Y"], {"Y": "X"})
    'Y'
    >>> try:
    ...     resolve_column("Annual Income (k$)", ["Income", "Annual Income"], source_name="a.csv")
    ... except DataValidationError as exc:
    ...     print(str(exc).split(". ")[0])
    Columns 'Income' and 'Annual Income' of a.csv both match 'Annual Income (k$)'
    """
    column_map = column_map or {}
    for old, new in column_map.items():
        if new == wanted and old in present:
            return old
    if wanted in present:
        return wanted
    keys = {normalise(name) for name in _names_of(wanted)}
    # A column the map sends to another name is not a candidate for this one.
    found = [c for c in present if normalise(c) in keys and column_map.get(c, wanted) == wanted]
    if len(found) > 1:
        if source_name is None:
            return None
        raise ambiguous_column_error(wanted, found, source_name)
    return found[0] if found else None


def _names_of(wanted: str) -> list[str]:
    """``wanted`` and its aliases."""
    key = normalise(wanted)
    names = [wanted]
    for group in ALIAS_GROUPS:
        if any(normalise(alias) == key for alias in group):
            names += [alias for alias in group if alias != wanted]
    return names


def ambiguous_column_error(wanted: str, found: Sequence[str], source_name: str
                           ) -> DataValidationError:
    """The error for two or more columns that could each hold ``wanted``."""
    quoted = [repr(c) for c in found]
    listed = " and ".join([", ".join(quoted[:-1]), quoted[-1]])
    return DataValidationError(
        f"Columns {listed} of {source_name} {'both' if len(found) == 2 else 'all'} match "
        f"{wanted!r}. Choose one with --column-map, e.g. --column-map '{found[0]}={wanted}'.")


def how_matched(wanted: str, column: str, column_map: Mapping[str, str] | None = None) -> str:
    """How the column ``column`` was found for ``wanted``: ``"name"`` (exactly),
    ``"column map"`` (``--column-map``), ``"case and punctuation"`` (the same name written
    otherwise) or ``"alias"``.

    Examples
    --------
    >>> how_matched("Annual Income (k$)", "income"), how_matched("Age", "AGE")
    ('alias', 'case and punctuation')
    """
    if (column_map or {}).get(column) == wanted:
        return "column map"
    if column == wanted:
        return "name"
    return "case and punctuation" if normalise(column) == normalise(wanted) else "alias"


def missing_column_error(wanted: str, present: Sequence[str], source_name: str,
                         option: str = "--features") -> DataValidationError:
    """The error for a column that is not in the input: lists what is there and the closest."""
    listed = ", ".join(repr(p) for p in present) if present else "(none)"
    keys = {normalise(p): p for p in present}
    close = difflib.get_close_matches(normalise(wanted), list(keys), n=1, cutoff=0.5)
    hint = f" Did you mean {keys[close[0]]!r}?" if close else ""
    return DataValidationError(
        f"Column {wanted!r} not found in {source_name}. Columns present: {listed}.{hint} "
        f"Use {option} or --column-map OLD=NEW."
    )


def resolve_columns(columns: Sequence[str], features: Sequence[str], id_column: str | None,
                    source_name: str, *, id_required: bool = False,
                    column_map: Mapping[str, str] | None = None) -> tuple[list[str], str | None]:
    """The input columns holding ``features`` and the id, resolved as ``run`` resolves them.

    Parameters
    ----------
    columns : sequence of str
        The input's columns.
    features : sequence of str
        Feature names asked for.
    id_column : str or None
        Id column asked for.
    source_name : str
        The input's name, for messages.
    id_required : bool, default False
        When False, a missing id column means: identify rows by number.
    column_map : mapping, optional
        ``{column in file: name wanted}``.

    Returns
    -------
    feature_columns : list of str
    id_column : str or None

    Raises
    ------
    DataValidationError
        A feature (or a required id) column is missing, or two columns match one.
    ConfigError
        Two features name the same column.

    Examples
    --------
    >>> resolve_columns(["CustomerID", "Age", "Income"], ["Income"], "CustomerID", "x.csv")
    (['Income'], 'CustomerID')
    """
    present = list(columns)
    feature_columns = []
    for wanted in features:
        found = resolve_column(wanted, present, column_map, source_name)
        if found is None:
            raise missing_column_error(wanted, present, source_name)
        feature_columns.append(found)
    dupes = {c for c in feature_columns if feature_columns.count(c) > 1}
    if dupes:
        raise ConfigError(f"Two features name the same column {sorted(dupes)[0]!r} of {source_name}.")
    id_col = resolve_column(id_column, present, column_map, source_name) if id_column else None
    if id_column and id_col is None and id_required:
        raise missing_column_error(id_column, present, source_name, option="--id-column")
    return feature_columns, id_col
