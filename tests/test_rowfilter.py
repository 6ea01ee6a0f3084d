"""``--where`` predicates evaluated on change-stream rows by the source server itself.

The reference answer is always the source's own ``SELECT key FROM table WHERE predicate``; the
rows judged are the ones the real change streams (binlog, pgoutput) delivered for those inserts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ferryman.core.change import UNCHANGED, Change, Op
from ferryman.core.errors import ConfigError, SchemaError
from ferryman.core.schema import Table
from ferryman.core.url import DatabaseURL, parse_url
from ferryman.engines.mysql import connection as my_connection
from ferryman.engines.mysql import introspect as my_introspect
from ferryman.engines.mysql import rowfilter as my_rowfilter
from ferryman.engines.mysql.binlog.stream import BinlogStream, current_position
from ferryman.engines.postgres import connection as pg_connection
from ferryman.engines.postgres import introspect as pg_introspect
from ferryman.engines.postgres import rowfilter as pg_rowfilter
from ferryman.engines.postgres.logical.stream import (
    PgOutputStream,
    create_publication,
    create_slot,
    drop_slot,
)
from tests.conftest import MySQLDatabase, PostgresDatabase

SLOT = "ferryman_rowfilter"
PUB = "ferryman_rowfilter_pub"

# --- MySQL / MariaDB ---------------------------------------------------------------------------

MYSQL_TABLE = """CREATE TABLE people (
  id INT PRIMARY KEY, n BIGINT UNSIGNED, name VARCHAR(50) COLLATE utf8mb4_general_ci,
  code VARCHAR(10) COLLATE utf8mb4_bin, latin VARCHAR(20) CHARACTER SET latin1,
  born DATE, seen DATETIME(3), changed TIMESTAMP(6) NULL, dur TIME(1),
  price DECIMAL(10,2), ratio FLOAT, score DOUBLE, active BOOL, flags BIT(4),
  size ENUM('small','medium','large'), tags SET('a','b','c'), raw VARBINARY(8), fixed BINARY(4),
  doc JSON, uid UUID, ip INET6, yr YEAR)"""

MYSQL_ROWS = [
    "(1, 18446744073709551615, 'abc', 'ABC', 'caf\u00e9', '2024-02-29', '2024-02-29 10:00:00.250',"
    " '2024-02-29 10:00:00.123456', '-01:30:00.5', 10.50, 0.1, 0.1, 1, b'1010', 'small', 'a,c',"
    " X'00FF', X'6162', '{\"k\": 1}', '123e4567-e89b-12d3-a456-426614174000', '::ffff:1.2.3.4',"
    " 2024)",
    "(2, 0, 'ABC ', 'abc', 'CAFE', '1999-12-31', '1999-12-31 23:59:59.999', '1999-12-31 23:59:59',"
    " '838:59:59', -3.25, 2.5, -1e300, 0, b'0001', 'large', '', X'', X'00000000', '[1, 2]',"
    " '00000000-0000-0000-0000-000000000000', '2001:db8::1', 1999)",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, 42, 'Zoë', 'x%y', 'x_y', '2000-01-01', '2000-01-01 00:00:00', '2038-01-19 03:14:07',"
    " '00:00:00', 0.00, -0.5, 3.5, 1, b'1111', 'medium', 'b', X'41', X'41424344', 'null',"
    " 'ffffffff-ffff-ffff-ffff-ffffffffffff', '::', 2155)",
]

MYSQL_PREDICATES = [
    "name = 'ABC'",  # utf8mb4_general_ci: 'abc' and 'ABC ' (PAD SPACE) match
    "code = 'ABC'",  # utf8mb4_bin: only the exact bytes
    "latin = 'cafe'",  # latin1_swedish_ci: é = e
    "name LIKE 'a%'",
    "code LIKE 'x\\%y'",
    "code LIKE BINARY 'abc'",
    "n > 100",
    "n IS NULL",
    "n IS NOT NULL AND n < 50",
    "born BETWEEN '1999-01-01' AND '2000-06-30'",
    "YEAR(born) = 2024 AND MONTH(born) = 2",
    "seen > '2024-02-29 10:00:00.2'",
    "changed >= '2024-01-01'",
    "UNIX_TIMESTAMP(changed) = 2147483647",
    "dur < '00:00:00'",
    "HOUR(dur) > 800",
    "price > 10.49 AND price < 10.51",
    "price = 0",
    "ratio = 0.1",  # FLOAT: 0.1 as float32 is not the double 0.1
    "ratio = 2.5",
    "score = 0.1",
    "score < -1e299",
    "active",
    "NOT active",
    "active IS TRUE",
    "flags = 10",
    "flags & 1 = 1",
    "size = 'medium'",
    "size IN ('small', 'large')",
    "FIND_IN_SET('c', tags) > 0",
    "tags = ''",
    "raw = X'00FF'",
    "LENGTH(raw) = 0",
    "fixed = 'ABCD'",
    "HEX(fixed) = '61620000'",  # BINARY(4) keeps its zero padding
    "JSON_VALUE(doc, '$.k') = 1",
    "JSON_LENGTH(doc) = 2",
    "uid = '123e4567-e89b-12d3-a456-426614174000'",
    "uid > '00000000-0000-0000-0000-000000000000'",
    "ip = '::ffff:1.2.3.4'",
    "ip < '2001:db8::2'",
    "yr > 2000",
    "id IN (1, 3, 4) AND COALESCE(name, 'none') <> 'abc'",
    "name = NULL",  # NULL is no match
    "people.id = 2",  # qualified by the table name, as the copy's SELECT allows
    "(SELECT COUNT(*) FROM people AS p2) = 4 AND id = 1",  # subqueries see the source
]


def _mysql_table(url: DatabaseURL, name: str) -> Table:
    session = my_connection.Session(url, my_connection.connect(url))
    try:
        return my_introspect.introspect(session, str(url.database), [name]).table(name)
    finally:
        session.close()


def _binlog_rows(db: MySQLDatabase, inserts: list[str], table: str) -> list[Change]:
    start = current_position(db.server.url())
    for values in inserts:
        db.execute(f"INSERT INTO {table} VALUES {values}")
    out = []
    for tx in BinlogStream(db.server.url(), start, blocking=False):
        out += [c for c in tx.changes if c.namespace == db.name and c.op is Op.INSERT]
    return out


def _selected(db: MySQLDatabase, table: str, key: str, predicate: str) -> set[Any]:
    conn = db.server.connect(db.name)
    try:
        cur = conn.cursor()
        cur.execute(my_rowfilter.READER_SQL_MODE)
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {key} FROM {table} WHERE {predicate}")
        return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def test_mysql_stream_rows_match_like_a_select_on_the_source(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute(MYSQL_TABLE)
    changes = _binlog_rows(mysql_db, MYSQL_ROWS, "people")
    assert len(changes) == len(MYSQL_ROWS)
    url = parse_url(mysql_db.url)
    table = _mysql_table(url, "people")
    columns = changes[0].columns
    rows = [c.after for c in changes if c.after is not None]
    ids = [row[0] for row in rows]
    answers = {}
    for predicate in MYSQL_PREDICATES:
        with my_rowfilter.RowFilter(url, table, predicate) as rf:
            got = {i for i, hit in zip(ids, rf.matches(columns, rows), strict=True) if hit}
        assert got == _selected(mysql_db, "people", "id", predicate), predicate
        answers[predicate] = got
    assert answers["name = 'ABC'"] == {1, 2} and answers["ratio = 0.1"] == set()
    assert answers["uid = '123e4567-e89b-12d3-a456-426614174000'"] == {1}


def test_mysql_case_insensitive_collation_and_column_order(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute(MYSQL_TABLE)
    url = parse_url(mysql_db.url)
    table = _mysql_table(url, "people")
    with my_rowfilter.RowFilter(url, table, "name = 'ABC' AND price > 1") as rf:
        # a subset of the columns, in another order than the table's, plus an unknown one
        columns = ("price", "extra", "name")
        rows = [
            (Decimal("2.00"), 1, "abc"),
            (Decimal("2.00"), 1, "abd"),
            (Decimal("0.50"), 1, "ABC"),
            (None, 1, "abc"),
            (Decimal("9"), None, "Abc"),
        ]
        assert rf.matches(columns, rows) == [True, False, False, False, True]
        assert rf.matches(columns, []) == []
    with my_rowfilter.RowFilter(url, table, "changed < '2001-01-01' AND dur > '30:00:00'") as rf:
        aware = datetime(2000, 6, 1, 12, tzinfo=UTC)
        rows2 = [
            (aware, timedelta(hours=31, microseconds=500000)),
            (aware.replace(year=2002), timedelta(hours=31)),
            (aware, timedelta(hours=29)),
        ]
        assert rf.matches(("changed", "dur"), rows2) == [True, False, False]


def test_mysql_odd_identifiers(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute(
        'CREATE TABLE `order` (`a b` INT NOT NULL, `x"; drop` VARCHAR(20) NOT NULL, '
        '`_ferryman_row` INT, `100%` INT, PRIMARY KEY (`a b`, `x"; drop`))'
    )
    url = parse_url(mysql_db.url)
    table = _mysql_table(url, "order")
    predicate = "`order`.`a b` > 1 AND `x\"; drop` LIKE '%ok' AND `_ferryman_row` = `100%`"
    with my_rowfilter.RowFilter(url, table, predicate) as rf:
        rows = [(2, "is ok", 5, 5), (1, "ok", 5, 5), (3, "OK", 7, 7), (3, "ok", 1, 2)]
        assert rf.matches(table.column_names, rows) == [True, False, True, False]


def test_mysql_batches_larger_than_the_split_size(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    url = parse_url(mysql_db.url)
    table = _mysql_table(url, "t")
    rows = [(i, f"v{i % 7}") for i in range(2500)]
    expected = [i % 3 == 0 and i % 7 != 2 for i in range(2500)]
    with my_rowfilter.RowFilter(url, table, "id % 3 = 0 AND v <> 'V2'") as rf:
        assert rf.matches(("id", "v"), rows) == expected
    with my_rowfilter.RowFilter(url, table, "id % 3 = 0 AND v <> 'V2'", batch_rows=7) as rf:
        assert rf.matches(("id", "v"), rows[:100]) == expected[:100]
        rf._mariadb = False  # the MySQL spelling (UNION ALL SELECT per row) is valid here too
        assert rf.matches(("id", "v"), rows[:100]) == expected[:100]


def test_mysql_bad_predicate_is_a_config_error_without_the_password(
    mysql_db: MySQLDatabase,
) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    url = parse_url(mysql_db.url)
    assert url.password
    table = _mysql_table(url, "t")
    for predicate in ("v = ", "nope = 1", "no_such_function(v)"):
        with pytest.raises(ConfigError) as info:
            my_rowfilter.check_predicate(url, table, predicate)
        message = info.value.render()
        assert f"{mysql_db.name}.t" in message and predicate in message
        assert "fix:" in message and url.password not in message
    my_rowfilter.check_predicate(url, table, "v LIKE 'a%' OR id IN (1, 2)")


def test_mysql_reconnects_once_after_a_lost_connection(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    url = parse_url(mysql_db.url)
    table = _mysql_table(url, "t")
    with my_rowfilter.RowFilter(url, table, "id > 1") as rf:
        assert rf.matches(("id",), [(1,), (2,)]) == [False, True]
        mysql_db.execute(f"KILL CONNECTION {rf._conn.thread_id()}")
        assert rf.matches(("id",), [(1,), (2,)]) == [False, True]


# --- PostgreSQL --------------------------------------------------------------------------------

PG_SETUP = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)",
    "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    """CREATE TABLE people (
  id integer PRIMARY KEY, n bigint, name text COLLATE ci, code varchar(10), pad char(4),
  born date, seen timestamp(3), changed timestamptz, at time, span interval,
  price numeric(10,2), big numeric, ratio real, score double precision, active boolean,
  flags bit(4), feeling mood, rank positive, raw bytea, doc jsonb, uid uuid, ip inet,
  nums integer[], labels text[])""",
    "ALTER TABLE people REPLICA IDENTITY FULL",
]

PG_ROWS = [
    "(1, 9223372036854775807, 'abc', 'ABC', 'ab', '2024-02-29', '2024-02-29 10:00:00.250', "
    "'2024-02-29 10:00:00.123456+02', '24:00:00', '1 mon 2 days', 10.50, 'NaN', 0.1, 0.1, true, "
    "B'1010', 'happy', 5, '\\x00ff', '{\"k\": 1}', '123e4567-e89b-12d3-a456-426614174000', "
    "'192.168.1.5/24', '{1,2,3}', '{\"a b\",NULL}')",
    "(2, -1, 'ABC', 'abc', 'abcd', '-infinity', 'infinity', '1999-12-31 23:59:59+00', '00:00:00', "
    "'-1 days', -3.25, 'Infinity', 'Infinity', -1e300, false, B'0001', 'sad', 1, '\\x', "
    "'[1, 2]', '00000000-0000-0000-0000-000000000000', '::1', '{}', '{}')",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, 42, 'Zoë', 'x%y', 'x_y', '2000-01-01', '2000-01-01 00:00:00', '2038-01-19 03:14:07+00', "
    "'12:30:00.5', '25:00:00', 0, 123456789012345678901234567890.5, -0.5, 3.5, true, B'1111', "
    "'ok', 3, '\\x41', 'null', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '10.0.0.1', '{4}', "
    "'{x}')",
]

PG_PREDICATES = [
    "name = 'ABC'",  # nondeterministic case-insensitive ICU collation
    "code = 'ABC'",
    "name COLLATE \"C\" LIKE 'a%'",
    "code LIKE 'x\\%y' ESCAPE '\\'",
    "code ILIKE 'abc'",
    "pad = 'ab'",  # char(n) comparison ignores trailing blanks
    "length(pad) = 2",
    "n > 100",
    "n IS NULL",
    "born < '1000-01-01'",
    "born BETWEEN '1999-01-01' AND '2025-01-01'",
    "seen > now()",
    "changed = '2024-02-29 08:00:00.123456+00'",
    "extract(hour from changed) = 8",
    "at = '24:00:00'",
    "span > '30 days'",
    "price > 10.49 AND price < 10.51",
    "big = 'NaN'",
    "big > 1e29",
    "ratio = 0.1",  # real 0.1 is not the double 0.1
    "ratio = 0.1::real",
    "ratio = 'Infinity'",
    "score < -1e299",
    "active",
    "active IS NOT TRUE",
    "flags = B'1010'",
    "flags & B'0001' = B'0001'",
    "feeling > 'sad'",  # enum order, not text order
    "rank + 1 > 4",
    "raw = '\\x00ff'::bytea",
    "length(raw) = 0",
    "doc ->> 'k' = '1'",
    "jsonb_typeof(doc) = 'array'",
    "uid = '123e4567-e89b-12d3-a456-426614174000'",
    "ip <<= '192.168.0.0/16'",
    "family(ip) = 6",
    "3 = ANY(nums)",
    "cardinality(labels) = 0",
    "labels[2] IS NULL AND labels[1] = 'a b'",
    "id IN (1, 3, 4) AND coalesce(name, 'none') <> 'abc'",
    "name = NULL",
    "people.id = 2",
    "(SELECT count(*) FROM people AS p2) = 4 AND id = 1",
]


def _pg_table(url: DatabaseURL, name: str, namespace: str = "public") -> Table:
    session = pg_connection.Session(url, pg_connection.connect(url))
    try:
        return pg_introspect.introspect(session, namespace, [name]).table(name)
    finally:
        session.close()


@pytest.fixture
def pg_src(pg_db: PostgresDatabase) -> Iterator[tuple[PostgresDatabase, DatabaseURL]]:
    url = parse_url(pg_db.url)
    yield pg_db, url
    drop_slot(url, SLOT)


def _pg_changes(url: DatabaseURL) -> list[Change]:
    with PgOutputStream(url, SLOT, PUB, until_caught_up=True) as stream:
        return [c for tx in stream.transactions() for c in tx.changes]


def _pg_selected(url: DatabaseURL, predicate: str) -> set[Any]:
    with contextlib.closing(pg_connection.connect(url)) as conn:
        return {r[0] for r in conn.execute(f"SELECT id FROM people WHERE {predicate}")}


def test_pg_stream_rows_match_like_a_select_on_the_source(
    pg_src: tuple[PostgresDatabase, DatabaseURL],
) -> None:
    db, url = pg_src
    for statement in PG_SETUP:
        db.execute(statement)
    create_publication(url, PUB, [("public", "people")])
    create_slot(url, SLOT)
    for values in PG_ROWS:
        db.execute(f"INSERT INTO people VALUES {values}")
    changes = _pg_changes(url)
    assert [c.op for c in changes] == [Op.INSERT] * len(PG_ROWS)
    table = _pg_table(url, "people")
    columns = changes[0].columns
    rows = [c.after for c in changes if c.after is not None]
    ids = [row[0] for row in rows]
    answers = {}
    for predicate in PG_PREDICATES:
        with pg_rowfilter.RowFilter(url, table, predicate) as rf:
            got = {i for i, hit in zip(ids, rf.matches(columns, rows), strict=True) if hit}
        assert got == _pg_selected(url, predicate), predicate
        answers[predicate] = got
    assert answers["name = 'ABC'"] == {1, 2} and answers["feeling > 'sad'"] == {1, 4}


def test_pg_unchanged_toast_values_are_left_out_unless_needed(
    pg_src: tuple[PostgresDatabase, DatabaseURL],
) -> None:
    db, url = pg_src
    db.execute("CREATE TABLE t (id integer PRIMARY KEY, big text, v integer)")
    table = _pg_table(url, "t")
    rows = [(1, UNCHANGED, 5), (2, "x", 5), (3, UNCHANGED, 1), (4, "y", None)]
    with pg_rowfilter.RowFilter(url, table, "v > 2") as rf:
        assert rf.matches(("id", "big", "v"), rows) == [True, True, False, False]
    with (
        pg_rowfilter.RowFilter(url, table, "big = 'x'") as rf,
        pytest.raises(SchemaError, match="big"),
    ):
        rf.matches(("id", "big", "v"), rows)


def test_pg_odd_identifiers_and_other_schema(pg_db: PostgresDatabase) -> None:
    pg_db.execute('CREATE SCHEMA "my schema"')
    pg_db.execute("""CREATE TYPE "my schema"."lvl" AS ENUM ('lo', 'hi')""")
    pg_db.execute(
        'CREATE TABLE "my schema"."order" ("a b" integer NOT NULL, "x""; drop" text NOT NULL, '
        '"_ferryman_row" integer, "100%" "my schema"."lvl", PRIMARY KEY ("a b", "x""; drop"))'
    )
    url = parse_url(pg_db.url)
    table = _pg_table(url, "order", "my schema")
    predicate = (
        """"order"."a b" > 1 AND "x""; drop" LIKE '%ok' AND "_ferryman_row" = 5 """
        """AND "100%" > 'lo'"""
    )
    with pg_rowfilter.RowFilter(url, table, predicate) as rf:
        rows = [(2, "is ok", 5, "hi"), (1, "ok", 5, "hi"), (3, "ok", 5, "lo"), (3, "ok", 5, "hi")]
        assert rf.matches(table.column_names, rows) == [True, False, False, True]


def test_pg_batches_larger_than_the_split_size(pg_db: PostgresDatabase) -> None:
    pg_db.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
    url = parse_url(pg_db.url)
    table = _pg_table(url, "t")
    rows = [(i, f"v{i % 7}") for i in range(2500)]
    expected = [i % 3 == 0 and i % 7 != 2 for i in range(2500)]
    with pg_rowfilter.RowFilter(url, table, "id % 3 = 0 AND v <> 'v2'") as rf:
        assert rf.matches(("id", "v"), rows) == expected
    with pg_rowfilter.RowFilter(url, table, "id % 3 = 0 AND v <> 'v2'", batch_rows=7) as rf:
        assert rf.matches(("id", "v"), rows[:100]) == expected[:100]


def test_pg_wide_tables_stay_under_the_parameter_limit(pg_db: PostgresDatabase) -> None:
    columns = [f"c{i}" for i in range(100)]
    pg_db.execute(f"CREATE TABLE wide ({', '.join(c + ' integer' for c in columns)})")
    url = parse_url(pg_db.url)
    table = _pg_table(url, "wide")
    rows = [tuple(range(i, i + 100)) for i in range(1000)]
    with pg_rowfilter.RowFilter(url, table, "c99 >= 600") as rf:
        assert rf.matches(columns, rows) == [i >= 501 for i in range(1000)]


def test_pg_bad_predicate_is_a_config_error_without_the_password(
    pg_db: PostgresDatabase,
) -> None:
    pg_db.execute("CREATE DOMAIN nn AS integer NOT NULL")
    pg_db.execute("CREATE TABLE t (id integer PRIMARY KEY, v text, d nn)")
    url = parse_url(pg_db.url)
    assert url.password
    table = _pg_table(url, "t")
    for predicate in ("v = ", "nope = 1", "no_such_function(v)", "v > 1 +"):
        with pytest.raises(ConfigError) as info:
            pg_rowfilter.check_predicate(url, table, predicate)
        message = info.value.render()
        assert "public.t" in message and predicate in message
        assert "fix:" in message and url.password not in message
    pg_rowfilter.check_predicate(url, table, "v LIKE 'a%' OR d / 0 = 1")
    with pg_rowfilter.RowFilter(url, table, "1 / (id - 1) > 0") as rf, pytest.raises(ConfigError):
        rf.matches(("id",), [(1,)])


def test_pg_reconnects_once_after_a_lost_connection(pg_db: PostgresDatabase) -> None:
    pg_db.execute("CREATE TABLE t (id integer PRIMARY KEY)")
    url = parse_url(pg_db.url)
    table = _pg_table(url, "t")
    with pg_rowfilter.RowFilter(url, table, "id > 1") as rf:
        assert rf.matches(("id",), [(1,), (2,)]) == [False, True]
        assert rf._conn is not None
        pg_db.execute(f"SELECT pg_terminate_backend({rf._conn.info.backend_pid})")
        time.sleep(0.1)
        assert rf.matches(("id",), [(1,), (2,)]) == [False, True]
