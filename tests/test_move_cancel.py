"""`ferryman move cancel`: before any switch it removes the source's change capture, the
target's checkpoint, the tables the move created (or keeps them with --keep-data) and the
workflow; it is refused while the move runs and after a switch."""

from __future__ import annotations

import json
from pathlib import Path

from ferryman.workflow.state import open_store
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman
from tests.movekit import MoveRunner, create_move, preload


def _cancel(state: Path, name: str, src: str, dst: str, *args: str) -> tuple[int, str]:
    r = ferryman(
        "move", "--state", str(state), "cancel", name, "--source", src, "--target", dst, *args
    )
    return r.code, r.text


def test_cancel_postgres_to_mysql_removes_everything(
    tmp_path: Path, pg_db: PostgresDatabase, mysql_db: MySQLDatabase
) -> None:
    preload(pg_db, "postgres", rows=500)
    state = tmp_path / "state.db"
    assert create_move(state, "c1", pg_db.url, mysql_db.url).code == 0
    runner = MoveRunner(state, "c1", pg_db.url, mysql_db.url).start()
    try:
        runner.wait_phase("replicating")
        code, text = _cancel(state, "c1", pg_db.url, mysql_db.url)
        assert code == 1 and "running" in text.lower(), text  # refused while it runs
    finally:
        assert runner.stop() == 0, runner.output()
    slots = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ferryman_c1'"
    pubs = "SELECT count(*) FROM pg_publication WHERE pubname = 'ferryman_c1'"
    assert pg_db.execute(slots) == [(1,)] and pg_db.execute(pubs) == [(1,)]
    code, text = _cancel(state, "c1", pg_db.url, mysql_db.url)
    assert code == 0, text
    assert pg_db.execute(slots) == [(0,)] and pg_db.execute(pubs) == [(0,)]
    assert mysql_db.execute("SHOW TABLES") == []
    left = mysql_db.server.execute(
        "SELECT count(*) FROM _ferryman.checkpoints WHERE workflow LIKE 'c1/%'", "mysql"
    )
    assert left == [(0,)]
    r = ferryman("move", "--state", str(state), "status", "c1")
    assert r.code == 2 and "c1" in r.text
    # the name can be used again
    assert create_move(state, "c1", pg_db.url, mysql_db.url).code == 0


def test_cancel_keep_data_and_refused_after_switch(
    tmp_path: Path, mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase
) -> None:
    preload(mysql_db, "mysql", rows=300)
    state = tmp_path / "state.db"
    assert create_move(state, "c2", mysql_db.url, mysql_db2.url).code == 0
    runner = MoveRunner(state, "c2", mysql_db.url, mysql_db2.url).start()
    try:
        runner.wait_phase("replicating")
    finally:
        assert runner.stop() == 0, runner.output()
    store = open_store(str(state))
    store.update("c2", phase="switched")
    code, text = _cancel(state, "c2", mysql_db.url, mysql_db2.url)
    assert code == 1 and "reverse" in text, text
    store.update("c2", phase="replicating")
    r = ferryman(
        "move",
        "--state",
        str(state),
        "cancel",
        "c2",
        "--keep-data",
        "--json",
        "--source",
        mysql_db.url,
        "--target",
        mysql_db2.url,
    )
    assert r.code == 0, r.text
    doc = json.loads(r.out)
    assert doc["kept_data"] and doc["dropped_tables"] == []
    assert mysql_db2.execute("SELECT count(*) FROM acct") == [(300,)]
    assert "password" not in r.text.lower() or "***" in r.text
