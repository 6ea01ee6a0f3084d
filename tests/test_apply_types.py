"""Every type through the live path in all four directions: source DML → real change stream →
Compactor with the target engine's ``apply_converters`` → Applier, then the target compared row
by row with the source (tests/compare.py, independent of ferryman) and with what ``ferryman copy``
writes for the same rows."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ferryman.core.apply import Checkpoint, Compactor, TableTarget
from ferryman.core.change import Change, Op, Transaction
from ferryman.core.convert import mariadb_inet_text, mariadb_uuid_text, source_engine
from ferryman.core.errors import SchemaError
from ferryman.core.schema import Column, Kind, LogicalType, Schema, Table
from ferryman.core.url import parse_url
from ferryman.engines.mysql.apply import MySQLApplier
from ferryman.engines.mysql.binlog.stream import BinlogStream, current_position
from ferryman.engines.mysql.convert import apply_converters as mysql_converters
from ferryman.engines.mysql.convert import array_json, parse_array
from ferryman.engines.mysql.endpoint import MySQLEndpoint
from ferryman.engines.postgres.apply import PostgresApplier
from ferryman.engines.postgres.convert import apply_converters as pg_converters
from ferryman.engines.postgres.convert import mysql_time_text, set_array_literal
from ferryman.engines.postgres.endpoint import PostgresEndpoint
from ferryman.engines.postgres.logical.stream import (
    PgOutputStream,
    create_publication,
    create_slot,
    drop_slot,
)
from ferryman.testing.rows import MYSQL_COLUMNS, MYSQL_ROWS, POSTGRES_COLUMNS, POSTGRES_ROWS
from ferryman.testing.samples import MYSQL_EVERY_TYPE, POSTGRES_EVERY_TYPE
from tests.compare import assert_same_rows, mysql_rows, pg_rows
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman
from tests.test_copy import _bits, _duration, _json, _num, _text

TABLES = ("everything", "order", "customer", "line", "ukey")
SLOT = "ferryman_apply_types"
PUB = "ferryman_apply_types"

# --- source DML ----------------------------------------------------------------------------------

MYSQL_SCHEMA = [
    *MYSQL_EVERY_TYPE,
    "CREATE TABLE ukey (u UUID NOT NULL PRIMARY KEY, i INET6, v INT)",
]
MYSQL_SETUP = [
    *(f"INSERT INTO everything ({MYSQL_COLUMNS}) VALUES {row}" for row in MYSQL_ROWS),
    # more edges: all SET labels, negative fractional TIME, top bit of BIT(64), mapped IPv4
    "INSERT INTO everything (id, t_int, t_bit1, t_bit64, t_bool, t_time, t_time0, t_year, "
    "t_set, t_enum, t_uuid, t_inet6, t_ts, t_json, t_vc, t_float, t_dec65) VALUES (5, 0, b'0', "
    "b'1000000000000000000000000000000000000000000000000000000000000000', 0, '-00:00:00.5', "
    "'-838:59:59', 2000, 'red,green,blue', 'it''s large', 'ffffffff-ffff-ffff-ffff-ffffffffffff',"
    " '::1.2.3.4', '1970-01-01 00:00:01', '{\"a\": \"\\\\u00e9\", \"b\": {}}', '', 3.4e38, "
    "-99999999999999999999999999999999999.999999999999999999999999999999)",
    "INSERT INTO `order` VALUES (1, 'a', 1), (1, 'b', 2), (2, 'a', NULL), (3, 'x\"; drop', 3)",
    "INSERT INTO customer VALUES (1, 'x', 'x@y'), (2, 'y', NULL)",
    "INSERT INTO line VALUES (1, 1), (2, NULL)",
    "INSERT INTO ukey VALUES ('123e4567-e89b-12d3-a456-426614174000', '::ffff:1.2.3.4', 1), "
    "('00000000-0000-0000-0000-000000000001', '2001:db8::1', 2), "
    "('ffffffff-ffff-ffff-ffff-ffffffffffff', '::', 3)",
]
MYSQL_CHANGES = [
    "UPDATE everything SET t_int = t_int - 1, t_vc = CONCAT('u', id) WHERE id = 1",
    "UPDATE everything SET t_uuid = '550e8400-e29b-41d4-a716-446655440000', t_inet6 = '::1', "
    "t_set = 'green', t_time = '-12:34:56.78', t_bit64 = b'0', t_json = '{\"a\": [true, false]}',"
    " t_enum = 'medium', t_year = 1999, t_ts = '2038-01-19 03:14:07' WHERE id = 2",
    "UPDATE everything SET id = 40 WHERE id = 4",  # key change
    "UPDATE `order` SET `a b` = 10 WHERE `a b` = 1 AND `x\"; drop` = 'a'",
    "UPDATE `order` SET `x\"; drop` = 'it''s \"q\" \\\\' WHERE `a b` = 2",
    "UPDATE `order` SET qty = qty + 1 WHERE `a b` = 1",
    "DELETE FROM `order` WHERE `a b` = 3",
    "UPDATE ukey SET u = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', i = '::10.0.0.1' WHERE v = 1",
    "DELETE FROM ukey WHERE v = 3",
    "DELETE FROM everything WHERE id = 3",
    # one transaction with several changes of one key (compaction inside a batch)
    "BEGIN NOT ATOMIC START TRANSACTION; "
    "INSERT INTO everything (id, t_int, t_uuid, t_time) VALUES (7, 1, UUID(), '00:00:01'); "
    "UPDATE everything SET t_int = 2 WHERE id = 7; DELETE FROM everything WHERE id = 7; "
    "INSERT INTO everything (id, t_int, t_uuid, t_inet6, t_set) "
    "VALUES (8, 1, '01234567-89ab-1def-8123-456789abcdef', '::ffff:10.0.0.1', 'blue'); "
    "UPDATE ukey SET u = '01234567-89ab-7def-8123-456789abcdef' WHERE v = 2; COMMIT; END",
]
# values PostgreSQL cannot hold (the copy refuses them too): MariaDB → MariaDB only
MYSQL_SAME_ENGINE_ONLY = [
    "SET SESSION sql_mode = ''; INSERT INTO everything (id, t_int, t_bool, t_date, t_dt, t_dt0,"
    " t_ts) VALUES (6, 1, 2, '0000-00-00', '0000-00-00 00:00:00', '2024-00-00 00:00:00', "
    "'0000-00-00 00:00:00')",
]

PG_SCHEMA = [
    *POSTGRES_EVERY_TYPE,
    "CREATE TABLE ukey (u uuid PRIMARY KEY, b bit(3), v int)",
]
PG_SETUP = [
    *(f"INSERT INTO everything ({POSTGRES_COLUMNS}) VALUES {row}" for row in POSTGRES_ROWS),
    "INSERT INTO everything (id, big_id, ident_default, t_int, t_bit, t_inet, t_cidr, t_int_arr,"
    " t_text_arr, t_moods, t_real, t_interval, t_json, t_time, t_tstz, t_num, t_bool, t_mood, "
    "t_macaddr, t_ts3, t_vc) VALUES (4, 4, 4, 0, B'00001', '::ffff:1.2.3.4', '2001:db8::/32', "
    '\'{{1,2},{3,4}}\', E\'{"back\\\\\\\\slash","{brace}"," sp ","NULL",NULL,"\u00e9"}\', '
    "'{}', 0.1, '-178000000 years', '{\"a\":1,  \"b\" : [2]}', '23:59:59.999999', "
    "'2000-01-01 00:00:00.5+14', 0.1000, false, 'sad', '08:00:2b:01:02:03', "
    "'2024-02-29 12:34:56.7', 'four')",
    "INSERT INTO \"order\" VALUES (1, 'a', 1), (1, 'b', 2), (2, 'a', NULL), (3, 'x\"; drop', 3)",
    "INSERT INTO customer VALUES (1, 'x', 'x@y'), (2, 'y', NULL)",
    "INSERT INTO line VALUES (1, 1), (2, NULL)",
    "INSERT INTO ukey VALUES ('123e4567-e89b-12d3-a456-426614174000', B'101', 1), "
    "('00000000-0000-0000-0000-000000000001', B'000', 2), "
    "('ffffffff-ffff-ffff-ffff-ffffffffffff', B'111', 3)",
]
PG_CHANGES = [
    "UPDATE everything SET t_int = 7, t_text = 'changed' WHERE id IN (1, 2)",
    "UPDATE everything SET id = 30 WHERE id = 3",  # key change
    "UPDATE everything SET t_bit = B'11111', t_int_arr = '{5}', t_moods = '{ok,sad}', "
    "t_uuid = '550e8400-e29b-41d4-a716-446655440000', t_jsonb = '{\"z\": [1]}', "
    "t_real = 3.4028235e38 WHERE id = 4",
    'UPDATE "order" SET "a b" = 10 WHERE "a b" = 1 AND "x""; drop" = \'a\'',
    'UPDATE "order" SET "x""; drop" = E\'it\'\'s "q" \\\\\' WHERE "a b" = 2',
    'UPDATE "order" SET qty = qty + 1 WHERE "a b" = 1',
    'DELETE FROM "order" WHERE "a b" = 3',
    "UPDATE ukey SET u = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', b = B'010' WHERE v = 1",
    "DELETE FROM ukey WHERE v = 3",
    "DELETE FROM everything WHERE id = 2",
    "BEGIN; INSERT INTO everything (id, big_id, ident_default, t_int, t_vc) "
    "VALUES (7, 7, 7, 1, '7'); "
    "UPDATE everything SET t_int = 2 WHERE id = 7; DELETE FROM everything WHERE id = 7; "
    "INSERT INTO everything (id, big_id, ident_default, t_int, t_moods, t_bit, t_vc) "
    "VALUES (8, 8, 8, 1, '{\"it''s great\"}', B'11000', '8'); "
    "UPDATE ukey SET u = '01234567-89ab-7def-8123-456789abcdef' WHERE v = 2; COMMIT",
]
# values MySQL cannot hold (the copy refuses them too): PostgreSQL → PostgreSQL only
PG_SAME_ENGINE_ONLY = [
    "INSERT INTO everything (id, big_id, ident_default, t_int, t_num, t_real, t_double, t_time,"
    " t_interval, t_text, t_vc) VALUES (5, 5, 5, 1, 'NaN', 'NaN', '-Infinity', '24:00:00', "
    "'-1 days +02:00:00', E'\\\\N', 'five')",
    "INSERT INTO everything (id, big_id, ident_default, t_int, t_num, t_real, t_double, t_vc) "
    "VALUES (6, 6, 6, 1, 'Infinity', 'Infinity', 'NaN', 'six')",
]
# dates Python cannot hold (pgoutput keeps their text; psycopg cannot read them back)
PG_DATE_SPECIALS = [
    "INSERT INTO everything (id, big_id, ident_default, t_date, t_ts, t_tstz, t_vc) "
    "VALUES (1, 1, 1, 'infinity', '-infinity', 'infinity', 'one')",
    "INSERT INTO everything (id, big_id, ident_default, t_date, t_ts, t_tstz3, t_vc) "
    "VALUES (2, 2, 2, '0044-03-15 BC', '10000-01-01 00:00:00', '0001-01-01 00:00:00+05 BC', 'two')",
    "UPDATE everything SET t_date = '-infinity' WHERE id = 1",
]
_SPECIAL_TEXT = (
    "SELECT id, t_date::text, t_ts::text, t_tstz::text, t_tstz3::text FROM {} ORDER BY id"
)


# --- the two sides -----------------------------------------------------------------------------


@dataclass
class Side:
    """One end of a direction: a database (and namespace) on a real server."""

    engine: str  # mysql | postgresql
    url: str  # the URL ferryman is given
    server: Any
    database: str
    namespace: str

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.server.execute(sql, self.database))

    def rows(self, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        if self.engine == "mysql":
            return mysql_rows(self.server, self.database, table)
        return pg_rows(self.server, self.database, self.namespace, table)

    def introspect(self) -> Schema:
        url = parse_url(self.url)
        endpoint = MySQLEndpoint(url) if self.engine == "mysql" else PostgresEndpoint(url)
        try:
            return endpoint.introspect(namespace=self.namespace)
        finally:
            endpoint.close()


def mysql_side(db: MySQLDatabase) -> Side:
    return Side("mysql", db.url, db.server, db.name, db.name)


def pg_side(db: PostgresDatabase, schema: str = "public") -> Side:
    url = db.url if schema == "public" else f"{db.url}?schema={schema}"
    return Side("postgresql", url, db.server, db.name, schema)


@contextlib.contextmanager
def extra_mysql_db(db: MySQLDatabase, suffix: str) -> Iterator[Side]:
    """Another fresh database on ``db``'s server (for the copy to compare with)."""
    name = f"{db.name}_{suffix}"
    db.server.execute(f"CREATE DATABASE `{name}`")
    try:
        yield Side("mysql", db.server.url(name), db.server, name, name)
    finally:
        db.server.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --- capture and apply -------------------------------------------------------------------------


