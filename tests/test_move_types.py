"""Every type through `ferryman move` in all four directions: the sample schemas' rows go through
the copy phase, then inserts, updates (also of keys) and deletes with the same edge values go
through the change stream; after each phase every table is compared row by row and column by
column with tests/compare.py (independent of ferryman)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from ferryman.testing.rows import MYSQL_COLUMNS, MYSQL_ROWS, POSTGRES_COLUMNS, POSTGRES_ROWS
from tests.compare import assert_same_rows
from tests.conftest import (
    MARIADB_TO_MARIADB,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_POSTGRESQL,
    Databases,
    Direction,
    TempDatabase,
)
from tests.movekit import MoveRunner, create_move, wait_equal
from tests.test_apply_types import (
    MYSQL_CHANGES,
    MYSQL_SAME_ENGINE_ONLY,
    MYSQL_SCHEMA,
    MYSQL_SETUP,
    MYSQL_TO_PG,
    PG_CHANGES,
    PG_SAME_ENGINE_ONLY,
    PG_SCHEMA,
    PG_SETUP,
    PG_TO_MYSQL,
    TABLES,
    Side,
    _special,
)


def _shifted(row: str, by: int) -> str:
    """A sample row (its text starts with ``(ID,``) with its id raised by ``by``."""
    return re.sub(r"^\((\d+),", lambda m: f"({int(m.group(1)) + by},", row, count=1)


# After MYSQL_CHANGES: every sample row again, now through the change stream (rows 2 and 40
# hold the unique t_vc values of rows 102 and 104), then a key change and a wide update.
MYSQL_STREAM = [
    *MYSQL_CHANGES,
    "DELETE FROM everything WHERE id IN (2, 40)",
    *(f"INSERT INTO everything ({MYSQL_COLUMNS}) VALUES {_shifted(r, 100)}" for r in MYSQL_ROWS),
    "UPDATE everything SET id = 201 WHERE id = 101",
    "UPDATE everything SET t_float = -1.5, t_double = -0.0, t_json = '{\"x\": null}', "
    "t_bin = X'FF', t_set = '', t_enum = NULL, t_time = '-00:00:00.01', t_bit64 = b'1', "
    "t_dec65 = 0.000000000000000000000000000001, t_longblob = X'00' WHERE id = 103",
    "UPDATE `order` SET `x\"; drop` = 'ü😀', qty = NULL WHERE `a b` = 10",
    "INSERT INTO `order` VALUES (0, '', 0), (-1, ' sp ', -1)",
    "UPDATE ukey SET i = NULL, v = NULL WHERE u = '00000000-0000-0000-0000-000000000001'",
    "INSERT INTO customer VALUES (3, 'z', 'z@y')",
    "INSERT INTO line VALUES (3, 3)",
    # the child row first: InnoDB's ON DELETE CASCADE deletes are not in the binary log (see
    # test_move_features.py::test_mariadb_cascade_deletes_reach_the_target)
    "DELETE FROM line WHERE customer_id = 1",
    "DELETE FROM customer WHERE id = 1",  # ON DELETE CASCADE: line 1 goes too (pgoutput has it)
]
# After PG_CHANGES: the sample rows again (row 1 holds row 101's unique t_vc)
PG_STREAM = [
    *PG_CHANGES,
    "DELETE FROM everything WHERE id = 1",
    *(
        f"INSERT INTO everything ({POSTGRES_COLUMNS}) VALUES {_shifted(r, 100)}"
        for r in POSTGRES_ROWS
    ),
    "UPDATE everything SET id = 201 WHERE id = 101",
    "UPDATE everything SET t_interval = '3 days 00:00:00.5', t_text_arr = '{x,NULL}', "
    "t_bytea = '\\x00'::bytea, t_inet = '10.1.2.3', t_json = '[1]', t_mood = 'it''s great', "
    "t_ts3 = '2000-01-01 00:00:00.001', t_bool = false, t_char = 'z' WHERE id = 103",
    'UPDATE "order" SET "x""; drop" = \'ü😀\', qty = NULL WHERE "a b" = 10',
    "INSERT INTO \"order\" VALUES (0, '', 0), (-1, ' sp ', -1)",
    "UPDATE ukey SET b = NULL, v = NULL WHERE u = '00000000-0000-0000-0000-000000000001'",
    "INSERT INTO customer VALUES (3, 'z', 'z@y')",
    "INSERT INTO line VALUES (3, 3)",
    "DELETE FROM customer WHERE id = 1",  # ON DELETE CASCADE: line 1 goes too (pgoutput has it)
]

PG_SPECIALS = {"t_num": _special, "t_real": _special, "t_double": _special}
# pgoutput does not publish generated columns; t_gen's expression is translated, so MariaDB
# recomputes it (a generated column there) and it is compared like every other column.
PG_TO_MYSQL_COPY = {k: v for k, v in PG_TO_MYSQL.items() if k != "t_gen"}


def _side(db: TempDatabase[Any], engine: str, namespace: str) -> Side:
    return Side(
        "mysql" if engine == "mysql" else "postgresql", db.url, db.server, db.name, namespace
    )


def _mismatches(src: Side, dst: Side, canon: dict[str, Any] | None) -> list[str]:
    out = []
    for table in TABLES:
        try:
            assert_same_rows(src.rows(table), dst.rows(table), canon=canon)
        except AssertionError as exc:
            out.append(f"{table}: {exc}")
    return out


def _compare(src: Side, dst: Side, canon: dict[str, Any] | None) -> None:
    for table in TABLES:
        assert_same_rows(src.rows(table), dst.rows(table), canon=canon)


def _wait_events(runner: MoveRunner, at_least: int, timeout: float = 10.0) -> dict[str, Any]:
    """The status once it counts ``at_least`` applied events (it is published about once a
    second)."""
    deadline = time.monotonic() + timeout
    while True:
        st = runner.status()
        if st["events_applied"] >= at_least or time.monotonic() > deadline:
            assert st["events_applied"] >= at_least, st
            return st
        time.sleep(0.2)


def run_move(
    tmp_path: Path,
    direction: Direction,
    source: TempDatabase[Any],
    target: TempDatabase[Any],
    *,
    schema: list[str],
    setup: list[str],
    stream: list[str],
    copy_canon: dict[str, Any] | None,
    stream_canon: dict[str, Any] | None,
) -> None:
    s_engine, t_engine = direction.source, direction.target
    src = _side(source, s_engine, source.name if s_engine == "mysql" else "public")
    namespace = {"mysql": target.name, "postgres": "public"}[t_engine]
    if direction == MARIADB_TO_POSTGRESQL:
        namespace = source.name  # a MySQL database becomes a PostgreSQL schema of its name
    dst = _side(target, t_engine, namespace)
    for sql in schema + setup:
        src.execute(sql)
    state = tmp_path / "state.db"
    made = create_move(state, "types", source.url, target.url, "--chunk-rows", "2", "-j", "2")
    assert made.code == 0, made.text
    runner = MoveRunner(state, "types", source.url, target.url).start()
    try:
        runner.wait_phase("replicating")
        _compare(src, dst, copy_canon)  # the copy phase: exact

        for sql in stream:
            src.execute(sql)
        wait_equal(lambda: _mismatches(src, dst, stream_canon), timeout=60)
        _compare(src, dst, stream_canon)  # the change stream: exact
        st = _wait_events(runner, len(stream))
        assert st["phase"] == "replicating" and st["error"] is None
        assert [t["copy_done"] for t in st["tables"]] == [True] * len(TABLES)
    finally:
        code = runner.stop()
    assert code == 0, runner.output()


def test_every_type_through_copy_and_stream(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    if direction == MARIADB_TO_MARIADB:
        # zero dates and BOOL 2 only MariaDB holds, copied and streamed
        zero_stream = [s.replace("VALUES (6,", "VALUES (106,") for s in MYSQL_SAME_ENGINE_ONLY]
        run_move(
            tmp_path,
            direction,
            source,
            target,
            schema=MYSQL_SCHEMA,
            setup=MYSQL_SETUP + MYSQL_SAME_ENGINE_ONLY,
            stream=MYSQL_STREAM + zero_stream,
            copy_canon=None,
            stream_canon=None,
        )
        zeros = (
            "SELECT id, t_bool, CONCAT(t_date), CONCAT(t_ts) FROM everything WHERE id IN (6, 106)"
        )
        assert target.execute(zeros) == source.execute(zeros)
        assert len(target.execute(zeros)) == 2
    elif direction == MARIADB_TO_POSTGRESQL:
        run_move(
            tmp_path,
            direction,
            source,
            target,
            schema=MYSQL_SCHEMA,
            setup=MYSQL_SETUP,
            stream=MYSQL_STREAM,
            copy_canon=MYSQL_TO_PG,
            stream_canon=MYSQL_TO_PG,
        )
    elif direction == POSTGRESQL_TO_POSTGRESQL:
        run_move(
            tmp_path,
            direction,
            source,
            target,
            schema=PG_SCHEMA,
            setup=PG_SETUP + PG_SAME_ENGINE_ONLY,
            stream=PG_STREAM,
            copy_canon=PG_SPECIALS,
            stream_canon=PG_SPECIALS,
        )
    else:
        run_move(
            tmp_path,
            direction,
            source,
            target,
            schema=PG_SCHEMA,
            setup=PG_SETUP,
            stream=PG_STREAM,
            copy_canon=PG_TO_MYSQL_COPY,
            stream_canon=PG_TO_MYSQL_COPY,
        )
        # a row the stream inserted: t_gen recomputed on the target
        assert target.execute("SELECT t_gen FROM everything WHERE id = 8") == [(2,)]
        assert source.execute("SELECT t_gen FROM everything WHERE id = 8") == [(2,)]
