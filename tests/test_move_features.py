"""`ferryman move` features end to end, through the real CLI: row filters and renames through copy
and stream, source DDL (stop / exec / ignore, --skip-ddl), throttles, passwords kept out of every
output and the state, refused input that leaves nothing behind, and the status contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ferryman.testing.servers import MariaDBServer
from tests.conftest import (
    CROSS_ENGINE,
    MARIADB_TO_MARIADB,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_POSTGRESQL,
    Databases,
    Direction,
    MySQLDatabase,
    PostgresDatabase,
    TempDatabase,
)
from tests.helpers import Result, ferryman
from tests.movekit import MoveRunner, canonical, create_move, q, rows_of, wait_equal

TABLE = "CREATE TABLE acct (id INT PRIMARY KEY, k INT NOT NULL, v VARCHAR(40))"


@dataclass
class Move:
    """One move between two test databases, driven through the CLI."""

    tmp: Path
    source: TempDatabase[Any]
    s: str  # mysql | postgres
    target: TempDatabase[Any]
    t: str
    name: str = "m"

    @property
    def state(self) -> Path:
        return self.tmp / "state.db"

    @property
    def schema(self) -> str:
        """The target namespace the move writes to."""
        if self.t == "mysql":
            return self.target.name
        return self.source.name if self.s == "mysql" else "public"

    def create(self, *args: str) -> Result:
        return create_move(self.state, self.name, self.source.url, self.target.url, *args)

    def created(self, *args: str) -> None:
        r = self.create(*args)
        assert r.code == 0, r.text

    def runner(self, *args: str, env: dict[str, str] | None = None) -> MoveRunner:
        return MoveRunner(
            self.state, self.name, self.source.url, self.target.url, env=env, args=args
        ).start()

    def src(self, table: str = "acct") -> list[tuple[Any, ...]]:
        return canonical(rows_of(self.source, self.s, table))

    def dst(self, table: str = "acct") -> list[tuple[Any, ...]]:
        return canonical(rows_of(self.target, self.t, table, self.schema))

    def dst_tables(self) -> list[str]:
        if self.t == "mysql":
            rows = self.target.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES "
                f"WHERE TABLE_SCHEMA = '{self.schema}' ORDER BY 1"
            )
        else:
            rows = self.target.execute(
                f"SELECT tablename FROM pg_tables WHERE schemaname = '{self.schema}' ORDER BY 1"
            )
        return [str(r[0]) for r in rows]

    def status(self) -> dict[str, Any]:
        r = ferryman("move", "--state", str(self.state), "status", self.name, "--json")
        assert r.code == 0, r.text
        return dict(json.loads(r.out))

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return run_cli("move", "--state", str(self.state), *args, env=env)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """`python -m ferryman ARGS` with ``env`` added to a copy of the environment that has no
    ferryman password variables."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("FERRYMAN_", "PGPASS", "MYSQL_"))
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ferryman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**base, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def make_move(tmp_path: Path, databases: Databases) -> Callable[[Direction], Move]:
    def make(direction: Direction) -> Move:
        source, target = databases(direction)
        return Move(tmp_path, source, direction.source, target, direction.target)

    return make


def insert(db: TempDatabase[Any], rows: list[tuple[int, int, str]], table: str = "acct") -> None:
    values = ", ".join(f"({i}, {k}, '{v}')" for i, k, v in rows)
    db.execute(f"INSERT INTO {table} VALUES {values}")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def pg_capture_objects(db: PostgresDatabase) -> list[tuple[Any, ...]]:
    """Replication slots and publications left in ``db``."""
    return db.execute(
        "SELECT 'slot', slot_name::text FROM pg_replication_slots WHERE database = "
        "current_database() UNION ALL SELECT 'publication', pubname::text FROM pg_publication"
    )


# --- --where and --rename ------------------------------------------------------------------


