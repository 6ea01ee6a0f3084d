"""Values one engine cannot hold, through the real CLI, in both data paths (the bulk copy, the
live apply): NUL bytes and bytes that are no character of their charset (MySQL → PostgreSQL),
±infinity / BC / year > 9999 dates, NaN and ±Infinity, numerics wider than DECIMAL(65,30)
(PostgreSQL → MySQL). Each refusal names table, key, column and the option that decides, and
leaves nothing half-written; the options' other settings load what they say."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ferryman.core.apply import TableTarget
from ferryman.core.copy import ValuePolicy
from ferryman.core.errors import SchemaError
from ferryman.core.schema import Column, Kind, LogicalType, Table
from ferryman.engines.mysql.convert import apply_converters as mysql_converters
from ferryman.engines.mysql.convert import decimal_text
from ferryman.engines.postgres.convert import apply_converters as pg_converters
from tests.conftest import (
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_MARIADB,
    Databases,
    Direction,
    MySQLDatabase,
    PostgresDatabase,
)
from tests.helpers import ferryman
from tests.movekit import MoveRunner
from tests.test_move_features import Move, wait_until


@pytest.fixture
def new_move(tmp_path: Path, databases: Databases) -> Callable[[Direction], Move]:
    def make(direction: Direction) -> Move:
        source, target = databases(direction)
        return Move(tmp_path, source, direction.source, target, direction.target)

    return make


# --- MySQL → PostgreSQL: NUL bytes, bytes that are no character ----------------------------------


def _pg_tables(db: PostgresDatabase, schema: str) -> list[str]:
    rows = db.execute(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'")
    return [r[0] for r in rows]


def test_copy_mysql_text_postgresql_cannot_hold(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    mysql_db.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20), a VARCHAR(20) CHARACTER SET ascii, "
        "l VARCHAR(20) CHARACTER SET latin1, j JSON)"
    )
    # latin1 holds any byte (0x81 is a character there); an ascii column takes x'E9' unchecked;
    # jsonb refuses the JSON escape \u0000
    mysql_db.execute(
        "INSERT INTO t VALUES (1, 'ok', 'ok', x'E981', NULL), "
        "(2, CONCAT('a', CHAR(0), 'b'), 'x', NULL, NULL), "
        "(3, 'c', x'41E9', NULL, '[\"\\\\u0000\"]')"
    )
    url = pg_db.url + "?schema=v"

    r = ferryman("copy", mysql_db.url, url)
    assert r.code == 2, r.text
    assert "row (2) of table t: column s contains a NUL byte" in r.err
    assert "--nul-bytes strip" in r.err
    assert _pg_tables(pg_db, "v") == []  # nothing half-written: the created table is gone

    r = ferryman("copy", mysql_db.url, url, "--nul-bytes", "strip")
    assert r.code == 2, r.text
    assert "row (3) of table t: column a holds bytes that are no ascii character" in r.err
    assert "--invalid-utf8 replace" in r.err
    assert _pg_tables(pg_db, "v") == []

    replace = ("--invalid-utf8", "replace")
    r = ferryman("copy", mysql_db.url, url, "--nul-bytes", "strip", *replace)
    assert r.code == 2, r.text
    assert "row (3) of table t: column j holds \\u0000, which PostgreSQL jsonb cannot" in r.err
    assert "--type-override t.j=json" in r.err
    assert _pg_tables(pg_db, "v") == []

    json = ("--type-override", "t.j=json")
    r = ferryman("copy", mysql_db.url, url, "--nul-bytes", "strip", *replace, *json)
    assert r.code == 0, r.text
    rows = pg_db.execute("SELECT id, s, a, l, j::text FROM v.t ORDER BY id")
    assert rows == [
        (1, "ok", "ok", "é\x81", None),
        (2, "ab", "x", None, None),
        (3, "c", "A?", None, '["\\u0000"]'),
    ]

    pg_db.execute("DROP SCHEMA v CASCADE")
    r = ferryman("copy", mysql_db.url, url, "--nul-bytes", "replace:<0>", *replace, *json)
    assert r.code == 0, r.text
    assert pg_db.execute("SELECT s FROM v.t WHERE id = 2") == [("a<0>b",)]

    r = ferryman("copy", mysql_db.url, url, "--nul-bytes", "drop")
    assert r.code == 2 and "--nul-bytes 'drop' is unknown" in r.err, r.text


def _checkpoint(m: Move) -> Any:
    return m.target.execute("SELECT position FROM _ferryman.checkpoints")


def _settled_checkpoint(m: Move) -> Any:
    """The checkpoints once the runner has applied everything before (unchanged for 1 s): a
    PostgreSQL source's copy leaves a committed mark transaction that the stream checkpoints
    after the copied rows are on the target."""
    last, deadline = _checkpoint(m), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _checkpoint(m)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the checkpoint did not settle: {last}")


def _failed(m: Move, runner: MoveRunner) -> str:
    """The runner stops with exit 2; the move is failed with the message; returns it."""
    assert runner.wait(90) == 2, runner.output()
    st = m.status()
    assert st["phase"] == "failed", st
    return str(st["error"])


def test_move_mysql_text_postgresql_cannot_hold(
    new_move: Callable[[Direction], Move],
) -> None:
    m = new_move(MARIADB_TO_POSTGRESQL)
    m.source.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, s TEXT, a VARCHAR(20) CHARACTER SET ascii, j JSON)"
    )
    m.source.execute("INSERT INTO t VALUES (1, CONCAT('a', CHAR(0), 'b'), 'x', NULL)")
    m.created("--nul-bytes", "replace:?")  # kept in the move: the copy and the stream use it
    runner = m.runner()
    m_rows = f"SELECT id, s, a FROM {m.schema}.t ORDER BY id"
    wait_until(lambda: m.target.execute(m_rows) == [(1, "a?b", "x")], "the copy")
    m.source.execute("INSERT INTO t VALUES (2, 'c\\0d', 'y', NULL)")
    wait_until(lambda: len(m.target.execute(m_rows)) == 2, "the stream")
    before = _checkpoint(m)

    # one source transaction: a good row and a row whose ascii column holds 0xE9
    m.source.execute("INSERT INTO t VALUES (3, 'fine', 'z', NULL), (4, 'e', x'41E9', NULL)")
    error = _failed(m, runner)
    assert "row (4) of table" in error and ".t: column a carries" in error, error
    assert "no ascii character" in error and "--invalid-utf8 replace" in error, error
    assert [r[0] for r in m.target.execute(m_rows)] == [1, 2]  # the transaction rolled back
    assert _checkpoint(m) == before

    runner = m.runner("--invalid-utf8", "replace")  # changes the stored setting
    wait_until(lambda: len(m.target.execute(m_rows)) == 4, "the resumed stream")
    m.source.execute("UPDATE t SET s = CONCAT(s, CHAR(0)) WHERE id = 3")
    wait_until(lambda: m.target.execute(m_rows)[2] == (3, "fine?", "z"), "the update")
    assert m.target.execute(m_rows) == [
        (1, "a?b", "x"),
        (2, "c?d", "y"),
        (3, "fine?", "z"),
        (4, "e", "A?"),
    ]

    m.source.execute("INSERT INTO t VALUES (5, 'g', 'w', '[\"\\\\u0000\"]')")
    error = _failed(m, runner)
    assert "row (5) of table" in error and ".t: column j carries" in error, error
    assert "--type-override t.j=json" in error, error
    assert len(m.target.execute(m_rows)) == 4


# --- PostgreSQL → MySQL: dates, NaN/Infinity, wide numerics --------------------------------------

PG_TABLE = (
    "CREATE TABLE t (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, n numeric, "
    "f float8, r real)"
)
PG_ROWS = (
    "INSERT INTO t VALUES (1, '2020-01-02', '2020-01-02 03:04:05', '2020-01-02 03:04:05+00', "
    "1.5, 2.5, 3.5), "
    "(2, 'infinity', '-infinity', '9999-12-31 23:30:00-05', 'NaN', 'NaN', '-Infinity'), "
    "(3, '0044-03-15 BC', '12000-01-01', 'infinity', 'Infinity', '-Infinity', 1), "
    "(4, NULL, NULL, NULL, 123456789012345678901234567890123456789.5, NULL, NULL)"
)


def _mysql_tables(db: MySQLDatabase) -> list[str]:
    return [r[0] for r in db.execute("SHOW TABLES")]


def test_copy_postgres_values_mysql_cannot_hold(
    pg_db: PostgresDatabase, mysql_db: MySQLDatabase
) -> None:
    pg_db.execute(PG_TABLE)
    pg_db.execute(PG_ROWS)

    r = ferryman("copy", pg_db.url, mysql_db.url)
    assert r.code == 2, r.text
    assert "row (2) of table t: column d is infinite or outside years 1..9999" in r.err
    assert "--out-of-range-dates clamp" in r.err
    assert _mysql_tables(mysql_db) == []

    r = ferryman("copy", pg_db.url, mysql_db.url, "--out-of-range-dates", "clamp")
    assert r.code == 2, r.text
    assert "row (2) of table t: column n is NaN or infinite" in r.err
    assert "--non-finite null" in r.err
    assert _mysql_tables(mysql_db) == []

    clamp = ("--out-of-range-dates", "clamp", "--non-finite", "null")
    r = ferryman("copy", pg_db.url, mysql_db.url, *clamp)
    assert r.code == 2, r.text
    assert "row (4) of table t: column n has more digits than DECIMAL(65,30) holds" in r.err
    assert "--type-override t.n=LONGTEXT" in r.err
    assert _mysql_tables(mysql_db) == []

    r = ferryman("copy", pg_db.url, mysql_db.url, *clamp, "--type-override", "t.n=LONGTEXT")
    assert r.code == 0, r.text
    low, high = datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59)
    assert mysql_db.execute("SELECT * FROM t ORDER BY id") == [
        (1, datetime.date(2020, 1, 2), _dt(3, 4, 5), _dt(3, 4, 5), "1.5", 2.5, 3.5),
        (2, datetime.date(9999, 12, 31), low, high, "NaN", None, None),
        (3, datetime.date(1, 1, 1), high, high, "Infinity", None, 1.0),
        (4, None, None, None, "123456789012345678901234567890123456789.5", None, None),
    ]
    mysql_db.execute("DROP TABLE t")
    nulls = ("--out-of-range-dates", "null", "--non-finite", "null")
    r = ferryman("copy", pg_db.url, mysql_db.url, *nulls, "--type-override", "t.n=LONGTEXT")
    assert r.code == 0, r.text
    assert mysql_db.execute("SELECT id, d, ts, tz FROM t WHERE id IN (2, 3) ORDER BY id") == [
        (2, None, None, None),
        (3, None, None, None),
    ]


def _dt(h: int, m: int, s: int) -> datetime.datetime:
    return datetime.datetime(2020, 1, 2, h, m, s)


def test_move_postgres_values_mysql_cannot_hold(
    new_move: Callable[[Direction], Move],
) -> None:
    m = new_move(POSTGRESQL_TO_MARIADB)
    m.source.execute(PG_TABLE)
    m.source.execute("ALTER TABLE t ADD COLUMN k numeric(10,2)")
    m.source.execute("INSERT INTO t (id, d, n) VALUES (1, '2020-01-02', 1.5)")
    m.created()
    runner = m.runner()
    rows = "SELECT id, d, ts, tz, n, f, r, k FROM t ORDER BY id"
    wait_until(lambda: len(m.target.execute(rows)) == 1, "the copy")
    before = _settled_checkpoint(m)

    # one source transaction: a good row and one with values MySQL cannot hold
    m.source.execute(
        "INSERT INTO t VALUES (2, 'infinity', '-infinity', '0044-03-15 BC', 'NaN', 'NaN', "
        "'Infinity', 'NaN'), (3, '2021-01-01', NULL, NULL, 3, 3, 3, 3)"
    )
    error = _failed(m, runner)
    assert "row (2) of table public.t: column d carries 'infinity'" in error, error
    assert "--out-of-range-dates clamp" in error, error
    assert [r[0] for r in m.target.execute(rows)] == [1]
    assert _checkpoint(m) == before

    runner = m.runner("--out-of-range-dates", "clamp", "--non-finite", "null")
    wait_until(lambda: len(m.target.execute(rows)) == 3, "the resumed stream")
    low = datetime.datetime(1, 1, 1)
    assert m.target.execute(rows)[1] == (
        2,
        datetime.date(9999, 12, 31),
        low,
        low,
        None,
        None,
        None,
        None,
    )
    assert m.target.execute(rows)[2][0] == 3

    # a numeric wider than DECIMAL(65,30): never rounded, whatever the options
    m.source.execute("INSERT INTO t (id, n) VALUES (5, 0.1234567890123456789012345678901)")
    error = _failed(m, runner)
    assert "row (5) of table public.t: column n carries Decimal(" in error, error
    assert "more decimals than DECIMAL(65,30)" in error, error
    assert "--type-override t.n=LONGTEXT" in error, error
    assert [r[0] for r in m.target.execute(rows)] == [1, 2, 3]
    assert Decimal(str(m.target.execute("SELECT n FROM t WHERE id = 1")[0][0])) == Decimal("1.5")


def test_numeric_into_a_text_column_keeps_postgresql_digits() -> None:
    """After --type-override T.C=LONGTEXT a numeric is written as its text (an unquoted literal
    of more than 65 digits would be read by MySQL as a DOUBLE)."""
    wide = "123456789012345678901234567890123456789012345678901234567890123456789.5"
    values = ["1.50", "1E-7", "NaN", "-Infinity", wide]
    assert [decimal_text(Decimal(v)) for v in values] == [
        "1.50",
        "0.0000001",
        "NaN",
        "-Infinity",
        wide,
    ]


def test_bytes_no_character_of_their_charset_in_the_stream() -> None:
    """The binlog decoder keeps such bytes as lone surrogates: into MySQL they are written back
    as stored, into PostgreSQL refused naming the row, or replaced with --invalid-utf8 replace."""
    key = Column("id", LogicalType(Kind.INTEGER, bits=32), "int", nullable=False)
    a = Column("a", LogicalType(Kind.VARCHAR, length=20), "varchar(20)", charset="ascii")
    src = Table("db", "t", (key, a), storage_engine="InnoDB")
    value = b"A\xe9".decode("ascii", "surrogateescape")
    to_mysql = mysql_converters(src, src, ["id", "a"])[1]
    assert to_mysql is not None and to_mysql(value) == b"A\xe9"

    pg_a = Column("a", LogicalType(Kind.VARCHAR, length=20), "character varying(20)")
    dst = Table("db", "t", (key, pg_a))

    def target(policy: ValuePolicy) -> TableTarget:
        convert = pg_converters(src, dst, ["id", "a"], values=policy)
        return TableTarget("db", "t", "db", "t", ("id", "a"), ("id",), convert)

    with pytest.raises(SchemaError, match=r"row \(4\) of table db\.t: column a carries 'A\\udce9'"):
        target(ValuePolicy()).converted_row((4, value))
    assert target(ValuePolicy(invalid_utf8="replace")).converted_row((4, value)) == (4, "A?")
