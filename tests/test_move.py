"""`ferryman move`: copy while writes go on, replicate, stop and resume — in all four directions,
compared row by row with an independent reader."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MySQLDatabase, PostgresDatabase, TempDatabase
from tests.movekit import MoveRunner, Writer, create_move, differences, preload, wait_equal

DIRECTIONS = [
    ("mysql", "mysql"),
    ("mysql", "postgres"),
    ("postgres", "postgres"),
    ("postgres", "mysql"),
]


def _dbs(
    pair: tuple[str, str],
    mysql_db: MySQLDatabase,
    mysql_db2: MySQLDatabase,
    pg_db: PostgresDatabase,
    pg_db2: PostgresDatabase,
) -> tuple[TempDatabase[Any], TempDatabase[Any]]:
    s, t = pair
    source = mysql_db if s == "mysql" else pg_db
    target = mysql_db2 if t == "mysql" else pg_db2 if s == "postgres" else pg_db
    return source, target


def race(
    tmp_path: Path,
    source: TempDatabase[Any],
    s_engine: str,
    target: TempDatabase[Any],
    t_engine: str,
    *,
    seconds: float = 6.0,
    rate: float = 400.0,
    chunk_rows: int = 500,
) -> None:
    preload(source, s_engine)
    state = tmp_path / "state.db"
    writer = Writer(source, s_engine, rate=rate).start()
    t0 = time.monotonic()
    try:
        time.sleep(0.5)
        r = create_move(
            state, "race", source.url, target.url, "--chunk-rows", str(chunk_rows), "-j", "2"
        )
        assert r.code == 0, r.text
        runner = MoveRunner(state, "race", source.url, target.url).start()
        runner.wait_phase("replicating")
        time.sleep(seconds)
    finally:
        writer.stop()
    elapsed = time.monotonic() - t0
    assert writer.rate_seen(elapsed) >= 300, (writer.done, elapsed, writer.errors[:3])
    schema = source.name if (s_engine, t_engine) == ("mysql", "postgres") else None
    wait_equal(lambda: differences(source, s_engine, target, t_engine, target_schema=schema))
    st = runner.status()
    assert st["phase"] == "replicating" and st["events_applied"] > 0
    assert all(t["copy_done"] for t in st["tables"])
    assert runner.stop() == 0, runner.output()


@pytest.mark.parametrize("pair", DIRECTIONS, ids=lambda p: f"{p[0]}-to-{p[1]}")
def test_race_copy_and_replicate_under_writes(
    pair: tuple[str, str],
    tmp_path: Path,
    mysql_db: MySQLDatabase,
    mysql_db2: MySQLDatabase,
    pg_db: PostgresDatabase,
    pg_db2: PostgresDatabase,
) -> None:
    source, target = _dbs(pair, mysql_db, mysql_db2, pg_db, pg_db2)
    race(tmp_path, source, pair[0], target, pair[1])
