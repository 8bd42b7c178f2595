"""Database URLs and the options that go with them (``--table``, ``--query``,
``--output-table``, ``--output-db``, ``--password-env``, ``--if-exists``): what is a database
URL, its password kept apart, and the checks the run, ``choose-k`` and ``predict`` share."""

from __future__ import annotations

import re

from custseg.exceptions import ConfigError

#: What to do when ``--output-table`` already exists.
IF_EXISTS = ("fail", "replace", "append")


def is_url(value: object) -> bool:
    """Whether ``value`` is a URL (``s3a://...``, ``hdfs://...``) rather than a local path.

    Examples
    --------
    >>> is_url("s3a://bucket/customers"), is_url("data/customers.csv")
    (True, False)
    """
    return isinstance(value, str) and "://" in value


#: URL schemes (before any ``+driver``) read as databases: ``postgresql://``, ``sqlite:///``...
DATABASE_SCHEMES = ("postgresql", "postgres", "sqlite", "duckdb")
_URL_PASSWORD = re.compile(r"^(?P<head>[\w+.-]+://[^:/@]*):(?P<password>[^@]*)@")


def is_database_url(value: object) -> bool:
    """Whether ``value`` is a database URL (SQLAlchemy's form: ``dialect[+driver]://...``).

    Examples
    --------
    >>> is_database_url("postgresql+psycopg://analyst@db/shop"), is_database_url("s3a://b/c")
    (True, False)
    """
    if not isinstance(value, str) or "://" not in value:
        return False
    return value.split("://", 1)[0].split("+", 1)[0].lower() in DATABASE_SCHEMES


def split_password(url: str) -> tuple[str, str | None]:
    """A URL without its password, and the password (None when it has none).

    Examples
    --------
    >>> split_password("postgresql://analyst:s3cret@db:5432/shop")
    ('postgresql://analyst@db:5432/shop', 's3cret')
    """
    match = _URL_PASSWORD.match(url)
    if match is None:
        return url, None
    return match.group("head") + "@" + url[match.end():], match.group("password")


def check_database_input(input: object, table: str | None, query: str | None, *,
                         spark: bool = False) -> tuple[object, str | None]:
    """Check ``--table`` / ``--query`` against INPUT; return INPUT without its password, and the
    password (None when it has none, or is no database URL)."""
    if not is_database_url(input):
        if query is not None:
            raise ConfigError("--query goes with a database URL as INPUT (postgresql://user@host/db, "
                              "sqlite:///shop.db, duckdb:///shop.duckdb).")
        if table is not None and not spark:
            raise ConfigError("--table goes with a database URL as INPUT (or with --engine spark: "
                              "a table of the Spark catalog).")
        return input, None
    if spark:
        raise ConfigError("--engine spark reads Spark catalog tables (--table), not database "
                          "URLs; use --engine memory or batches with a database URL.")
    if (table is None) == (query is None):
        raise ConfigError(f"{split_password(input)[0]} is a database: name what to read with "
                          "--table NAME or --query 'SELECT ...' (one of them).")
    return split_password(input)


def check_output_target(output_table: str | None, output_db: str | None, database_input: bool,
                        password_env: str | None = None, *, if_exists: str = "fail",
                        spark: bool = False) -> tuple[str | None, str | None]:
    """Check ``--output-table`` / ``--output-db`` / ``--password-env`` / ``--if-exists``
    together; return ``output_db`` without its password, and the password (never shown)."""
    if if_exists not in IF_EXISTS:
        raise ConfigError(f"--if-exists must be one of {', '.join(IF_EXISTS)} (got {if_exists!r}).")
    if output_db is not None and not is_database_url(output_db):
        raise ConfigError(f"--output-db {output_db!r} is not a database URL. Write "
                          "sqlite:///shop.db, duckdb:///shop.duckdb or postgresql://user@host/db.")
    if output_db is not None and output_table is None:
        raise ConfigError("--output-db names where --output-table goes: add --output-table NAME.")
    if output_db is not None and spark:
        raise ConfigError("--output-db works on the memory and batches engines; with --engine "
                          "spark, --output-table writes to the Spark catalog.")
    if password_env is not None and not database_input and output_db is None:
        raise ConfigError("--password-env goes with a database URL (INPUT or --output-db).")
    if output_table is not None and not (database_input or output_db or spark):
        raise ConfigError("--output-table needs a database to write to: add --output-db URL "
                          "(sqlite:///shop.db, postgresql://user@host/db), or read from one.")
    return split_password(output_db) if output_db is not None else (None, None)