def capture(src: Side, statements: list[str]) -> list[Transaction]:
    """Run ``statements`` on ``src`` (each its own transaction) and return the transactions the
    change stream delivers for them."""
    if src.engine == "mysql":
        start = current_position(src.server.url())
        for sql in statements:
            src.execute(sql)
        txs = list(BinlogStream(src.server.url(), start, blocking=False))
        return [tx for tx in txs if any(c.namespace == src.namespace for c in tx.changes)]
    url = parse_url(src.url)
    for table in TABLES:
        src.execute(f'ALTER TABLE "{table}" REPLICA IDENTITY FULL')
    create_publication(url, PUB, [(src.namespace, t) for t in TABLES])
    create_slot(url, SLOT)
    try:
        for sql in statements:
            src.execute(sql)
        with PgOutputStream(url, SLOT, PUB, until_caught_up=True) as stream:
            return list(stream.transactions())
    finally:
        drop_slot(url, SLOT)


def table_targets(src: Side, dst: Side) -> list[TableTarget]:
    """What a live move would build: columns the target can take that the stream carries, the
    target's key, and the target engine's converters."""
    source, target = src.introspect(), dst.introspect()
    convert = mysql_converters if dst.engine == "mysql" else pg_converters
    out = []
    for name in TABLES:
        s: Table = source.table(name)
        t: Table = target.table(name)
        columns = tuple(
            c.name
            for c in t.columns
            if c.generated is None
            and not (src.engine == "postgresql" and s.column(c.name).generated is not None)
        )
        key = t.row_key()
        assert key is not None
        out.append(
            TableTarget(
                src.namespace,
                name,
                dst.namespace,
                name,
                columns,
                key.column_names,
                convert(s, t, columns, engine=source.server.engine),
            )
        )
    return out


