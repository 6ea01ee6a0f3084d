"""A live move under crashes and faults: SIGKILL at every named phase and at random moments,
source servers restarted mid-stream, and positions lost before a resume — then the target must
equal the source exactly (or the move must fail saying what to do)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferryman.testing.servers import MariaDBServer, PostgresServer, start_mariadb, start_postgres
from tests.conftest import Databases, Direction, MySQLDatabase, PostgresDatabase, TempDatabase
from tests.movekit import MoveRunner, Writer, create_move, differences, preload, wait_equal

pytestmark = pytest.mark.slow  # the crash matrix: in make test, not in make test-fast

PHASES = [
    # (hook, how many times it must be reached before the process dies)
    ("snapshot_open", 1),
    ("after_chunk_read", 3),
    ("chunk_written", 4),
    ("before_checkpoint", 1),
    ("before_apply_commit", 5),
    ("after_apply_commit", 5),
]


def _check(source: TempDatabase[Any], s: str, target: TempDatabase[Any], t: str) -> None:
    schema = source.name if (s, t) == ("mysql", "postgres") else None
    wait_equal(lambda: differences(source, s, target, t, target_schema=schema))


def test_sigkill_at_every_named_phase_then_resume(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    s, t = direction.source, direction.target
    preload(source, s, rows=6000)
    state = tmp_path / "state.db"
    writer = Writer(source, s, rate=350).start()
    try:
        r = create_move(state, "crash", source.url, target.url, "--chunk-rows", "400", "-j", "2")
        assert r.code == 0, r.text
        runner = MoveRunner(state, "crash", source.url, target.url)
        for hook, nth in PHASES:
            runner.start({"FERRYMAN_KILL_AT": f"{hook}:{nth}"})
            code = runner.wait(120)
            assert code == -9, f"{hook}: exit {code}\n{runner.output()[-3000:]}"
        runner.start()
        runner.wait_phase("replicating")
        time.sleep(1.0)
    finally:
        writer.stop()
    _check(source, s, target, t)
    assert runner.stop() == 0


def test_sigkill_at_random_moments_then_resume(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    s, t = direction.source, direction.target
    seed = int(os.environ.get("FERRYMAN_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")  # rerun a failure with FERRYMAN_TEST_SEED
    rnd = random.Random(seed)
    preload(source, s, rows=20000)
    state = tmp_path / "state.db"
    writer = Writer(source, s, rate=350, seed=seed).start()
    phases = []
    try:
        r = create_move(state, "kills", source.url, target.url, "--chunk-rows", "500", "-j", "2")
        assert r.code == 0, r.text
        runner = MoveRunner(state, "kills", source.url, target.url)
        for _ in range(10):
            runner.start()
            time.sleep(rnd.uniform(0.4, 2.5))
            phases.append(runner.status()["phase"])
            runner.kill()
        runner.start()
        runner.wait_phase("replicating")
        time.sleep(1.0)
    finally:
        writer.stop()
    print("phases at the kills:", phases)
    _check(source, s, target, t)
    assert runner.stop() == 0


@pytest.fixture
def own_mariadb(tmp_path: Path) -> Iterator[MariaDBServer]:
    server = start_mariadb(server_id=301)
    yield server
    server.stop()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()


def _own_db(server: Any, engine: str) -> TempDatabase[Any]:
    name = "restart_src"
    if engine == "mysql":
        server.execute(f"CREATE DATABASE {name}")
    else:
        server.execute(f"CREATE DATABASE {name}")
    return TempDatabase(name=name, url=server.url(name), server=server)


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_source_restarted_mid_stream(
    engine: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    mysql_db2: MySQLDatabase,
    pg_db2: PostgresDatabase,
) -> None:
    server = request.getfixturevalue("own_mariadb" if engine == "mysql" else "own_postgres")
    source = _own_db(server, engine)
    target: TempDatabase[Any] = pg_db2 if engine == "postgres" else mysql_db2
    preload(source, engine, rows=3000)
    state = tmp_path / "state.db"
    r = create_move(state, "restart", source.url, target.url, "--chunk-rows", "500")
    assert r.code == 0, r.text
    runner = MoveRunner(state, "restart", source.url, target.url).start()
    runner.wait_phase("replicating")
    writer = Writer(source, engine, rate=300).start()
    try:
        time.sleep(1.5)
        server.restart(down_seconds=1.0)
        time.sleep(3.0)
    finally:
        writer.stop()
    _check(source, engine, target, engine)
    assert runner.proc is not None and runner.proc.poll() is None, runner.output()
    assert runner.status()["phase"] == "replicating"
    assert runner.stop() == 0


def test_purged_binlog_fails_the_move_with_what_to_do(
    tmp_path: Path, mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase
) -> None:
    preload(mysql_db, "mysql", rows=100)
    state = tmp_path / "state.db"
    start_file = mysql_db.server.execute("SHOW MASTER STATUS")[0][0]
    assert create_move(state, "purged", mysql_db.url, mysql_db2.url).code == 0
    mysql_db.server.execute("FLUSH BINARY LOGS")
    mysql_db.execute("INSERT INTO acct (id, k) VALUES (999999, 1)")
    mysql_db.server.execute("FLUSH BINARY LOGS")
    last = mysql_db.server.execute("SHOW MASTER STATUS")[0][0]
    deadline = time.monotonic() + 30
    # MariaDB keeps a binlog until InnoDB's binlog checkpoint has moved past it: retry until
    # the file the move starts in is gone
    while start_file in [r[0] for r in mysql_db.server.execute("SHOW BINARY LOGS")]:
        assert time.monotonic() < deadline, "the binlog could not be purged"
        mysql_db.server.execute(f"PURGE BINARY LOGS TO '{last}'")
        time.sleep(0.2)
    runner = MoveRunner(state, "purged", mysql_db.url, mysql_db2.url).start()
    code = runner.wait(120)
    out = runner.output()
    assert code == 2, out
    assert "purged" in out and "fix:" in out, out
    st = runner.status()
    assert st["phase"] == "failed" and st["error"], st


def test_dropped_slot_fails_the_move_with_what_to_do(
    tmp_path: Path, pg_db: PostgresDatabase, pg_db2: PostgresDatabase
) -> None:
    preload(pg_db, "postgres", rows=100)
    state = tmp_path / "state.db"
    assert create_move(state, "slotless", pg_db.url, pg_db2.url).code == 0
    pg_db.execute("SELECT pg_drop_replication_slot('ferryman_slotless')")
    runner = MoveRunner(state, "slotless", pg_db.url, pg_db2.url).start()
    code = runner.wait(120)
    out = runner.output()
    assert code in (1, 2), out
    assert "ferryman_slotless" in out and "fix:" in out, out
    st = runner.status()
    assert st["phase"] == "failed" and "ferryman_slotless" in st["error"], st
