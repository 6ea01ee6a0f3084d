"""Schema objects end to end: CHECK constraints across engines, generated columns never written
(copy and live move, every direction), views recreated with --with-views (and refused across
engines), types without a counterpart refused by column name, and the one note naming what
is not moved."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import (
    CROSS_ENGINE,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_MARIADB,
    SAME_ENGINE,
    Direction,
    MySQLDatabase,
    PostgresDatabase,
)
from tests.helpers import ferryman
from tests.test_move_features import Move, wait_until
from tests.test_move_features import make_move as make_move

MYSQL_CHECKED = (
    "CREATE TABLE items (id INT PRIMARY KEY, qty INT CHECK (qty BETWEEN 0 AND 100), "
    "status VARCHAR(10) CHECK (status IN ('new', 'done')), name VARCHAR(20), "
    "CONSTRAINT name_len CHECK (char_length(name) > 0 AND qty IS NOT NULL), "
    "CONSTRAINT odd CHECK (qty % 2 = 0 OR qty > 50))"
)
PG_CHECKED = (
    "CREATE TABLE items (id int PRIMARY KEY, qty int CHECK (qty BETWEEN 0 AND 100), "
    "status varchar(10) CHECK (status IN ('new', 'done')), name varchar(20), "
    "CONSTRAINT name_len CHECK (char_length(name) > 0 AND qty IS NOT NULL), "
    "CONSTRAINT odd CHECK (qty % 2 = 0 OR qty > 50))"
)


def rejects(db: Any, sql: str) -> bool:
    try:
        db.execute(sql)
    except Exception:
        return True
    return False


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_checks_are_translated_across_engines_and_the_rest_named(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    m.source.execute(MYSQL_CHECKED if m.s == "mysql" else PG_CHECKED)
    m.source.execute("INSERT INTO items VALUES (1, 4, 'new', 'a'), (2, 51, 'done', 'b')")
    schema = ferryman("schema", m.source.url, m.target.url, "--json")
    assert schema.code == 0, schema.text
    notes = [n["message"] for n in json.loads(schema.out)["notes"]]
    # % (MySQL MOD) is outside the portable subset: named with its expression
    assert any("not translated" in n and "odd CHECK (" in n for n in notes), notes
    copy = ferryman("copy", m.source.url, m.target.url)
    assert copy.code == 0, copy.text
    table = f"{m.schema}.items" if m.t == "postgres" else "items"
    assert rejects(m.target, f"INSERT INTO {table} VALUES (10, 101, 'new', 'x')")  # range
    assert rejects(m.target, f"INSERT INTO {table} VALUES (11, 2, 'NOPE', 'x')")  # IN list
    assert rejects(m.target, f"INSERT INTO {table} VALUES (12, 2, 'new', '')")  # length
    m.target.execute(f"INSERT INTO {table} VALUES (13, 3, 'done', 'ok')")  # odd was not kept


def test_postgres_checks_copy_postgres_to_postgres_and_the_mysql_chain(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase, pg_db2: PostgresDatabase
) -> None:
    mysql_db.execute(
        "CREATE TABLE t (id INT UNSIGNED PRIMARY KEY, small TINYINT, qty INT CHECK (qty >= 0))"
    )
    mysql_db.execute("INSERT INTO t VALUES (1, -5, 3), (4000000000, 127, 0)")
    first = ferryman("copy", mysql_db.url, pg_db.url, "--target-schema", "public")
    assert first.code == 0, first.text
    chain = ferryman("copy", pg_db.url, pg_db2.url)  # the range CHECKs, verbatim on PostgreSQL
    assert chain.code == 0, chain.text
    assert rejects(pg_db2, "INSERT INTO t VALUES (5, 128, 1)")
    assert rejects(pg_db2, "INSERT INTO t VALUES (6, 1, -1)")
    assert pg_db2.execute("SELECT count(*) FROM t")[0][0] == 2


GENERATED = {
    "mysql": [
        "CREATE TABLE acct (id INT PRIMARY KEY, qty INT NOT NULL, price DECIMAL(8,2), "
        "twice INT AS (qty * 2) VIRTUAL, total DECIMAL(12,2) AS (price * qty) STORED, "
        "lbl VARCHAR(30) AS (concat('n', qty)) VIRTUAL)"
    ],
    "postgres": [
        "CREATE TABLE acct (id int PRIMARY KEY, qty int NOT NULL, price numeric(8,2), "
        "twice int GENERATED ALWAYS AS (qty * 2) STORED, "
        "total numeric(12,2) GENERATED ALWAYS AS (price * qty) STORED)"
    ],
}


def test_generated_columns_are_never_written_and_stay_current(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    """The target recomputes generated columns (same engine: verbatim; across engines: trivial
    expressions translated); copy and the live apply never write them (both engines refuse)."""
    m = make_move(direction)
    for sql in GENERATED[m.s]:
        m.source.execute(sql)
    m.source.execute("INSERT INTO acct (id, qty, price) VALUES (1, 2, 1.50), (2, 5, NULL)")
    m.created()
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        m.source.execute("INSERT INTO acct (id, qty, price) VALUES (3, 7, 2.25)")
        m.source.execute("UPDATE acct SET qty = qty + 10 WHERE id IN (1, 2)")
        m.source.execute("DELETE FROM acct WHERE id = 2")
        cols = "id, qty, price, twice, total" + (", lbl" if m.s == "mysql" else "")

        def same() -> bool:
            src = m.source.execute(f"SELECT {cols} FROM acct ORDER BY id")
            table = f"{m.schema}.acct" if m.t == "postgres" else "acct"
            return [tuple(map(str, r)) for r in src] == [
                tuple(map(str, r))
                for r in m.target.execute(f"SELECT {cols} FROM {table} ORDER BY id")
            ]

        wait_until(same, "generated columns recomputed on the target", timeout=60)
    finally:
        assert runner.stop() == 0, runner.output()


VIEWS = {
    "mysql": [
        "CREATE TABLE a (id INT PRIMARY KEY, n INT)",
        "CREATE TABLE b (id INT PRIMARY KEY)",
        "CREATE VIEW va AS SELECT id, n FROM a WHERE n > 0",
        "CREATE VIEW vva AS SELECT id FROM va",
        "CREATE VIEW vb AS SELECT id FROM b",
    ],
    "postgres": [
        "CREATE TABLE a (id int PRIMARY KEY, n int)",
        "CREATE TABLE b (id int PRIMARY KEY)",
        "CREATE VIEW va AS SELECT id, n FROM a WHERE n > 0",
        "CREATE VIEW vva AS SELECT id FROM va",
        "CREATE VIEW vb AS SELECT id FROM b",
        "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ],
}


@pytest.mark.parametrize("direction", SAME_ENGINE)
def test_with_views_recreates_views_over_moved_tables(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    for sql in VIEWS[m.s]:
        m.source.execute(sql)
    m.source.execute("INSERT INTO a VALUES (1, 1), (2, 0)")
    r = m.create("--tables", "a", "--with-views")
    assert r.code == 0, r.text
    assert "view vb not recreated: reads b" in r.text, r.text
    assert "views recreated on the target: va, vva" in r.text, r.text
    assert "not moved: views va, vb, vva" in r.text  # the one note of what is not moved
    view = (lambda v: f"{m.schema}.{v}") if m.t == "postgres" else (lambda v: v)
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        m.source.execute("INSERT INTO a VALUES (3, 5)")
        wait_until(
            lambda: (
                [r[0] for r in m.target.execute(f"SELECT id FROM {view('vva')} ORDER BY id")]
                == [1, 3]
            ),
            "the recreated views to show the moved rows",
        )
    finally:
        assert runner.stop() == 0, runner.output()
    cancel = m.cli("cancel", m.name, "--source", m.source.url, "--target", m.target.url)
    assert cancel.code == 0, cancel.text
    assert rejects(m.target, f"SELECT * FROM {view('va')}")  # cancel dropped the views too


def test_with_views_is_refused_across_engines_before_writing(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_POSTGRESQL)
    for sql in VIEWS["mysql"]:
        m.source.execute(sql)
    r = m.create("--with-views")
    assert r.code == 2 and "--with-views" in r.err and "same engine" in r.err, r.text
    copy = ferryman("copy", m.source.url, m.target.url, "--with-views")
    assert copy.code == 2, copy.text
    assert m.dst_tables() == []


def test_types_without_a_counterpart_are_refused_by_column(
    mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase, pg_db: PostgresDatabase, tmp_path: Any
) -> None:
    mysql_db.execute(
        "CREATE TABLE geo (id INT PRIMARY KEY, p POINT NOT NULL, g GEOMETRY, SPATIAL INDEX (p))"
    )
    mysql_db.execute(
        "INSERT INTO geo VALUES (1, POINT(1, 2), ST_GeomFromText('LINESTRING(0 0,1 1)'))"
    )
    mysql_db.execute("CREATE TABLE plain (id INT PRIMARY KEY)")
    for args in (
        ("schema", mysql_db.url, pg_db.url),
        ("copy", mysql_db.url, pg_db.url),
        (
            "move",
            "--state",
            str(tmp_path / "s.db"),
            "create",
            "g",
            "--source",
            mysql_db.url,
            "--target",
            pg_db.url,
        ),
    ):
        r = ferryman(*args)
        assert r.code == 2, r.text
        assert "geo.p" in r.err and "--type-override geo.p=" in r.err and "--exclude geo" in r.err
    assert pg_db.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'plain'")[0][0] == 0
    # --exclude is the way out; within MariaDB the spatial column and index move as they are
    assert ferryman("copy", mysql_db.url, pg_db.url, "--exclude", "geo").code == 0
    same = ferryman("copy", mysql_db.url, mysql_db2.url)
    assert same.code == 0, same.text
    assert mysql_db2.execute("SELECT ST_AsText(p) FROM geo") == [("POINT(1 2)",)]


def test_tsvector_moves_within_postgres_and_is_refused_to_mariadb(
    pg_db: PostgresDatabase, pg_db2: PostgresDatabase, mysql_db: MySQLDatabase
) -> None:
    pg_db.execute("CREATE TABLE doc (id int PRIMARY KEY, body text, fts tsvector)")
    pg_db.execute("INSERT INTO doc VALUES (1, 'a cat', to_tsvector('a cat'))")
    plain = ferryman("check", pg_db.url)
    assert plain.code == 0, plain.text  # tsvector moves PostgreSQL → PostgreSQL
    assert "to postgresql: moves faithfully; to mysql: cannot move" in plain.out
    to_mysql = ferryman("check", pg_db.url, "--to", "mysql")
    assert to_mysql.code == 1 and "column fts (tsvector)" in to_mysql.out
    assert ferryman("copy", pg_db.url, pg_db2.url).code == 0
    refused = ferryman("copy", pg_db.url, mysql_db.url)
    assert refused.code == 2 and "doc.fts" in refused.err and "--exclude doc" in refused.err
    override = ferryman("copy", pg_db.url, mysql_db.url, "--type-override", "doc.fts=TEXT")
    assert override.code == 0, override.text


def test_postgres_generated_column_without_translation_is_refused_for_a_live_move(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(POSTGRESQL_TO_MARIADB)
    m.source.execute(
        "CREATE TABLE acct (id int PRIMARY KEY, s text, "
        "up text GENERATED ALWAYS AS (upper(s)) STORED)"
    )
    r = m.create()
    assert r.code == 2 and "acct.up (upper(s))" in r.err and "--exclude" in r.err, r.text
    assert m.dst_tables() == []
    # a one-shot copy carries the values (with a note)
    m.source.execute("INSERT INTO acct (id, s) VALUES (1, 'a')")
    assert ferryman("copy", m.source.url, m.target.url).code == 0
    assert m.target.execute("SELECT up FROM acct") == [("A",)]


def test_on_update_current_timestamp_becomes_a_trigger_that_spares_the_live_apply(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_POSTGRESQL)
    m.source.execute(
        "CREATE TABLE acct (id INT PRIMARY KEY, v VARCHAR(10), ts DATETIME NOT NULL "
        "DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)"
    )
    m.source.execute("INSERT INTO acct VALUES (1, 'a', '2000-01-01 00:00:00')")
    m.source.execute("INSERT INTO acct VALUES (2, 'b', '2000-01-01 00:00:00')")
    r = m.create()
    assert r.code == 0 and "ON UPDATE CURRENT_TIMESTAMP becomes trigger" in r.text, r.text
    runner = m.runner()
    table = f"{m.schema}.acct"
    try:
        runner.wait_phase("replicating")
        # the source keeps ts as it was (explicitly): the replicated update must keep it too
        m.source.execute("UPDATE acct SET v = 'kept', ts = ts WHERE id = 1")
        wait_until(
            lambda: (
                m.target.execute(f"SELECT v, ts::text FROM {table} WHERE id = 1")
                == [("kept", "2000-01-01 00:00:00")]
            ),
            "the replicated update with its timestamp unchanged",
        )
    finally:
        assert runner.stop() == 0, runner.output()
    # an application's update on the target (no ferryman session) gets the MySQL behaviour
    m.target.execute(f"UPDATE {table} SET v = 'app' WHERE id = 2")
    assert m.target.execute(f"SELECT ts > '2001-01-01' FROM {table} WHERE id = 2") == [(True,)]


SAME_ENGINE_ONLY = {
    "mysql": [
        "CREATE TABLE acct (id INT PRIMARY KEY, p POINT, g GEOMETRY)",
        "INSERT INTO acct VALUES (1, POINT(1, 2), ST_GeomFromText('LINESTRING(0 0,1 1)'))",
    ],
    "postgres": [
        "CREATE TABLE acct (id int PRIMARY KEY, fts tsvector, q tsquery, r int4range, m money, "
        "x xml, pt point)",
        "INSERT INTO acct VALUES (1, to_tsvector('a cat'), 'cat'::tsquery, '[1,5)', 3.5, '<a/>', "
        "'(1,2)')",
    ],
}
SAME_ENGINE_CHANGE = {
    "mysql": "INSERT INTO acct VALUES (2, POINT(3, 4), "
    "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'))",
    "postgres": "INSERT INTO acct VALUES (2, to_tsvector('the dogs'), 'dog'::tsquery, '[2,3]', "
    "4, '<b>x</b>', '(3,4)')",
}
AS_TEXT = {
    "mysql": "SELECT id, ST_AsText(p), ST_AsText(g) FROM {t} ORDER BY id",
    "postgres": "SELECT id, fts::text, q::text, r::text, m::text, x::text, pt::text FROM {t} "
    "ORDER BY id",
}


@pytest.mark.parametrize("direction", SAME_ENGINE)
def test_types_without_a_counterpart_move_live_within_their_engine(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    """What `check` says without --to: these move faithfully within the engine."""
    m = make_move(direction)
    for sql in SAME_ENGINE_ONLY[m.s]:
        m.source.execute(sql)
    verdict = ferryman("check", m.source.url, "--to", "mariadb" if m.s == "mysql" else m.s)
    assert verdict.code == 0 and "acct → " in verdict.out and "moves faithfully" in verdict.out
    m.created()
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        m.source.execute(SAME_ENGINE_CHANGE[m.s])
        m.source.execute("UPDATE acct SET id = 3 WHERE id = 1")
        table = f"{m.schema}.acct" if m.t == "postgres" else "acct"
        wait_until(
            lambda: (
                m.source.execute(AS_TEXT[m.s].format(t="acct"))
                == m.target.execute(AS_TEXT[m.s].format(t=table))
            ),
            "the same values on the target",
        )
    finally:
        assert runner.stop() == 0, runner.output()
