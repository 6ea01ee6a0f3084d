"""Pure parts: URLs and redaction, MySQL type/default parsing, names, overrides, protocol."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import ferryman.engines  # noqa: F401
from ferryman.core.errors import ConfigError, ConnectError
from ferryman.core.names import bounded_name
from ferryman.core.redact import redact
from ferryman.core.registry import registered_schemes, resolve
from ferryman.core.schema import Default, Kind
from ferryman.core.url import parse_url
from ferryman.engines.mysql.types import logical_type, parse_default, parse_labels
from ferryman.logs import RedactingFilter
from ferryman.pipeline.schema import parse_type_overrides


def test_url_parts_and_redaction() -> None:
    url = parse_url("mysql://app%40x:p%3Ass%40word@db.example:3307/shop?ssl-mode=required")
    assert (url.user, url.password, url.host, url.port, url.database) == (
        "app@x",
        "p:ss@word",
        "db.example",
        3307,
        "shop",
    )
    assert "p:ss@word" not in repr(url) and "p:ss@word" not in str(url)
    assert str(url) == "mysql://app%40x:***@db.example:3307/shop?ssl-mode=required"
    assert redact("oops p:ss@word and p%3Ass%40word") == "oops *** and ***"


def test_default_ports_and_schemes() -> None:
    assert parse_url("postgres://u@h/d").port == 5432
    assert parse_url("mariadb://u@h/d").port == 3306
    assert parse_url("etcd://h/prefix/x").database == "prefix/x"
    assert set(registered_schemes()) == {"mysql", "mariadb", "postgresql", "postgres", "etcd"}


def test_exceptions_and_logs_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    parse_url("postgresql://u:hunter2-secret@h/d")
    err = ConnectError("driver said: password hunter2-secret is wrong", hint="hunter2-secret")
    assert "hunter2-secret" not in err.render()
    record = logging.LogRecord("ferryman", logging.INFO, "", 0, "pw=%s", ("hunter2-secret",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "pw=***"


def test_unknown_option_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown option sslmod"):
        resolve("postgresql://u@h/d?sslmod=require")


@pytest.mark.parametrize(
    ("data_type", "column_type", "kind", "extra"),
    [
        ("tinyint", "tinyint(1)", Kind.BOOLEAN, {}),
        ("tinyint", "tinyint(1) unsigned", Kind.INTEGER, {"bits": 8, "unsigned": True}),
        ("bigint", "bigint(20) unsigned", Kind.INTEGER, {"bits": 64, "unsigned": True}),
        ("mediumint", "mediumint(9)", Kind.INTEGER, {"bits": 24}),
        ("decimal", "decimal(65,30)", Kind.DECIMAL, {"precision": 65, "scale": 30}),
        ("double", "double", Kind.FLOAT, {"bits": 64}),
        ("bit", "bit(64)", Kind.BIT, {"length": 64}),
        ("time", "time(2)", Kind.TIME, {"fsp": 2}),
        ("timestamp", "timestamp(3)", Kind.TIMESTAMP, {"fsp": 3}),
        ("binary", "binary(8)", Kind.BINARY, {"length": 8}),
        ("mediumblob", "mediumblob", Kind.BLOB, {"length": 16777215}),
        ("uuid", "uuid", Kind.UUID, {}),
        ("point", "point", Kind.UNSUPPORTED, {}),
    ],
)
def test_mysql_logical_types(
    data_type: str, column_type: str, kind: Kind, extra: dict[str, Any]
) -> None:
    precision = extra.get("precision") or (extra.get("length") if data_type == "bit" else None)
    t = logical_type(
        data_type,
        column_type,
        char_length=None,
        octet_length=extra.get("length"),
        precision=precision,
        scale=extra.get("scale"),
        fsp=extra.get("fsp"),
    )
    assert t.kind is kind
    for key, value in extra.items():
        assert getattr(t, key) == value, key


def test_enum_labels_with_quotes_and_commas() -> None:
    assert parse_labels("enum('a','it''s','x,y','back\\\\slash')") == (
        "a",
        "it's",
        "x,y",
        "back\\slash",
    )


@pytest.mark.parametrize(
    ("raw", "mariadb", "extra", "expected"),
    [
        ("'abc'", True, "", Default("literal", "abc")),
        ("'it''s'", True, "", Default("literal", "it's")),
        ("NULL", True, "", Default("null")),
        ("7", True, "", Default("literal", "7")),
        ("b'101'", True, "", Default("literal", "5")),
        ("current_timestamp(6)", True, "", Default("current_timestamp")),
        ("uuid()", True, "", Default("expression", "uuid()")),
        ("abc", False, "", Default("literal", "abc")),
        ("CURRENT_TIMESTAMP", False, "DEFAULT_GENERATED", Default("current_timestamp")),
        ("(rand())", False, "DEFAULT_GENERATED", Default("expression", "(rand())")),
    ],
)
def test_mysql_defaults(raw: str, mariadb: bool, extra: str, expected: Default) -> None:
    assert parse_default(raw, mariadb=mariadb, extra=extra, nullable=True) == expected


def test_bounded_names_stay_distinct() -> None:
    long = "x" * 70
    a = bounded_name(long, "index_one", max_bytes=63)
    b = bounded_name(long, "index_two", max_bytes=63)
    assert len(a.encode()) <= 63 and len(b.encode()) <= 63 and a != b
    assert bounded_name("t", "i", max_bytes=63) == "t_i"


def test_type_overrides() -> None:
    assert parse_type_overrides(["a.b=text", "sch.t.c = varchar(3)"]) == {
        ("a", "b"): "text",
        ("sch.t", "c"): "varchar(3)",
    }
    with pytest.raises(ConfigError):
        parse_type_overrides(["nodot=text"])