def apply_all(dst: Side, targets: list[TableTarget], txs: list[Transaction]) -> int:
    """Apply each source transaction as one batch (deletes and upserts of rows the earlier
    batches wrote); return how many row changes went through."""
    url = parse_url(dst.url)
    applier: MySQLApplier | PostgresApplier = (
        MySQLApplier(url) if dst.engine == "mysql" else PostgresApplier(url)
    )
    compactor = Compactor(targets)
    changes = 0
    try:
        for i, tx in enumerate(txs):
            compactor.add(tx.changes)
            batch = compactor.batch(Checkpoint("apply-types", {"n": i}))
            changes += batch.changes
            applier.apply(batch)
    finally:
        applier.close()
    return changes


def schema_apply(src: Side, dst: Side) -> None:
    result = ferryman("schema", src.url, dst.url, "--apply", "--target-schema", dst.namespace)
    assert result.code == 0, result.text


def copy_into(src: Side, dst: Side) -> None:
    result = ferryman("copy", src.url, dst.url, "--target-schema", dst.namespace, "--jobs", "1")
    assert result.code == 0, result.text


def compare(a: Side, b: Side, canon: dict[str, Any] | None = None) -> None:
    for table in TABLES:
        assert_same_rows(a.rows(table), b.rows(table), canon=canon)


