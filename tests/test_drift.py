"""The drift guard end to end: while a move replicates (an application writing to the source),
an intruder inserts, updates and deletes rows of moved tables on the target. ``--on-drift
halt`` stops the move within seconds naming exactly the intruder's keys; ``repair`` re-copies
them so the target converges; ``log`` records them and replication goes on."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    DIRECTIONS,
    MARIADB_TO_MARIADB,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_POSTGRESQL,
    Databases,
    Direction,
)
from tests.helpers import ferryman
from tests.movekit import MoveRunner, Writer, create_move, differences, preload, wait_equal
from tests.switchkit import Side, sides

pytestmark = pytest.mark.slow

INTRUDER_KEYS = {("insert", 900001), ("update", 4500), ("delete", 4600)}


def intrude(target: Side) -> float:
    """Insert, update and delete acct rows on the target (one transaction each)."""
    conn = target.connect()
    try:
        cur = conn.cursor()
        for sql, args in (
            ("INSERT INTO acct (id, k, v) VALUES (%s, %s, %s)", (900001, 1, "intruder")),
            ("UPDATE acct SET v = %s WHERE id = %s", ("intruder", 4500)),
            ("DELETE FROM acct WHERE id = %s", (4600,)),
        ):
            cur.execute(sql, args)
            conn.commit()
        cur.close()
    finally:
        conn.close()
    return time.time()


def drift_keys(status: dict[str, Any]) -> set[tuple[str, int]]:
    return {(e["kind"], int(e["key"]["id"])) for e in status["drift"]}


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s")


@pytest.mark.parametrize("mode", ["halt", "repair", "log"])
@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: d.id)
def test_intruder_writes_on_the_target_are_seen(
    direction: Direction, mode: str, tmp_path: Path, databases: Databases
) -> None:
    source, target = sides(direction, databases)
    preload(source.db, source.engine, rows=5000)
    state = tmp_path / "state.db"
    r = create_move(state, "g", source.db.url, target.db.url)
    assert r.code == 0, r.text
    runner = MoveRunner(state, "g", source.db.url, target.db.url, args=("--on-drift", mode))
    runner.start()
    writer = Writer(source.db, source.engine, rate=100, key_space=4000)
    try:
        runner.wait_phase("replicating")
        writer.start()
        time.sleep(1.0)
        at = intrude(target)
        if mode == "halt":
            st = runner.wait_phase("halted", timeout=30)
            halted_after = st["updated_at"] - at  # when the runner set the phase
            print(f"{direction.id}: halted {halted_after:.2f}s after the intruder's last write")
            assert halted_after <= 2.5, halted_after
            assert runner.wait(30) == 1, runner.output()[-2000:]
            st = runner.status()
            assert drift_keys(st) == INTRUDER_KEYS, st["drift"]
            by_kind = {e["kind"]: e for e in st["drift"]}
            assert by_kind["insert"]["expected"] is None
            assert by_kind["insert"]["actual"]["v"] == "intruder"
            assert by_kind["delete"]["actual"] is None and by_kind["delete"]["expected"]
            assert by_kind["update"]["actual"]["v"] == "intruder"
            assert "v" in by_kind["update"]["columns"]
            assert all(e["who"] for e in st["drift"]), st["drift"]
            assert "fenced" not in st["error"] and "--accept-drift" in st["error"]
            # the printed fix: verify --repair, then start --accept-drift (refused without it)
            fix = ferryman(
                "move", "--state", str(state), "verify", "g", "--repair",
                "--source", source.db.url, "--target", target.db.url,
            )  # fmt: skip
            assert fix.code in (0, 1), fix.text
            again = MoveRunner(state, "g", source.db.url, target.db.url).start()
            assert again.wait(60) == 1 and "accept-drift" in again.output()
            runner = MoveRunner(state, "g", source.db.url, target.db.url)
            runner.start(None, "--accept-drift")
            runner.wait_phase("replicating")
        else:
            st = wait_for(
                lambda: (s := runner.status()) and drift_keys(s) == INTRUDER_KEYS and s,
                30,
                "the intruder's writes were not recorded",
            )
            assert st["phase"] == "replicating", st
        writer.stop()
        if mode in ("repair", "halt"):  # halt: after the printed fix
            wait_equal(
                lambda: differences(
                    source.db, source.engine, target.db, target.engine, target_schema=target.schema
                )
            )
        else:
            time.sleep(1.0)
            assert runner.status()["phase"] == "replicating"
            assert runner.status()["events_applied"] > 0
        assert runner.stop() == 0, runner.output()[-2000:]
    finally:
        writer.stop()
        if runner.proc is not None and runner.proc.poll() is None:
            runner.kill()


def bypass_write(side: Side) -> None:
    """A privileged write to a fenced side: the session sets ferryman's own fence bypass."""
    conn = side.connect()
    try:
        cur = conn.cursor()
        if side.engine == "mysql":
            cur.execute("SET @ferryman_fence_bypass = 1")
        else:
            cur.execute("SET ferryman.fence_bypass = 'on'")
        cur.execute("UPDATE acct SET v = %s WHERE id = %s", ("bypass", 4700))
        conn.commit()
        cur.close()
    finally:
        conn.close()


def cut(state: Path, op: str, source: Side, target: Side) -> None:
    r = ferryman(
        "move", "--state", str(state), op, "g", "--source", source.db.url,
        "--target", target.db.url, "--timeout", "60",
    )  # fmt: skip
    assert r.code == 0, r.text