def test_where_filters_the_copy_and_the_stream(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    m.source.execute(TABLE)
    insert(m.source, [(i, i % 20, f"v{i}") for i in range(1, 201)])
    m.created("--where", "acct:k < 10", "--chunk-rows", "17")
    runner = m.runner()
    try:
        runner.wait_phase("replicating")

        def matching() -> list[tuple[Any, ...]]:
            return [r for r in m.src() if r[1] < 10]

        assert m.dst() == matching() and len(matching()) == 100
        m.source.execute("UPDATE acct SET k = 15 WHERE id IN (1, 2, 3)")  # out: deleted
        m.source.execute("UPDATE acct SET k = 4, v = 'in' WHERE id IN (10, 11, 12)")  # in
        m.source.execute("UPDATE acct SET v = 'still out' WHERE id = 19")
        m.source.execute("UPDATE acct SET v = 'still in' WHERE id = 20")
        m.source.execute("UPDATE acct SET id = 1000 WHERE id = 21")  # key change inside
        m.source.execute("UPDATE acct SET id = 1001, k = 3 WHERE id = 39")  # key change, in
        insert(m.source, [(500, 1, "new in"), (501, 11, "new out")])
        m.source.execute("DELETE FROM acct WHERE id IN (41, 42)")  # one in, one out
        wait_equal(lambda: [] if m.dst() == matching() else [f"{m.dst()[:3]}"], timeout=30)
        keys = {r[0] for r in m.dst()}
        assert {10, 11, 12, 500, 1000, 1001} <= keys
        assert not keys & {1, 2, 3, 19, 21, 39, 41, 42, 501}
    finally:
        runner.stop()


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_rename_writes_the_target_table_under_its_new_name(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    m.source.execute(TABLE)
    insert(m.source, [(i, i, f"v{i}") for i in range(1, 51)])
    m.created("--rename", "acct:accounts", "--chunk-rows", "10")
    assert m.dst_tables() == ["accounts"]
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        insert(m.source, [(100, 1, "late")])
        m.source.execute("UPDATE acct SET id = 200, v = 'moved' WHERE id = 1")
        m.source.execute("DELETE FROM acct WHERE id = 2")
        wait_equal(lambda: [] if m.src() == m.dst("accounts") else ["accounts differs"], 30)
        assert m.dst_tables() == ["accounts"]
        st = m.status()
        assert [t["target"] for t in st["tables"]] == [f"{m.schema}.accounts"]
    finally:
        runner.stop()


# --- DDL on the source -----------------------------------------------------------------------


def _ddl_source(m: Move) -> None:
    m.source.execute(TABLE)
    m.source.execute("CREATE TABLE other (id INT PRIMARY KEY, x INT)")
    insert(m.source, [(1, 1, "a"), (2, 2, "b")])


def test_mariadb_ddl_stop_pauses_then_skip_ddl_goes_on(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_MARIADB)
    _ddl_source(m)
    m.created("--tables", "acct")  # --on-ddl stop is the default
    runner = m.runner()
    runner.wait_phase("replicating")
    insert(m.source, [(3, 3, "before")])
    m.source.execute("ALTER TABLE acct ADD COLUMN w INT DEFAULT 5")
    insert(m.source, [(4, 4, "after")], table="acct (id, k, v)")
    assert runner.wait(60) == 1, runner.output()
    st = m.status()
    assert st["phase"] == "paused" and not st["running"]
    assert "ALTER TABLE acct ADD COLUMN w INT DEFAULT 5" in st["error"], st["error"]
    assert "--skip-ddl" in st["error"]
    assert "ALTER TABLE acct ADD COLUMN w INT DEFAULT 5" in runner.output()
    assert [r[0] for r in m.dst()] == [1, 2, 3]  # what came before the DDL, not after

    m.target.execute("ALTER TABLE acct ADD COLUMN w INT DEFAULT 5")
    again = m.runner("--skip-ddl")
    try:
        again.wait_phase("replicating")
        insert(m.source, [(5, 5, "later")], table="acct (id, k, v)")
        m.source.execute("UPDATE acct SET w = 50 WHERE id = 1")
        wait_equal(lambda: [] if m.src() == m.dst() else [f"{m.dst()}"], 30)
        assert m.status()["error"] is None
    finally:
        assert again.stop() == 0, again.output()


def test_mariadb_ddl_exec_runs_the_statement_on_the_target(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_MARIADB)
    _ddl_source(m)
    m.created("--tables", "acct", "--on-ddl", "exec")
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        m.source.execute("ALTER TABLE acct ADD COLUMN w INT DEFAULT 5")
        m.source.execute("INSERT INTO acct VALUES (3, 3, 'c', 30)")
        m.source.execute("UPDATE acct SET w = 10 WHERE id = 1")
        wait_equal(lambda: [] if m.src() == m.dst() else [f"{m.dst()}"], 30)
        assert m.dst()[2] == (3, 3, "c", 30)
        assert m.status()["phase"] == "replicating"
    finally:
        assert runner.stop() == 0, runner.output()


def test_mariadb_ddl_ignore_goes_on(make_move: Callable[[Direction], Move]) -> None:
    m = make_move(MARIADB_TO_POSTGRESQL)
    _ddl_source(m)
    m.created("--tables", "acct", "--on-ddl", "ignore")
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        m.source.execute("ALTER TABLE acct ADD COLUMN w INT DEFAULT 5")
        m.source.execute("INSERT INTO acct VALUES (3, 3, 'c', 30)")
        m.source.execute("UPDATE acct SET v = 'changed' WHERE id = 1")

        def same() -> list[str]:
            a = [r[:3] for r in m.src()]
            return [] if a == m.dst() else [f"{a} vs {m.dst()}"]

        wait_equal(same, 30)
        assert m.status()["phase"] == "replicating"
    finally:
        assert runner.stop() == 0, runner.output()


def test_mariadb_ddl_on_a_table_not_moved_never_pauses(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_MARIADB)
    _ddl_source(m)
    m.created("--tables", "acct")
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        m.source.execute("ALTER TABLE other ADD COLUMN y INT")
        m.source.execute("INSERT INTO other VALUES (1, 1, 1)")
        m.source.execute("CREATE TABLE brand_new (id INT PRIMARY KEY)")
        m.source.execute("DROP TABLE brand_new")
        insert(m.source, [(3, 3, "c")])
        wait_equal(lambda: [] if m.src() == m.dst() else [f"{m.dst()}"], 30)
        st = m.status()
        assert st["phase"] == "replicating" and st["error"] is None
        assert m.dst_tables() == ["acct"]
    finally:
        assert runner.stop() == 0, runner.output()


def test_postgres_add_column_on_a_moved_table_pauses(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(POSTGRESQL_TO_POSTGRESQL)
    _ddl_source(m)
    m.created("--tables", "acct")
    runner = m.runner()
    runner.wait_phase("replicating")
    insert(m.source, [(3, 3, "before")])
    wait_equal(lambda: [] if m.src() == m.dst() else ["not yet"], 30)
    m.source.execute("ALTER TABLE other ADD COLUMN y INT")  # not moved: nothing happens
    m.source.execute("INSERT INTO other VALUES (1, 1, 1)")
    m.source.execute("ALTER TABLE acct ADD COLUMN w INT")
    m.source.execute("INSERT INTO acct VALUES (4, 4, 'after', 40)")
    assert runner.wait(60) == 1, runner.output()
    st = m.status()
    assert st["phase"] == "paused"
    assert "public.acct" in st["error"] and "--skip-ddl" in st["error"], st["error"]
    assert [r[0] for r in m.dst()] == [1, 2, 3]


def test_postgres_source_refuses_on_ddl_exec_at_create(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(POSTGRESQL_TO_POSTGRESQL)
    m.source.execute(TABLE)
    r = m.create("--on-ddl", "exec")
    assert r.code == 2, r.text
    assert "--on-ddl exec" in r.err and "PostgreSQL" in r.err, r.err
    assert m.dst_tables() == [] and pg_capture_objects(m.source) == []  # type: ignore[arg-type]
    assert m.cli("list", "--json").out.strip() == "[]"


# --- throttles -------------------------------------------------------------------------------


def test_max_rows_per_second_slows_the_copy(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_MARIADB)
    m.source.execute(TABLE)
    insert(m.source, [(i, i, f"v{i}") for i in range(1, 2001)])
    m.created("--max-rows-per-second", "200", "--chunk-rows", "100")
    t0 = time.monotonic()
    runner = m.runner()
    try:
        runner.wait_phase("replicating", timeout=60)
        took = time.monotonic() - t0
        print(f"2,000 rows at --max-rows-per-second 200 took {took:.1f}s")
        assert took >= 8.0, took
        assert m.src() == m.dst()
    finally:
        runner.stop()


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_lag_query_above_the_limit_holds_copy_and_apply(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    m.source.execute(TABLE)
    m.source.execute("CREATE TABLE lag (id INT PRIMARY KEY, seconds INT)")
    m.source.execute("INSERT INTO lag VALUES (1, 100)")
    insert(m.source, [(i, i, f"v{i}") for i in range(1, 101)])
    lag_query = "SELECT seconds FROM lag WHERE id = 1"
    m.created("--tables", "acct", "--lag-query", lag_query, "--max-source-lag", "5")
    runner = m.runner()
    try:
        wait_until(lambda: m.status()["throttled"], "throttled: true while copying", 20)
        time.sleep(2)
        assert m.dst() == [] and m.status()["tables"][0]["rows_copied"] == 0
        m.source.execute("UPDATE lag SET seconds = 1")
        runner.wait_phase("replicating", timeout=30)
        assert m.src() == m.dst()
        assert not m.status()["throttled"]

        m.source.execute("UPDATE lag SET seconds = 60")
        wait_until(lambda: m.status()["throttled"], "throttled: true while replicating", 20)
        insert(m.source, [(500, 1, "held")])
        time.sleep(3)
        assert 500 not in {r[0] for r in m.dst()}
        m.source.execute("UPDATE lag SET seconds = 0")
        wait_equal(lambda: [] if m.src() == m.dst() else ["held"], 30)
        wait_until(lambda: not m.status()["throttled"], "throttled: false again", 10)
    finally:
        runner.stop()


# --- passwords -------------------------------------------------------------------------------


class UrlLessRunner(MoveRunner):
    """`ferryman move start NAME` without --source/--target: passwords from elsewhere."""

    def _popen(
        self, handle: Any, full_env: dict[str, str], args: tuple[str, ...]
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "ferryman", "move", "start", self.name, *self.args, *args],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=full_env,
            text=True,
        )


def _state_bytes(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(state.parent.glob(state.name + "*")))


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_passwords_never_stored_or_shown(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    secrets = [m.source.server.admin_password, m.target.server.admin_password]
    assert all(s in m.source.url + m.target.url for s in secrets)
    m.source.execute(TABLE)
    insert(m.source, [(1, 1, "a")])
    made = m.create()
    assert made.code == 0, made.text
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        outputs = [
            made.text,
            m.cli("status", m.name).text,
            m.cli("status", m.name, "--json").text,
            m.cli("list").text,
            m.cli("list", "--json").text,
        ]
    finally:
        assert runner.stop() == 0, runner.output()
    outputs.append(runner.output())
    blob = _state_bytes(m.state)
    assert len(blob) > 0
    for secret in secrets:
        assert secret.encode() not in blob
        for text in outputs:
            assert secret not in text, text
    stored = json.loads(m.cli("status", m.name, "--json").out)
    assert "@" in stored["source"] and ":***@" not in stored["source"]

    # no password anywhere: refused with the three ways to give it
    bare = m.cli("start", m.name)
    assert bare.code == 2, bare.text
    for hint in ("--source", "FERRYMAN_SOURCE_PASSWORD", "--source-password-file"):
        assert hint in bare.err, bare.err
    # the source's given, not the target's
    half = m.cli("start", m.name, env={"FERRYMAN_SOURCE_PASSWORD": secrets[0]})
    assert half.code == 2, half.text
    for hint in ("--target", "FERRYMAN_TARGET_PASSWORD", "--target-password-file"):
        assert hint in half.err, half.err

    # both from the environment: it runs
    env = {"FERRYMAN_SOURCE_PASSWORD": secrets[0], "FERRYMAN_TARGET_PASSWORD": secrets[1]}
    by_env = UrlLessRunner(m.state, m.name, "", "", env=env).start()
    try:
        by_env.wait_phase("replicating")
        insert(m.source, [(2, 2, "by env")])
        wait_equal(lambda: [] if m.src() == m.dst() else ["not yet"], 30)
    finally:
        assert by_env.stop() == 0, by_env.output()
    for secret in secrets:
        assert secret not in by_env.output()
        assert secret.encode() not in _state_bytes(m.state)


def test_password_file_is_read(make_move: Callable[[Direction], Move], tmp_path: Path) -> None:
    m = make_move(POSTGRESQL_TO_POSTGRESQL)
    m.source.execute(TABLE)
    m.created()
    pw = tmp_path / "pw"
    pw.write_text(m.source.server.admin_password + "\n")
    runner = UrlLessRunner(
        m.state,
        m.name,
        "",
        "",
        args=("--source-password-file", str(pw), "--target-password-file", str(pw)),
    ).start()
    try:
        runner.wait_phase("replicating")
    finally:
        assert runner.stop() == 0, runner.output()


# --- refused input leaves nothing behind -----------------------------------------------------


def test_create_with_a_name_in_use_is_refused(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_MARIADB)
    m.source.execute(TABLE)
    m.created()
    before = json.loads(m.cli("list", "--json").out)
    again = m.create("--rename", "acct:other")
    assert again.code == 1, again.text
    assert "'m' already exists" in again.err, again.err
    assert m.dst_tables() == ["acct"]
    assert json.loads(m.cli("list", "--json").out) == before


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_create_refuses_a_table_without_primary_key(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    m.source.execute(TABLE)
    m.source.execute("CREATE TABLE no_key (a INT, b INT)")
    r = m.create()
    assert r.code == 2, r.text
    assert "no_key" in r.err, r.err
    assert m.dst_tables() == []
    if m.s == "postgres":
        assert pg_capture_objects(m.source) == []  # type: ignore[arg-type]
    assert m.cli("list", "--json").out.strip() == "[]"


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_create_with_a_wrong_password_is_refused(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    m.source.execute(TABLE)
    for secret, role in ((m.source.server.admin_password, "source"), (None, "target")):
        src = m.source.url.replace(secret, "wrong-password") if secret else m.source.url
        dst = m.target.url.replace(m.target.server.admin_password, "wrong-password")
        r = create_move(m.state, m.name, src, dst if role == "target" else m.target.url)
        assert r.code == 2, r.text
        assert "wrong-password" not in r.text
        assert m.dst_tables() == []
        if m.s == "postgres":
            assert pg_capture_objects(m.source) == []  # type: ignore[arg-type]
    assert m.cli("list", "--json").out.strip() == "[]"


def test_unknown_workflow_suggests_the_close_name(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_MARIADB)
    m.source.execute(TABLE)
    m.name = "orders-move"
    m.created()
    for args in (("status", "orders-mvoe"), ("start", "orders-mvoe"), ("status", "x", "--json")):
        r = m.cli(*args)
        assert r.code == 2, r.text
        assert "no workflow named" in r.err, r.err
    assert "did you mean 'orders-move'?" in m.cli("status", "orders-mvoe").err
    assert "did you mean 'orders-move'?" in m.cli("start", "orders-mvoe").err


def test_statement_binlog_source_is_refused_naming_binlog_format(
    mariadb_statement: MariaDBServer, mysql_db2: MySQLDatabase, tmp_path: Path
) -> None:
    name = f"stmt_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    mariadb_statement.execute(f"CREATE DATABASE `{name}`")
    try:
        mariadb_statement.execute(TABLE, name)
        r = create_move(tmp_path / "s.db", "m", mariadb_statement.url(name), mysql_db2.url)
        assert r.code == 1, r.text
        assert "binlog_format" in r.err, r.err
        assert (
            mysql_db2.execute(
                f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                f"'{mysql_db2.name}'"
            )
            == []
        )
    finally:
        mariadb_statement.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --- status and list -------------------------------------------------------------------------


PHASES = {
    "created",
    "copying",
    "replicating",
    "switching",
    "switched",
    "completed",
    "cancelled",
    "failed",
    "paused",
}


def _check_contract(doc: dict[str, Any]) -> None:
    for key in ("name", "phase", "tables", "lag_seconds", "position", "events_applied", "error"):
        assert key in doc, key
    assert doc["phase"] in PHASES
    for t in doc["tables"]:
        assert set(t) >= {"source", "target", "rows_copied", "rows_estimated", "copy_done"}
        assert isinstance(t["rows_copied"], int) and isinstance(t["copy_done"], bool)
        assert t["rows_estimated"] is None or isinstance(t["rows_estimated"], int)
    assert isinstance(doc["events_applied"], int) and isinstance(doc["position"], str)


@pytest.mark.parametrize("direction", [POSTGRESQL_TO_POSTGRESQL, MARIADB_TO_POSTGRESQL])
def test_status_and_list_follow_the_contract(
    direction: Direction, make_move: Callable[[Direction], Move]
) -> None:
    m = make_move(direction)
    m.source.execute(TABLE)
    m.source.execute(f"CREATE TABLE {q(m.s, 'order')} (id INT PRIMARY KEY)")
    insert(m.source, [(i, i, f"v{i}") for i in range(1, 31)])
    m.source.execute(f"INSERT INTO {q(m.s, 'order')} VALUES (1), (2)")
    m.created("--chunk-rows", "7")

    created = m.status()
    _check_contract(created)
    assert created["phase"] == "created" and not created["running"]
    assert created["events_applied"] == 0 and created["lag_seconds"] is None
    assert [t["copy_done"] for t in created["tables"]] == [False, False]
    assert created["error"] is None

    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        insert(m.source, [(100, 1, "a"), (101, 2, "b")])
        m.source.execute("DELETE FROM acct WHERE id = 1")
        wait_equal(lambda: [] if m.src() == m.dst() else ["not yet"], 30)
        wait_until(lambda: m.status()["events_applied"] >= 3, "events_applied >= 3", 10)
        st = m.status()
        _check_contract(st)
        assert st["name"] == "m" and st["phase"] == "replicating" and st["running"]
        by_name = {t["source"].rsplit(".", 1)[1]: t for t in st["tables"]}
        assert by_name["acct"]["rows_copied"] == 30 and by_name["order"]["rows_copied"] == 2
        assert by_name["acct"]["target"] == f"{m.schema}.acct"
        assert all(t["copy_done"] for t in st["tables"])
        assert isinstance(st["lag_seconds"], float | int) and 0 <= st["lag_seconds"] < 60
        assert st["position"] != created["position"]
        assert st["error"] is None

        listed = json.loads(m.cli("list", "--json").out)
        assert [d["name"] for d in listed] == ["m"]
        _check_contract(listed[0])
        assert listed[0]["phase"] == "replicating"

        text = m.cli("status", "m")
        assert text.code == 0, text.text
        for needle in ("m: replicating (running)", "acct", "order", "rows copied", "30", "done"):
            assert needle in text.out, text.out
        assert "lag:" in text.out and "events applied:" in text.out
        assert st["position"].split()[0] in text.out
        table = m.cli("list")
        assert table.code == 0 and "replicating" in table.out and "yes" in table.out, table.text
    finally:
        assert runner.stop() == 0, runner.output()
    stopped = m.status()
    _check_contract(stopped)
    assert not stopped["running"] and stopped["lag_seconds"] is None
    assert stopped["events_applied"] >= 3


# --- known gaps ------------------------------------------------------------------------------


def test_mariadb_cascade_deletes_reach_the_target(
    make_move: Callable[[Direction], Move],
) -> None:
    m = make_move(MARIADB_TO_MARIADB)
    m.source.execute("CREATE TABLE parent (id INT PRIMARY KEY)")
    m.source.execute(
        "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, "
        "FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)"
    )
    m.source.execute("INSERT INTO parent VALUES (1), (2)")
    m.source.execute("INSERT INTO child VALUES (1, 1), (2, 1), (3, 2)")
    m.created()
    runner = m.runner()
    try:
        runner.wait_phase("replicating")
        m.source.execute("DELETE FROM parent WHERE id = 1")
        wait_equal(
            lambda: [] if m.src("child") == m.dst("child") else [f"child: {m.dst('child')}"],
            timeout=5,
        )
    finally:
        runner.stop()