def run_direction(
    src: Side,
    dst: Side,
    copy_dst: Side,
    *,
    schema: list[str],
    statements: list[str],
    canon: dict[str, Any] | None = None,
    same_as_copy: dict[str, Any] | None = None,
    target_fix: str | None = None,
) -> None:
    for sql in schema:
        src.execute(sql)
    schema_apply(src, dst)
    if target_fix:
        dst.execute(target_fix)
    txs = capture(src, statements)
    assert len(txs) >= len(statements)
    ops = {c.op for tx in txs for c in tx.changes}
    assert {Op.INSERT, Op.UPDATE, Op.DELETE} <= ops
    changes = apply_all(dst, table_targets(src, dst), txs)
    assert changes == sum(len(tx.changes) for tx in txs)
    compare(src, dst, canon)  # the target holds exactly the source's rows
    copy_into(src, copy_dst)
    compare(dst, copy_dst, same_as_copy)  # ... and exactly what `ferryman copy` writes


# --- the four directions -----------------------------------------------------------------------

# column canonicalization across engines (the same as the copy tests)
MYSQL_TO_PG = {
    "t_json": _json,
    "t_big_u": _num,
    "t_bit1": _bits,
    "t_bit64": _bits,
    "t_int_u": _num,
    "t_set": lambda v: None if v is None else frozenset(v),
    "t_time": _duration,
    "t_time0": _duration,
    "t_inet6": lambda v: v and ipaddress.ip_interface(str(v)),
    "i": lambda v: v and ipaddress.ip_interface(str(v)),
}


