"""Continuous verification (`move start --verify-interval`): changes the capture never
delivered (MariaDB writes with `sql_log_bin = 0`, a table dropped from the PostgreSQL
publication) are found by the background verify and the move halts naming the table and keys;
under a write load alone it finds nothing and the move keeps replicating."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    MARIADB_TO_MARIADB,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_POSTGRESQL,
    Databases,
    Direction,
    TempDatabase,
)
from tests.helpers import ferryman
from tests.movekit import (
    RACE_TABLES,
    MoveRunner,
    Writer,
    create_move,
    differences,
    preload,
    wait_equal,
)

QUIET_KEYS = (70001, 70002, 70003)


def history(state: Path) -> list[dict[str, Any]]:
    r = ferryman("move", "--state", str(state), "history", "live", "--json")
    assert r.code == 0, r.text
    return list(json.loads(r.out)["events"])


def background_passes(state: Path) -> list[dict[str, Any]]:
    return [
        e
        for e in history(state)
        if e["kind"] == "verify-ended" and e["verify_kind"] == "background"
    ]


def lose_changes(direction: Direction, source: TempDatabase[Any]) -> None:
    """Write rows to `quiet` that the move's change capture does not see."""
    values = ", ".join(f"({k}, 'lost {k}')" for k in QUIET_KEYS)
    if direction.source == "mysql":
        conn = source.server.connect(source.name)
        try:
            cur = conn.cursor()
            cur.execute("SET SESSION sql_log_bin = 0")
            cur.execute(f"INSERT INTO quiet VALUES {values}")
            cur.execute("UPDATE quiet SET v = 'changed unseen' WHERE id = 5")
            conn.commit()
        finally:
            conn.close()
        return
    (pub,) = {p for (p,) in source.execute("SELECT pubname FROM pg_publication_tables")}
    source.execute(f'ALTER PUBLICATION "{pub}" DROP TABLE quiet')
    source.execute(f"INSERT INTO quiet VALUES {values}")
    source.execute("UPDATE quiet SET v = 'changed unseen' WHERE id = 5")