@pytest.mark.parametrize(
    "direction", [MARIADB_TO_MARIADB, POSTGRESQL_TO_POSTGRESQL], ids=lambda d: d.id
)
def test_no_false_drift_through_kills_and_switches_and_the_fenced_side_is_watched(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    """Under a steady write load, with the runner SIGKILLed during the copy and the stream,
    through a switch and a reverse: no drift but the one write that bypassed the old primary's
    fence after the switch."""
    source, target = sides(direction, databases)
    preload(source.db, source.engine, rows=20000)
    state = tmp_path / "state.db"
    r = create_move(state, "g", source.db.url, target.db.url, "--chunk-rows", "500")
    assert r.code == 0, r.text
    writer = Writer(source.db, source.engine, rate=150, key_space=4000).start()
    args = ("--on-drift", "log")
    runner = MoveRunner(state, "g", source.db.url, target.db.url, args=args).start()
    try:
        for pause in (1.5, 1.0):  # kills during the copy (and catch-up) and the stream
            time.sleep(pause)
            runner.kill()
            runner = MoveRunner(state, "g", source.db.url, target.db.url, args=args).start()
        runner.wait_phase("replicating")
        time.sleep(1.0)
        runner.kill()
        runner = MoveRunner(state, "g", source.db.url, target.db.url, args=args).start()
        runner.wait_phase("replicating")
        time.sleep(2.0)
        writer.stop()
        wait_equal(
            lambda: differences(
                source.db, source.engine, target.db, target.engine, target_schema=target.schema
            )
        )
        assert runner.status()["drift"] == []
        cut(state, "switch", source, target)
        Writer(target.db, target.engine, rate=50, key_space=4000).start().stop()
        bypass_write(source)
        st = wait_for(
            lambda: (s := runner.status())["drift"] and s,
            30,
            "the write that bypassed the fence was not reported",
        )
        assert [(e["kind"], e["key"]) for e in st["drift"]] == [("update", {"id": 4700})], st
        assert st["drift"][0]["actual"]["v"] == "bypass"
        assert st["drift"][0]["who"], st["drift"]
        cut(state, "reverse", source, target)
        runner.wait_phase("replicating")
        time.sleep(2.0)
        assert len(runner.status()["drift"]) == 1, runner.status()["drift"]
        assert runner.stop() == 0, runner.output()[-2000:]
    finally:
        writer.stop()
        if runner.proc is not None and runner.proc.poll() is None:
            runner.kill()


# a fence hook that, when asked to lock, writes to the new primary as someone else would
_INTRUDING_HOOK = """
import os
import sys
from urllib.parse import unquote, urlsplit

if os.environ.get("FERRYMAN_FENCE") != "lock":
    sys.exit(0)
u = urlsplit({url!r})
login = dict(host=u.hostname, port=u.port, user=unquote(u.username or ""))
if u.scheme.startswith("mysql"):
    import MySQLdb

    conn = MySQLdb.connect(**login, passwd=unquote(u.password or ""), db=u.path.lstrip("/"))
else:
    import psycopg

    conn = psycopg.connect(**login, password=unquote(u.password or ""), dbname=u.path[1:])
cur = conn.cursor()
cur.execute({sql!r})
conn.commit()
"""


@pytest.mark.parametrize("mode", ["halt", "repair", "log"])
@pytest.mark.parametrize(
    "direction",
    [MARIADB_TO_MARIADB, POSTGRESQL_TO_POSTGRESQL, MARIADB_TO_POSTGRESQL],
    ids=lambda d: d.id,
)
def test_a_write_to_the_new_primary_during_the_switch_is_seen(
    direction: Direction, mode: str, tmp_path: Path, databases: Databases
) -> None:
    """The runner's guard stops when it hands the stream to a switch. A write to the new
    primary after that and before the catch-up ends (here by the fence hook, in the downtime)
    is found by the switch's own look at the new primary's log: ``halt`` rolls the switch back
    and halts the move; ``repair`` re-copies the row before the switch goes on; ``log``
    records it and the switch goes on."""
    source, target = sides(direction, databases)
    preload(source.db, source.engine, rows=5000)
    state = tmp_path / "state.db"
    r = create_move(state, "g", source.db.url, target.db.url)
    assert r.code == 0, r.text
    table = f'"{target.schema}".acct' if target.schema else "acct"
    hook = tmp_path / "intrude.py"
    hook.write_text(
        _INTRUDING_HOOK.format(
            url=target.db.url, sql=f"UPDATE {table} SET v = 'intruder' WHERE id = 4500"
        )
    )
    runner = MoveRunner(state, "g", source.db.url, target.db.url, args=("--on-drift", mode)).start()
    try:
        runner.wait_phase("replicating")
        assert runner.status()["drift"] == []
        fence = f"hook:{sys.executable} {hook}"
        r = ferryman(
            "move", "--state", str(state), "switch", "g", "--source", source.db.url,
            "--target", target.db.url, "--timeout", "60", "--fence", fence,
        )  # fmt: skip
        if mode == "halt":
            assert r.code == 1, r.text
            assert "was rolled back: someone else wrote to the target" in r.err, r.err
            assert "the move is halted" in r.err, r.err
            assert runner.wait() == 1, runner.output()[-2000:]
            st = runner.status()
            assert st["phase"] == "halted", st
        else:
            assert r.code == 0, r.text
            st = runner.status()
        assert drift_keys(st) == {("update", 4500)}, st["drift"]
        (event,) = st["drift"]
        assert event["actual"]["v"] == "intruder" and event["expected"]["v"] != "intruder"
        conn = target.connect()
        try:
            cur = conn.cursor()
            cur.execute("SELECT v FROM acct WHERE id = 4500")
            (now,) = cur.fetchone()
        finally:
            conn.close()
        assert now == (event["expected"]["v"] if mode == "repair" else "intruder")
    finally:
        if runner.proc is not None and runner.proc.poll() is None:
            runner.kill()