def _no_gen(value: Any) -> None:
    return None


def _special(value: Any) -> Any:
    """NaN is not equal to itself: compare its text."""
    return None if value is None else repr(value)


PG_TO_MYSQL = {
    "t_json": _json,
    "t_jsonb": _json,
    "t_int_arr": _json,
    "t_text_arr": _json,
    "t_moods": _json,
    "t_bit": _bits,
    "b": _bits,
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
    # pgoutput does not publish generated columns: on MySQL t_gen is a plain column the change
    # stream cannot fill (the copy fills it)
    "t_gen": _no_gen,
}


def test_mariadb_to_mariadb(mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase) -> None:
    with extra_mysql_db(mysql_db2, "c") as copied:
        run_direction(
            mysql_side(mysql_db),
            mysql_side(mysql_db2),
            copied,
            schema=MYSQL_SCHEMA,
            statements=MYSQL_SETUP + MYSQL_SAME_ENGINE_ONLY + MYSQL_CHANGES,
        )
    # the zero dates and the BOOL 2 arrived as they are
    row = mysql_db2.execute(
        "SELECT t_bool, CONCAT(t_date), CONCAT(t_ts) FROM everything WHERE id = 6"
    )
    assert row == [(2, "0000-00-00", "0000-00-00 00:00:00.000")]


