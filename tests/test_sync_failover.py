"""``ferryman sync`` through failovers: a PostgreSQL primary replaced by its promoted standby, and a
member of a 3-member etcd cluster killed and restarted during the stream.

After catch-up an independent comparison (source rows read with the driver, etcd keys read with
etcd3gw; layout ``PREFIX/<table>/<pk parts percent-encoded, joined by '/'>`` → a JSON object
``{column: value}``) must find 0 differences: no row missing, none extra (no deleted row
reappears), none different.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferryman.testing.servers import (
    EtcdCluster,
    EtcdServer,
    MariaDBServer,
    PostgresServer,
    PostgresStandby,
)
from tests.conftest import MySQLDatabase
from tests.etcdkit import (
    etcd_client,
    etcd_differences,
    expected_keys,
    new_prefix,
    read_prefix,
)
from tests.movekit import MoveRunner

ITEMS = ("id", "name", "qty", "price", "active", "note")
PAIRS = ("a", "b", "v")
PG_SCHEMA = [
    "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL, "
    "price numeric(10,2) NOT NULL, active boolean NOT NULL, note text)",
    "CREATE TABLE pairs (a varchar(20) NOT NULL, b integer NOT NULL, v varchar(30), "
    "PRIMARY KEY (a, b))",
]
MY_SCHEMA = [
    "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(60) NOT NULL, qty INT NOT NULL, "
    "price DECIMAL(10,2) NOT NULL, active BOOLEAN NOT NULL, note VARCHAR(60))",
    "CREATE TABLE pairs (a VARCHAR(20) NOT NULL, b INT NOT NULL, v VARCHAR(30), "
    "PRIMARY KEY (a, b))",
]
#: composite-key parts that must be percent-encoded in the key
PAIR_NAMES = ("plain", "a/b", "50%", "sp ace", "ü/%2F")


class SyncRunner(MoveRunner):
    """``ferryman sync SRC ETCD --name NAME`` in a subprocess, as a user runs it."""

    def _popen(
        self, handle: Any, full_env: dict[str, str], args: tuple[str, ...]
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ferryman",
                "sync",
                self.source_url,
                self.target_url,
                "--name",
                self.name,
                *self.args,
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=full_env,
            text=True,
        )

    def wait_phase(self, phase: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + min(timeout, 10.0)
        while self.proc is not None and time.monotonic() < deadline:  # fail fast on bad usage
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ferryman sync exited {self.proc.returncode}: {self.output()[-3000:]}"
                )
            if self.state.exists():
                break
            time.sleep(0.2)
        return super().wait_phase(phase, timeout)

    def close(self) -> None:
        """Never leave the process behind a failed test (SIGKILL if it still runs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        if self.proc is not None:
            self.proc.wait(30)


# --- source access, independent of ferryman ------------------------------------------------


@dataclass
class Source:
    """A database to write to and read from: PostgreSQL (psycopg) or MariaDB (MySQLdb)."""

    server: PostgresServer | MariaDBServer
    database: str

    @property
    def mysql(self) -> bool:
        return isinstance(self.server, MariaDBServer)

    def url(self) -> str:
        return self.server.url(self.database)

    def connect(self, autocommit: bool = True) -> Any:
        conn = self.server.connect(self.database)
        if self.mysql:
            conn.autocommit(autocommit)
        else:
            conn.autocommit = autocommit
        return conn

    def rows(self, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(f"SELECT {', '.join(columns)} FROM {table}")
            rows = [tuple(r) for r in cur.fetchall()]
            cur.close()
            return rows
        finally:
            conn.close()


def setup_source(source: Source, items: int = 1500) -> None:
    conn = source.connect()
    try:
        cur = conn.cursor()
        for stmt in MY_SCHEMA if source.mysql else PG_SCHEMA:
            cur.execute(stmt)
        for lo in range(1, items + 1, 500):
            values = [_item(n, random.Random(n)) for n in range(lo, min(items, lo + 499) + 1)]
            cur.executemany("INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s)", values)
        pairs = [(a, b, f"v{b}") for a in PAIR_NAMES for b in range(1, 21)]
        cur.executemany("INSERT INTO pairs VALUES (%s, %s, %s)", pairs)
        cur.close()
    finally:
        conn.close()


def _item(n: int, rnd: random.Random) -> tuple[Any, ...]:
    note = None if n % 4 == 0 else f'note {n} café ✓ "q" it\'s'
    price = f"{rnd.randint(-99999, 999999) / 100:.2f}"
    return (n, f"item {n}", rnd.randint(0, 1000), price, n % 3 != 0, note)


@dataclass
class Writer:
    """Random transactions: inserts, updates, deletes, key changes, multi-row transactions and
    composite-key upserts/deletes, until stopped. Errors while the source is away (a failover)
    are counted and the writer reconnects."""

    source: Source
    seed: int
    first_new_id: int = 100_000
    done: int = 0
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        rnd = random.Random(self.seed)
        next_id = self.first_new_id
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self.source.connect(autocommit=False)
                cur = conn.cursor()
                for _ in range(rnd.choice((1, 1, 1, 3, 8))):  # some multi-row transactions
                    next_id = self._one(cur, rnd, next_id)
                conn.commit()
                cur.close()
                self.done += 1
            except Exception:
                self.failures += 1
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
                self._stop.wait(0.2)
            self._stop.wait(0.005)
        if conn is not None:
            conn.close()

    def _one(self, cur: Any, rnd: random.Random, next_id: int) -> int:
        op = rnd.random()
        # an original row or one this writer inserted
        target = rnd.choice(
            (rnd.randint(1, 1500), rnd.randint(self.first_new_id, max(self.first_new_id, next_id)))
        )
        if op < 0.35:
            cur.execute("INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s)", _item(next_id, rnd))
            return next_id + 1
        if op < 0.65:
            cur.execute(
                "UPDATE items SET qty = qty + 1, price = %s, active = NOT active, note = %s "
                "WHERE id = %s",
                (f"{rnd.randint(0, 99999) / 100:.2f}", rnd.choice((None, "upd ✓")), target),
            )
        elif op < 0.78:
            cur.execute("DELETE FROM items WHERE id = %s", (target,))
        elif op < 0.86:  # a key change (the new key may be one deleted before: key re-use)
            new = rnd.choice((rnd.randint(1, 1600), next_id + rnd.randint(0, 50)))
            cur.execute(
                "UPDATE items SET id = %s WHERE id = %s AND NOT EXISTS "
                "(SELECT 1 FROM (SELECT id FROM items WHERE id = %s) AS taken)",
                (new, target, new),
            )
        elif op < 0.94:
            a, b = rnd.choice(PAIR_NAMES), rnd.randint(1, 40)
            if self.source.mysql:
                cur.execute(
                    "INSERT INTO pairs VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
                    (a, b, f"w{rnd.randint(0, 999)}"),
                )
            else:
                cur.execute(
                    "INSERT INTO pairs VALUES (%s, %s, %s) ON CONFLICT (a, b) "
                    "DO UPDATE SET v = EXCLUDED.v",
                    (a, b, f"w{rnd.randint(0, 999)}"),
                )
        else:
            cur.execute(
                "DELETE FROM pairs WHERE a = %s AND b = %s",
                (rnd.choice(PAIR_NAMES), rnd.randint(1, 40)),
            )
        return next_id


# --- comparison ----------------------------------------------------------------------------


def differences(source: Source, etcd: Any, prefix: str) -> list[str]:
    """Every difference between the source's rows and the keys under ``prefix``."""
    stored = read_prefix(etcd, prefix)
    out = []
    for table, columns, pk in (("items", ITEMS, ("id",)), ("pairs", PAIRS, ("a", "b"))):
        rows = source.rows(table, columns)
        if source.mysql:  # MySQLdb returns BOOLEAN as 0/1
            rows = [(*r[:4], bool(r[4]), r[5]) if table == "items" else r for r in rows]
        expected = expected_keys(prefix, table, columns, pk, rows)
        out += etcd_differences(expected, stored, f"/{prefix}/{table}/")
    tables = {k.split("/")[2] for k in stored}
    out += [f"keys of an unknown table {t!r}" for t in tables - {"items", "pairs", "_ferryman"}]
    return out


def wait_equal(source: Source, etcd_read: Any, prefix: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    diff: list[str] = []
    while time.monotonic() < deadline:
        diff = differences(source, etcd_read(), prefix)
        if not diff:
            return
        time.sleep(0.5)
    raise AssertionError("etcd never equalled the source: " + "; ".join(diff))


def assert_position_key(etcd: Any, prefix: str, name: str) -> None:
    position = etcd.get(f"/{prefix}/_ferryman/{name}/position")
    assert position and position[0], f"no position key under /{prefix}/_ferryman/{name}/"


# --- PostgreSQL primary → promoted standby -------------------------------------------------


def test_sync_continues_on_a_promoted_standby_with_a_redump_and_reconcile(
    pg_primary: PostgresServer,
    pg_standby: PostgresStandby,
    etcd: EtcdServer,
    tmp_path: Path,
) -> None:
    pg_primary.execute("CREATE DATABASE app")
    primary = Source(pg_primary, "app")
    setup_source(primary)
    prefix, name = new_prefix("failover"), "pg-failover"
    state = tmp_path / "state.db"
    client = etcd_client(etcd)

    first = SyncRunner(state, name, primary.url(), etcd.url(prefix)).start()
    try:
        _failover(pg_primary, pg_standby, etcd, client, primary, first, state, prefix, name)
    finally:
        first.close()


def _failover(
    pg_primary: PostgresServer,
    pg_standby: PostgresStandby,
    etcd: EtcdServer,
    client: Any,
    primary: Source,
    first: SyncRunner,
    state: Path,
    prefix: str,
    name: str,
) -> None:
    writer = Writer(primary, seed=11).start()
    try:
        first.wait_phase("replicating", timeout=180)
        time.sleep(3)  # stream under writes
    finally:
        writer.stop()
    assert writer.done > 50, f"the writer committed only {writer.done} transactions"
    wait_equal(primary, lambda: client, prefix)

    # Failover: the standby has every committed write; the primary goes away, the standby is
    # promoted. Its logical slot did not come along (checked by test_harness_cluster).
    pg_standby.wait_replayed(str(pg_primary.execute("SELECT pg_current_wal_lsn()")[0][0]))
    pg_primary.stop()
    assert first.stop(timeout=90) == 0, first.output()[-3000:]
    pg_standby.promote()
    standby = Source(pg_standby, "app")
    # Writes on the new primary before and while the sync comes back: the re-dump must see
    # them and the reconcile must delete every key whose row went away meanwhile.
    conn = standby.connect()
    cur = conn.cursor()
    cur.execute("DELETE FROM items WHERE id % 7 = 0")
    cur.execute("UPDATE items SET note = 'changed on the promoted standby' WHERE id % 5 = 0")
    cur.execute("DELETE FROM pairs WHERE a = 'a/b'")
    conn.close()

    second = SyncRunner(state, name, standby.url(), etcd.url(prefix)).start()
    try:
        writer = Writer(standby, seed=12, first_new_id=200_000).start()
        try:
            second.wait_phase("replicating", timeout=180)
            time.sleep(3)
        finally:
            writer.stop()
        wait_equal(standby, lambda: client, prefix)
        status = second.status()
        assert status["phase"] == "replicating", status
        assert not status.get("error"), status
        assert_position_key(client, prefix, name)
        assert second.stop(timeout=90) == 0, second.output()[-3000:]
    finally:
        second.close()
    assert differences(standby, client, prefix) == []


# --- MariaDB → 3-member etcd, one member killed and restarted ------------------------------


def test_sync_into_a_cluster_survives_a_member_killed_and_restarted(
    mysql_db: MySQLDatabase, etcd_cluster: EtcdCluster, tmp_path: Path
) -> None:
    source = Source(mysql_db.server, mysql_db.name)
    setup_source(source)
    prefix, name = new_prefix("cluster"), "my-cluster"
    runner = SyncRunner(tmp_path / "state.db", name, source.url(), etcd_cluster.url(prefix))

    runner.start()
    try:
        writer = Writer(source, seed=21).start()
        try:
            runner.wait_phase("replicating", timeout=180)
            time.sleep(2)
            etcd_cluster.kill(0)  # the first member of the URL: the one a client starts with
            time.sleep(4)  # the stream goes on through the other two
            etcd_cluster.restart(0)
            time.sleep(2)
        finally:
            writer.stop()
        assert writer.done > 50, f"the writer committed only {writer.done} transactions"
        assert writer.failures == 0
        wait_equal(source, lambda: etcd_client(etcd_cluster, 1), prefix)
        status = runner.status()
        assert status["phase"] == "replicating", status
        assert not status.get("error"), status
        assert_position_key(etcd_client(etcd_cluster, 2), prefix, name)
        assert runner.proc is not None and runner.proc.poll() is None, runner.output()[-3000:]
        assert runner.stop(timeout=90) == 0, runner.output()[-3000:]
    finally:
        runner.close()
    # every member answers with the same keys
    views = [read_prefix(etcd_client(etcd_cluster, i), prefix) for i in range(3)]
    assert views[0] == views[1] == views[2]
