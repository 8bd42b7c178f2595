"""Database URLs (SQLAlchemy's form, ``dialect[+driver]://user@host:port/database``), the names of
tables in them, and messages that never show a password.

Three back-ends: PostgreSQL (``postgresql://``; any ``+driver`` suffix is accepted and ignored,
rows move through the ADBC driver), SQLite files (``sqlite:///shop.db``, four slashes for an
absolute path) and DuckDB files (``duckdb:///shop.duckdb``). The password comes from the URL,
else from ``--password-env VAR``, else (PostgreSQL) from ``PGPASSWORD`` as libpq reads it; it is
kept out of :attr:`DatabaseUrl.display` and scrubbed from every message (:meth:`DatabaseUrl.scrub`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlencode

from custseg.dboptions import DATABASE_SCHEMES, split_password
from custseg.exceptions import ConfigError, InputFileError
from custseg.optional import import_optional

#: The pip extra with the database drivers.
SQL_EXTRA = "sql"
BACKENDS = {"postgresql": "postgresql", "postgres": "postgresql", "sqlite": "sqlite",
            "duckdb": "duckdb"}


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed database URL.

    Attributes
    ----------
    backend : {"postgresql", "sqlite", "duckdb"}
        Which driver reads it.
    display : str
        The URL without any password, for messages and outputs.
    database : str
        PostgreSQL: the database name; SQLite and DuckDB: the file's path.
    password : str or None
        The password to connect with (never shown).
    """

    backend: str
    display: str
    database: str
    password: str | None = field(default=None, repr=False)
    _url: object = field(default=None, repr=False, compare=False)

    def libpq_uri(self, options: str = "") -> str:
        """A libpq connection URI (PostgreSQL), the password included, ``options`` added to the
        server options (``-c name=value ...``)."""
        url = self._url
        query = {key: value if isinstance(value, str) else value[-1]
                 for key, value in url.query.items()}
        if options:
            query["options"] = " ".join(filter(None, [query.get("options", ""), options]))
        auth = ""
        if url.username is not None:
            auth = quote(url.username, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        host = url.host or ""
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        port = f":{url.port}" if url.port else ""
        # libpq decodes %20, not "+", in URI parameters.
        params = "?" + urlencode(query, quote_via=quote) if query else ""
        return f"postgresql://{auth}{host}{port}/{quote(self.database, safe='')}{params}"

    def scrub(self, text: str) -> str:
        """``text`` with the password (as given, and URL-encoded) replaced by ``***``."""
        for secret in {self.password, os.environ.get("PGPASSWORD")}:
            if secret:
                text = text.replace(secret, "***")
        return text


def parse_url(url: str, password: str | None = None, password_env: str | None = None
              ) -> DatabaseUrl:
    """Parse a database URL (SQLAlchemy's ``make_url``) and find its password.

    Parameters
    ----------
    url : str
        ``postgresql://user@host/db``, ``sqlite:///shop.db``, ``duckdb:///shop.duckdb``.
    password : str, optional
        A password taken out of the URL before (:func:`custseg.config.split_password`).
    password_env : str, optional
        Name of an environment variable holding the password (``--password-env``).

    Raises
    ------
    MissingDependencyError
        SQLAlchemy is not installed (``pip install 'custseg[sql]'``).
    ConfigError
        Not a URL of a supported database, or ``password_env`` is not set.

    Examples
    --------
    >>> u = parse_url("postgresql+psycopg://analyst:s3cret@db.example:5432/shop")
    >>> u.backend, u.display, u.database
    ('postgresql', 'postgresql+psycopg://analyst@db.example:5432/shop', 'shop')
    >>> parse_url("sqlite:///data/shop.db").database
    'data/shop.db'
    """
    sa_url = import_optional("sqlalchemy.engine.url", SQL_EXTRA, "Reading a database URL")
    bare, inline = split_password(url)
    try:
        parsed = sa_url.make_url(bare)
    except Exception as exc:  # SQLAlchemy's ArgumentError, or ValueError for a bad port
        raise ConfigError(f"{bare} is not a database URL SQLAlchemy reads ({exc}). Write it as "
                          "postgresql://user@host:5432/database or sqlite:///file.db.") from None
    backend = BACKENDS.get(parsed.get_backend_name())
    if backend is None:
        raise ConfigError(f"{bare}: custseg reads {', '.join(DATABASE_SCHEMES)} databases.")
    secret = unquote(inline) if inline is not None else password
    if secret is None and password_env is not None:
        secret = os.environ.get(password_env)
        if secret is None:
            raise ConfigError(f"--password-env {password_env}: that environment variable is not "
                              "set. Export it with the database password first.")
    database = parsed.database or ""
    if backend != "postgresql" and database in ("", ":memory:"):
        raise ConfigError(f"{bare} names no database file. Write sqlite:///shop.db (relative) "
                          "or sqlite:////abs/path/shop.db.")
    if backend == "postgresql" and not database:
        raise ConfigError(f"{bare} names no database. Write postgresql://user@host:5432/database.")
    return DatabaseUrl(backend, parsed.render_as_string(hide_password=True).replace(":***@", "@"),
                       database, secret, parsed)


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (double quotes doubled): never pasted as bare text.

    Examples
    --------
    >>> quote_identifier('customers'), quote_identifier('we"ird; DROP TABLE x')
    ('"customers"', '"we""ird; DROP TABLE x"')
    """
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableName:
    """A table, optionally in a schema: ``customers``, ``crm.customers``, ``"odd.name"``.

    Examples
    --------
    >>> TableName.parse("crm.customers").sql
    '"crm"."customers"'
    >>> TableName.parse('"my.table"').name, TableName.parse("t").with_suffix("_segments").sql
    ('my.table', '"t_segments"')
    """

    schema: str | None
    name: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        """Parse ``[schema.]table``; a double-quoted part is taken as written."""
        if '"' not in text and any(not p.strip() for p in text.split(".")):
            raise ConfigError(f"Table name {text!r} is not NAME or SCHEMA.NAME.")
        pieces = re.findall(r'"(?:[^"]|"")*"|[^."]+', text.strip())
        parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p.strip() for p in pieces]
        if not parts or len(parts) > 2 or not all(parts):
            raise ConfigError(f"Table name {text!r} is not NAME or SCHEMA.NAME.")
        return cls(None, parts[0]) if len(parts) == 1 else cls(parts[0], parts[1])

    @property
    def sql(self) -> str:
        """Quoted for SQL."""
        name = quote_identifier(self.name)
        return name if self.schema is None else f"{quote_identifier(self.schema)}.{name}"

    @property
    def text(self) -> str:
        """As a person writes it."""
        return self.name if self.schema is None else f"{self.schema}.{self.name}"

    def with_suffix(self, suffix: str) -> TableName:
        """The table named ``<name><suffix>`` in the same schema."""
        return TableName(self.schema, self.name + suffix)


def missing_file(url: DatabaseUrl) -> InputFileError:
    """The error for an SQLite or DuckDB file that does not exist."""
    return InputFileError(f"Database file {url.database} ({url.display}) does not exist. Check "
                          "the path (sqlite:///relative.db, sqlite:////absolute/path.db).")