def test_mariadb_to_postgres(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    run_direction(
        mysql_side(mysql_db),
        pg_side(pg_db, "applied"),
        pg_side(pg_db, "copied"),
        schema=MYSQL_SCHEMA,
        statements=MYSQL_SETUP + MYSQL_CHANGES,
        canon=MYSQL_TO_PG,
    )


def test_postgres_to_postgres(pg_db: PostgresDatabase) -> None:
    run_direction(
        pg_side(pg_db),
        pg_side(pg_db, "applied"),
        pg_side(pg_db, "copied"),
        schema=PG_SCHEMA,
        statements=PG_SETUP + PG_SAME_ENGINE_ONLY + PG_CHANGES,
        canon={"t_num": _special, "t_real": _special, "t_double": _special},
        same_as_copy={"t_num": _special, "t_real": _special, "t_double": _special},
    )


def test_postgres_infinite_and_bc_dates_to_postgres(pg_db: PostgresDatabase) -> None:
    src, dst = pg_side(pg_db), pg_side(pg_db, "applied")
    for sql in PG_SCHEMA:
        src.execute(sql)
    schema_apply(src, dst)
    apply_all(dst, table_targets(src, dst), capture(src, PG_DATE_SPECIALS))
    expected = src.execute(_SPECIAL_TEXT.format("public.everything"))
    assert expected[0][1:4] == ("-infinity", "-infinity", "infinity")
    assert dst.execute(_SPECIAL_TEXT.format("applied.everything")) == expected


def test_postgres_to_mariadb(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    with extra_mysql_db(mysql_db, "c") as copied:
        run_direction(
            pg_side(pg_db),
            mysql_side(mysql_db),
            copied,
            schema=PG_SCHEMA,
            statements=PG_SETUP + PG_CHANGES,
            canon=PG_TO_MYSQL,
            same_as_copy={"t_gen": _no_gen},
        )
        # arrays: the same JSON text as the copy's to_json(), not only the same JSON value
        arrays = "SELECT id, t_int_arr, t_text_arr, t_moods FROM everything ORDER BY id"
        assert mysql_db.execute(arrays) == copied.execute(arrays)


# --- values a target cannot hold stop the batch, naming the column -----------------------------


def _converted(src: Side, dst: Side, table: str, change: Change) -> Any:
    (target,) = [t for t in table_targets(src, dst) if t.table == table]
    compactor = Compactor([target])
    compactor.add([change])
    return compactor.batch(Checkpoint("x", None))


def test_mysql_values_postgresql_cannot_hold_stop_with_the_column(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    src, dst = mysql_side(mysql_db), pg_side(pg_db, "applied")
    for sql in MYSQL_SCHEMA:
        src.execute(sql)
    schema_apply(src, dst)
    txs = capture(src, MYSQL_SAME_ENGINE_ONLY)
    (change,) = [c for tx in txs for c in tx.changes]
    assert change.after is not None
    cols = change.columns
    zero = list(change.after)
    zero[cols.index("t_bool")] = None
    with pytest.raises(
        SchemaError,
        match=r"row \(6\) of table \S+\.everything: column t_date carries '0000-00-00', a zero",
    ):
        _converted(src, dst, "everything", Change(Op.INSERT, *_where(change), after=tuple(zero)))
    two = [None] * len(cols)
    two[0], two[cols.index("t_int")], two[cols.index("t_bool")] = 6, 1, 2
    with pytest.raises(
        SchemaError,
        match=r"row \(6\) of table \S+: column t_bool carries 2, which a PostgreSQL boolean",
    ):
        _converted(src, dst, "everything", Change(Op.INSERT, *_where(change), after=tuple(two)))


def test_postgres_values_mysql_cannot_hold_stop_with_the_column(
    pg_db: PostgresDatabase, mysql_db: MySQLDatabase
) -> None:
    src, dst = pg_side(pg_db), mysql_side(mysql_db)
    for sql in PG_SCHEMA:
        src.execute(sql)
    schema_apply(src, dst)
    txs = capture(
        src,
        [
            "INSERT INTO everything (id, big_id, ident_default, t_num, t_vc) "
            "VALUES (9, 9, 9, 'NaN', '9')",
            "INSERT INTO everything (id, big_id, ident_default, t_num, t_vc) "
            "VALUES (10, 10, 10, 0.0000000000000000000000000000001, 't')",
            "INSERT INTO customer VALUES (11, 'long', repeat('e', 769))",  # VARCHAR(768) there
        ],
    )
    nan, tiny, long = [c for tx in txs for c in tx.changes]
    with pytest.raises(
        SchemaError,
        match=r"row \(9\) of table \S+: column t_num carries Decimal\('NaN'\), which MySQL DECIMAL",
    ):
        _converted(src, dst, "everything", nan)
    with pytest.raises(SchemaError, match="more decimals than DECIMAL"):
        _converted(src, dst, "everything", tiny)
    with pytest.raises(
        SchemaError, match=r"row \(11\) of table \S+: column email carries .* the 768 characters"
    ):
        _converted(src, dst, "customer", long)


def _where(change: Change) -> tuple[str, str, tuple[str, ...]]:
    return change.namespace, change.table, change.columns


# --- the pure converters -------------------------------------------------------------------------


def test_postgres_array_text_becomes_to_json_text() -> None:
    assert parse_array("{1,2,NULL}") == ["1", "2", None]
    assert parse_array('{"a,b","q\\"uote",NULL,"","NULL",b\\,c}') == [
        "a,b",
        'q"uote',
        None,
        "",
        "NULL",
        "b,c",
    ]
    assert parse_array("[0:1]={{1,2},{3,NULL}}") == [["1", "2"], ["3", None]]
    assert parse_array("{}") == []
    ints = array_json(LogicalType(Kind.INTEGER, bits=32))
    assert ints("{{1,2},{3,NULL}}") == "[[1,2],[3,null]]"
    nums = array_json(LogicalType(Kind.DECIMAL))
    assert nums("{1.50,NaN,-Infinity}") == '[1.50,"NaN","-Infinity"]'
    assert array_json(LogicalType(Kind.BOOLEAN))("{t,f,NULL}") == "[true,false,null]"
    assert array_json(LogicalType(Kind.JSON))('{"{\\"a\\": 1}",null}') == '[{"a": 1},null]'
    texts = array_json(LogicalType(Kind.TEXT))
    assert texts('{"tab\tnew\nline","é","\\\\"}') == '["tab\\tnew\\nline","é","\\\\"]'
    stamps = array_json(LogicalType(Kind.TIMESTAMP))
    assert stamps('{"2024-01-01 00:00:00+00",infinity}') == (
        '["2024-01-01T00:00:00+00:00","infinity"]'
    )


def test_mysql_time_and_set_text_for_postgres() -> None:
    td = dt.timedelta
    assert mysql_time_text(td(hours=-838, minutes=-59, seconds=-59, microseconds=-990000)) == (
        "-838:59:59.990000"
    )
    assert mysql_time_text(td(seconds=-1)) == "-0:00:01"
    assert mysql_time_text(td(hours=25, microseconds=500000)) == "25:00:00.500000"
    assert mysql_time_text(td(0)) == "0:00:00"
    assert set_array_literal("") == "{}"
    assert set_array_literal('a,b "c",d\\e') == '{"a","b \\"c\\"","d\\\\e"}'


def test_binlog_uuid_and_inet_bytes_become_text() -> None:
    raw = bytes.fromhex("123e4567e89b12d3a456426614174000")
    assert mariadb_uuid_text(raw) == "123e4567-e89b-12d3-a456-426614174000"
    assert mariadb_uuid_text("already text") == "already text"
    mapped = bytes.fromhex("00000000000000000000ffff01020304")
    assert mariadb_inet_text(mapped) == "::ffff:1.2.3.4"
    assert mariadb_inet_text(bytes(15) + b"\x01") == "::1"
    assert mariadb_inet_text(b"\x0a\x00\x00\x01") == "10.0.0.1"


def test_source_engine_is_read_from_the_introspected_table() -> None:
    col = Column("id", LogicalType(Kind.INTEGER, bits=64), "bigint")
    assert source_engine(Table("db", "t", (col,), storage_engine="InnoDB")) == "mysql"
    assert source_engine(Table("public", "t", (col,))) == "postgresql"
    assert source_engine(Table("public", "t", (col,)), "mysql") == "mysql"
    with pytest.raises(ValueError):
        source_engine(Table("public", "t", (col,)), "oracle")