@pytest.mark.parametrize("direction", [MARIADB_TO_MARIADB, POSTGRESQL_TO_POSTGRESQL])
def test_background_verify_finds_changes_the_capture_missed_and_halts(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    preload(source, direction.source, rows=2000)
    source.execute("CREATE TABLE quiet (id INT PRIMARY KEY, v VARCHAR(40))")
    source.execute("INSERT INTO quiet VALUES " + ", ".join(f"({i}, 'q{i}')" for i in range(1, 101)))
    state = tmp_path / "state.db"
    assert create_move(state, "live", source.url, target.url).code == 0
    runner = MoveRunner(
        state, "live", source.url, target.url, args=("--verify-interval", "1s")
    ).start()
    writer = Writer(source, direction.source, rate=150).start()
    try:
        runner.wait_phase("replicating")
        # the background verify runs and finds the move equal before anything is lost
        deadline = time.monotonic() + 120
        while not background_passes(state) and time.monotonic() < deadline:
            time.sleep(0.5)
        passes = background_passes(state)
        assert passes and all(p["match"] for p in passes), passes
        lose_changes(direction, source)
        code = runner.wait(180)
        assert code == 1, runner.output()[-3000:]
    finally:
        writer.stop()
        if runner.proc is not None and runner.proc.poll() is None:
            runner.stop()
    st = runner.status()
    assert st["phase"] == "halted" and not st["running"]
    drift = [d for d in st["drift"] if d["table"] == "quiet"]
    assert {d["kind"] for d in st["drift"]} == {"missed"}
    assert sorted(d["key"]["id"] for d in drift) == ["5", *map(str, QUIET_KEYS)]
    (changed,) = [d for d in drift if d["key"]["id"] == "5"]
    assert changed["expected"]["v"] == "changed unseen" and changed["actual"]["v"] == "q5"
    assert all(d["actual"] is None for d in drift if d["key"]["id"] != "5")
    assert "halted" in st["error"] and "quiet" in st["error"]
    assert "id=70001" in st["error"] and "id=5" in st["error"]
    assert st["last_verify"]["match"] is False and st["last_verify"]["differences"] == 4
    kinds = [e["kind"] for e in history(state)]
    assert kinds.index("drift") < kinds.index("halted") < len(kinds) - kinds[::-1].index("stopped")
    assert "halted" in runner.output() and "quiet" in runner.output()

    # a halted move starts again only once the drift is accepted; repair first
    again = MoveRunner(state, "live", source.url, target.url)
    refused = again.start()
    assert refused.wait(60) == 1 and "--accept-drift" in refused.output()
    r = ferryman(
        "move", "--state", str(state), "verify", "live", "--repair",
        "--source", source.url, "--target", target.url,
    )  # fmt: skip
    assert r.code == 0, r.text
    again.start(None, "--accept-drift")
    try:
        again.wait_phase("replicating")
        wait_equal(
            lambda: differences(
                source, direction.source, target, direction.target, ("quiet", *RACE_TABLES)
            )
        )
    finally:
        assert again.stop() == 0, again.output()[-3000:]


@pytest.mark.parametrize("direction", [MARIADB_TO_MARIADB, MARIADB_TO_POSTGRESQL])
def test_background_verify_under_a_write_load_reports_no_drift(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    preload(source, direction.source, rows=3000)
    state = tmp_path / "state.db"
    assert create_move(state, "live", source.url, target.url).code == 0
    runner = MoveRunner(
        state,
        "live",
        source.url,
        target.url,
        args=("--verify-interval", "1s", "--verify-rows-per-second", "50000"),
    ).start()
    writer = Writer(source, direction.source, rate=300).start()
    try:
        runner.wait_phase("replicating")
        deadline = time.monotonic() + 240
        while len(background_passes(state)) < 3 and time.monotonic() < deadline:
            assert runner.proc is not None and runner.proc.poll() is None, runner.output()
            time.sleep(1)
        passes = background_passes(state)
        assert len(passes) >= 3, passes
        assert all(p["match"] is True for p in passes), passes
        assert all(p["rows_compared"] > 0 for p in passes)
        st = runner.status()
        assert st["phase"] == "replicating" and st["drift"] == [] and st["running"]
        assert st["last_verify"]["match"] is True and st["last_verify"]["tables_compared"] == 3
    finally:
        writer.stop()
    assert writer.done > 0
    schema = source.name if direction == MARIADB_TO_POSTGRESQL else None
    wait_equal(
        lambda: differences(
            source, direction.source, target, direction.target, target_schema=schema
        )
    )
    assert runner.stop() == 0, runner.output()[-3000:]
    assert runner.status()["phase"] != "halted"


def test_with_on_drift_log_missed_changes_are_recorded_once_and_the_move_goes_on(
    tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(MARIADB_TO_MARIADB)
    preload(source, "mysql", rows=1000)
    source.execute("CREATE TABLE quiet (id INT PRIMARY KEY, v VARCHAR(40))")
    source.execute("INSERT INTO quiet VALUES " + ", ".join(f"({i}, 'q{i}')" for i in range(1, 11)))
    state = tmp_path / "state.db"
    assert create_move(state, "live", source.url, target.url).code == 0
    runner = MoveRunner(
        state, "live", source.url, target.url, args=("--verify-interval", "1s", "--on-drift", "log")
    ).start()
    writer = Writer(source, "mysql", rate=100).start()
    try:
        runner.wait_phase("replicating")
        lose_changes(MARIADB_TO_MARIADB, source)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            unequal = [p for p in background_passes(state) if p["match"] is False]
            if len(unequal) >= 3:  # seen again and again, recorded once
                break
            assert runner.proc is not None and runner.proc.poll() is None, runner.output()
            time.sleep(0.5)
        assert len(unequal) >= 3, background_passes(state)
        st = runner.status()
        assert st["phase"] == "replicating" and st["running"] and st["error"] is None
        assert sorted(d["key"]["id"] for d in st["drift"]) == ["5", *map(str, QUIET_KEYS)]
        assert {(d["kind"], d["table"]) for d in st["drift"]} == {("missed", "quiet")}
        assert len([e for e in history(state) if e["kind"] == "drift"]) == 4
    finally:
        writer.stop()
        assert runner.stop() == 0, runner.output()[-3000:]
