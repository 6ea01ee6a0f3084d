"""An independent comparison of copied rows: read each side with its own driver and turn every
value into a canonical Python value by the column's declared type — none of ferryman's copy code
is used."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import struct
from decimal import Decimal
from typing import Any

import MySQLdb
import psycopg

from ferryman.testing.servers import MariaDBServer, PostgresServer


def mysql_rows(
    server: MariaDBServer, db: str, table: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = MySQLdb.connect(
        host=server.host,
        port=server.port,
        user=server.admin_user,
        password=server.admin_password,
        database=db,
        charset="utf8mb4",
        init_command="SET time_zone = '+00:00'",
    )
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        cols = cur.fetchall()
        exprs = []
        for name, data_type, _ in cols:
            ident = "`" + name.replace("`", "``") + "`"
            if data_type == "float":
                exprs.append(f"CAST({ident} AS DOUBLE)")  # the text protocol rounds FLOAT
            elif data_type == "bit":
                exprs.append(f"{ident} + 0")
            else:
                exprs.append(ident)
        order = "1, 2" if len(cols) > 1 else "1"  # composite keys: the first column repeats
        cur.execute(f"SELECT {', '.join(exprs)} FROM `{table}` ORDER BY {order}")
        rows = [
            tuple(_mysql_value(v, c[1], c[2]) for v, c in zip(r, cols, strict=False))
            for r in cur.fetchall()
        ]
        return [c[0] for c in cols], rows
    finally:
        conn.close()


def pg_rows(
    server: PostgresServer, db: str, schema: str, table: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    with psycopg.connect(server.url(db).replace("postgresql://", "postgresql://", 1)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        cols = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory, t.typtype "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON "
            "n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid WHERE n.nspname = %s "
            "AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (schema, table),
        ).fetchall()
        exprs = []
        for name, fmt, cat, typtype in cols:
            ident = '"' + name.replace('"', '""') + '"'
            if (
                fmt.startswith(("interval", "time without", "time("))
                or typtype == "e"
                or cat in ("I",)
                or fmt == "json"
            ):
                exprs.append(f"{ident}::text")
            elif fmt.endswith("[]") and cat == "A":
                exprs.append(f"to_jsonb({ident})")
            else:
                exprs.append(ident)
        rows = conn.execute(
            f'SELECT {", ".join(exprs)} FROM "{schema}"."{table}" '
            f"ORDER BY {'1, 2' if len(cols) > 1 else '1'}"
        ).fetchall()
        return [c[0] for c in cols], [
            tuple(_pg_value(v, c[1]) for v, c in zip(r, cols, strict=False)) for r in rows
        ]


def _mysql_value(value: Any, data_type: str, column_type: str) -> Any:
    if value is None:
        return None
    if data_type in ("float",):
        return ("f32", struct.pack("<f", value))
    if data_type in ("double",):
        return float(value)
    if data_type == "tinyint" and column_type.startswith("tinyint(1)"):
        return bool(value)
    if data_type in ("decimal",):
        return Decimal(value).normalize()
    if data_type in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return bytes(value)
    if data_type == "set":
        return (
            frozenset(x for x in value.split(",") if x)
            if isinstance(value, str)
            else frozenset(value)
        )
    if data_type == "longtext" and isinstance(value, str) and column_type == "longtext":
        try:
            return ("json?", json.loads(value))
        except ValueError:
            return value
    if data_type == "inet6":
        return ipaddress.ip_address(value)
    if data_type == "uuid":
        return str(value)
    if data_type == "timestamp" and isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, int):
        return int(value)
    return value


def _pg_value(value: Any, fmt: str) -> Any:
    if value is None:
        return None
    if fmt == "real":
        return ("f32", struct.pack("<f", value))
    if fmt == "boolean":
        return bool(value)
    if isinstance(value, Decimal):
        return value.normalize()
    if fmt.startswith("bit"):
        return int(value, 2) if isinstance(value, str) else value
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    if fmt == "uuid":
        return str(value)
    if fmt.startswith("timestamp") and "with time zone" in fmt:
        return value.astimezone(dt.UTC)
    return value


def assert_same_rows(
    source: tuple[list[str], list[tuple[Any, ...]]],
    target: tuple[list[str], list[tuple[Any, ...]]],
    *,
    canon: dict[str, Any] | None = None,
) -> None:
    """Every row and column equal; ``canon`` maps column -> function applied to both sides."""
    s_cols, s_rows = source
    t_cols, t_rows = target
    assert len(s_rows) == len(t_rows), (len(s_rows), len(t_rows))
    index = {name: i for i, name in enumerate(t_cols)}
    canon = canon or {}
    for s_row, t_row in zip(s_rows, t_rows, strict=False):
        for i, name in enumerate(s_cols):
            if name not in index:
                continue
            a, b = s_row[i], t_row[index[name]]
            f = canon.get(name)
            if f is not None:
                a, b = f(a), f(b)
            assert a == b, f"row {s_row[0]} column {name}: source {a!r} != target {b!r}"
