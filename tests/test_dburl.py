"""Database URLs: back-ends, where the password comes from, quoted names (``custseg.io.dburl``)."""

from __future__ import annotations

import pytest

from custseg.config import RunConfig
from custseg.dboptions import is_database_url, split_password
from custseg.exceptions import ConfigError
from custseg.io.dburl import TableName, parse_url, quote_identifier


@pytest.mark.parametrize(("url", "backend", "database"), [
    ("postgresql://a@h/shop", "postgresql", "shop"),
    ("postgresql+psycopg2://a@h:5433/shop?sslmode=require", "postgresql", "shop"),
    ("postgres://a@h/shop", "postgresql", "shop"),
    ("sqlite:///data/shop.db", "sqlite", "data/shop.db"),
    ("sqlite:////abs/shop.db", "sqlite", "/abs/shop.db"),
    ("duckdb:///shop.duckdb", "duckdb", "shop.duckdb"),
])
def test_backends(url, backend, database):
    parsed = parse_url(url)
    assert (parsed.backend, parsed.database) == (backend, database)


def test_password_from_url_env_or_none(monkeypatch):
    assert parse_url("postgresql://a:p%40ss@h/db").password == "p@ss"
    monkeypatch.setenv("SHOP_PW", "from-env")
    assert parse_url("postgresql://a@h/db", password_env="SHOP_PW").password == "from-env"
    assert parse_url("postgresql://a@h/db").password is None
    with pytest.raises(ConfigError, match="SHOP_PW2: that environment variable is not set"):
        parse_url("postgresql://a@h/db", password_env="SHOP_PW2")


def test_libpq_uri_keeps_parameters_and_adds_options():
    uri = parse_url("postgresql+psycopg://a:s%20cret@h:5433/db?sslmode=require").libpq_uri(
        "-c default_transaction_read_only=on")
    assert uri.startswith("postgresql://a:s%20cret@h:5433/db?")
    assert "sslmode=require" in uri
    assert "options=-c%20default_transaction_read_only%3Don" in uri


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql://a@h",
                                 "mysql://a@h/db", "postgresql://a@h:notaport/db"])
def test_refused(url):
    with pytest.raises(ConfigError):
        parse_url(url)


def test_config_keeps_the_password_apart():
    config = RunConfig(input="postgresql://a:s3cret@h/db", table="t")
    assert config.input == "postgresql://a@h/db"
    assert config.password == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.with_(k=4).password == "s3cret"


@pytest.mark.parametrize(("value", "expected"), [
    ("postgresql://a@h/db", True), ("sqlite:///x.db", True), ("DuckDB:///x", True),
    ("s3a://bucket/x", False), ("customers.csv", False), (None, False),
])
def test_is_database_url(value, expected):
    assert is_database_url(value) is expected


def test_split_password_without_one():
    assert split_password("postgresql://a@h/db") == ("postgresql://a@h/db", None)


@pytest.mark.parametrize(("text", "schema", "name"), [
    ("customers", None, "customers"), ("crm.customers", "crm", "customers"),
    ('"a.b"', None, "a.b"), ('"we""ird"', None, 'we"ird'), ('crm."Mixed Case"', "crm", "Mixed Case"),
])
def test_table_names(text, schema, name):
    table = TableName.parse(text)
    assert (table.schema, table.name) == (schema, name)


@pytest.mark.parametrize("text", ["a.b.c", "", "a..b"])
def test_bad_table_names(text):
    with pytest.raises(ConfigError):
        TableName.parse(text)


def test_identifiers_are_quoted():
    assert quote_identifier('x"; DROP TABLE t; --') == '"x""; DROP TABLE t; --"'
