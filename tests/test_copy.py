"""`ferryman copy` in all four directions: every type, compared row by row and column by column
with an independent reader (tests/compare.py), plus keys, filters, renames and parallelism."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import struct
from decimal import Decimal
from typing import Any

from ferryman.testing.rows import MYSQL_COLUMNS, MYSQL_ROWS, POSTGRES_COLUMNS, POSTGRES_ROWS
from ferryman.testing.samples import MYSQL_EVERY_TYPE, POSTGRES_EVERY_TYPE
from tests.compare import assert_same_rows, mysql_rows, pg_rows
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman


def load_mysql_types(db: MySQLDatabase) -> None:
    for sql in MYSQL_EVERY_TYPE:
        db.execute(sql)
    db.execute(f"INSERT INTO everything ({MYSQL_COLUMNS}) VALUES {', '.join(MYSQL_ROWS)}")
    db.execute("INSERT INTO `order` VALUES (1, 'a', 1), (1, 'b', 2), (2, 'a', NULL)")
    db.execute("INSERT INTO customer VALUES (1, 'x', 'x@y'), (2, 'y', NULL)")
    db.execute("INSERT INTO line VALUES (1, 1), (2, NULL)")


def load_pg_types(db: PostgresDatabase) -> None:
    for sql in POSTGRES_EVERY_TYPE:
        db.execute(sql)
    db.execute(f"INSERT INTO everything ({POSTGRES_COLUMNS}) VALUES {', '.join(POSTGRES_ROWS)}")
    db.execute("INSERT INTO \"order\" VALUES (1, 'a', 1), (1, 'b', 2), (2, 'a', NULL)")
    db.execute("INSERT INTO customer VALUES (1, 'x', 'x@y'), (2, 'y', NULL)")
    db.execute("INSERT INTO line VALUES (1, 1), (2, NULL)")


def _json(v: Any) -> Any:
    if isinstance(v, tuple) and v and v[0] == "json?":
        return v[1]
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _f32(v: Any) -> Any:
    if isinstance(v, float):
        return ("f32", struct.pack("<f", v))
    return v


def _bits(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return int.from_bytes(v, "big")
    if isinstance(v, str):
        return int(v, 2)
    return v


def _num(v: Any) -> Any:
    return None if v is None else Decimal(v).normalize()


def _duration(v: Any) -> Any:
    """A MySQL TIME (timedelta) or PostgreSQL interval text ('-838:59:59.99') as microseconds."""
    if isinstance(v, dt.timedelta):
        return (v.days * 86400 + v.seconds) * 10**6 + v.microseconds
    if isinstance(v, str):
        sign = -1 if v.startswith("-") else 1
        h, m, sec = v.lstrip("-").split(":")
        return sign * round((int(h) * 3600 + int(m) * 60 + Decimal(sec)) * 10**6)
    return v


def _text(v: Any) -> Any:
    return v.rstrip(" ") if isinstance(v, str) else v


def copy_ok(*args: str) -> dict[str, Any]:
    result = ferryman("copy", *args, "--json")
    assert result.code == 0, result.text
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def test_mysql_to_postgres_every_type(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    load_mysql_types(mysql_db)
    doc = copy_ok(mysql_db.url, pg_db.url, "--jobs", "3")
    assert doc["position"]["kind"] == "binlog"
    assert {t["table"]: t["rows"] for t in doc["tables"]} == {
        "everything": 4,
        "order": 3,
        "customer": 2,
        "line": 2,
    }
    for table in ("everything", "order", "customer", "line"):
        assert_same_rows(
            mysql_rows(mysql_db.server, mysql_db.name, table),
            pg_rows(pg_db.server, pg_db.name, mysql_db.name, table),
            canon={
                "t_json": _json,
                "t_big_u": _num,
                "t_bit1": _bits,
                "t_bit64": _bits,
                "t_int_u": _num,
                "t_set": lambda v: None if v is None else frozenset(v),
                "t_time": _duration,
                "t_time0": _duration,
                "t_inet6": lambda v: v and ipaddress.ip_interface(str(v)),
            },
        )
    # the identity continues after the copied rows
    pg_db.execute(f'INSERT INTO "{mysql_db.name}".everything (t_int) VALUES (1)')
    ids = pg_db.execute(f'SELECT max(id) FROM "{mysql_db.name}".everything')
    assert ids == [(5,)]


def test_postgres_to_mysql_every_type(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    load_pg_types(pg_db)
    doc = copy_ok(pg_db.url, mysql_db.url, "--jobs", "2")
    assert doc["position"]["kind"] == "lsn"
    src = pg_rows(pg_db.server, pg_db.name, "public", "everything")
    dst = mysql_rows(mysql_db.server, mysql_db.name, "everything")
    assert_same_rows(
        src,
        dst,
        canon={
            "t_json": _json,
            "t_jsonb": _json,
            "t_int_arr": _json,
            "t_text_arr": _json,
            "t_moods": _json,
            "t_bit": _bits,
            "t_char": _text,
            "t_num": _num,
            "t_inet": lambda v: v and ipaddress.ip_interface(str(v)),
            "t_cidr": str,
            "t_macaddr": str,
            "t_uuid": str,
            "t_tstz": lambda v: v and v.replace(tzinfo=None),
            "t_tstz3": lambda v: v and v.replace(tzinfo=None),
            "t_time": _duration,
            "t_bool": lambda v: None if v is None else bool(v),
        },
    )
    for table in ("order", "customer", "line"):
        assert_same_rows(
            pg_rows(pg_db.server, pg_db.name, "public", table),
            mysql_rows(mysql_db.server, mysql_db.name, table),
        )


def test_mysql_to_mysql_every_type(mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase) -> None:
    load_mysql_types(mysql_db)
    copy_ok(mysql_db.url, mysql_db2.url, "--jobs", "2")
    for table in ("everything", "order", "customer", "line"):
        assert_same_rows(
            mysql_rows(mysql_db.server, mysql_db.name, table),
            mysql_rows(mysql_db2.server, mysql_db2.name, table),
        )


def test_postgres_to_postgres_every_type(pg_db: PostgresDatabase) -> None:
    load_pg_types(pg_db)
    copy_ok(pg_db.url, pg_db.url + "?schema=copied", "--jobs", "2")
    for table in ("everything", "order", "customer", "line"):
        assert_same_rows(
            pg_rows(pg_db.server, pg_db.name, "public", table),
            pg_rows(pg_db.server, pg_db.name, "copied", table),
        )
