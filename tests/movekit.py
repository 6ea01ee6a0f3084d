"""Helpers for live-move tests: a randomized writer, a runner for `ferryman move start`, and an
exact wait-until-equal comparison (tests/compare.py reads both sides independently)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.compare import mysql_rows, pg_rows
from tests.conftest import TempDatabase
from tests.helpers import Result, ferryman

# Tables every race test moves: an integer key, a composite key with a string part, and a
# reserved-word name with odd column names.
MYSQL_RACE = [
    "CREATE TABLE acct (id BIGINT PRIMARY KEY, k INT NOT NULL, v VARCHAR(60), "
    "n DECIMAL(14,2), ts DATETIME(6), b VARBINARY(40), f DOUBLE, KEY (k))",
    "CREATE TABLE pairs (a INT NOT NULL, b VARCHAR(20) NOT NULL, qty INT, note TEXT, "
    "PRIMARY KEY (a, b))",
    'CREATE TABLE `order` (`a b` INT NOT NULL PRIMARY KEY, `x"; drop` VARCHAR(30))',
]
PG_RACE = [
    "CREATE TABLE acct (id bigint PRIMARY KEY, k integer NOT NULL, v varchar(60), "
    "n numeric(14,2), ts timestamp(6), b bytea, f double precision)",
    "CREATE INDEX ON acct (k)",
    "CREATE TABLE pairs (a integer NOT NULL, b varchar(20) NOT NULL, qty integer, note text, "
    "PRIMARY KEY (a, b))",
    'CREATE TABLE "order" ("a b" integer NOT NULL PRIMARY KEY, "x""; drop" varchar(30))',
]
RACE_TABLES = ("acct", "pairs", "order")


def q(engine: str, name: str) -> str:
    if engine == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def preload(db: TempDatabase[Any], engine: str, rows: int = 5000) -> None:
    for stmt in MYSQL_RACE if engine == "mysql" else PG_RACE:
        db.execute(stmt)
    conn = db.server.connect(db.name)
    try:
        cur = conn.cursor()
        mark = "%s"
        acct = [
            (
                i,
                i % 97,
                f"v{i}",
                Decimal(i) / 4,
                f"2024-01-01 00:00:{i % 60:02d}.{i:06d}"[:26],
                bytes([i % 256]) * 3,
                i / 7,
            )
            for i in range(1, rows + 1)
        ]
        cur.executemany(f"INSERT INTO acct VALUES ({', '.join([mark] * 7)})", acct)
        pairs = [(i % 300, f"p{i}", i, "x" * (i % 50)) for i in range(1, rows // 5 + 1)]
        cur.executemany(f"INSERT INTO pairs VALUES ({', '.join([mark] * 4)})", pairs)
        order = [(i, f"o{i}") for i in range(1, 201)]
        cur.executemany(f"INSERT INTO {q(engine, 'order')} VALUES (%s, %s)", order)
        if engine == "postgres":
            conn.commit()
        cur.close()
    finally:
        conn.close()


@dataclass
class Writer:
    """Random transactions against the source: inserts, updates (also of keys), deletes, key
    re-use and multi-statement transactions, at about ``rate`` transactions per second."""

    db: TempDatabase[Any]
    engine: str
    rate: float = 400.0
    threads: int = 2
    key_space: int = 8000
    seed: int = 1
    done: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Writer:
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def rate_seen(self, seconds: float) -> float:
        return self.done / seconds

    def _connect(self) -> Any:
        conn = self.db.server.connect(self.db.name)
        if self.engine == "postgres":
            conn.autocommit = False
        else:
            conn.autocommit(False)
        return conn

    def _run(self, n: int) -> None:
        rnd = random.Random(self.seed * 100 + n)
        per_thread = self.rate / self.threads
        conn = None
        next_at = time.monotonic()
        order = q(self.engine, "order")
        ab, xd = q(self.engine, "a b"), q(self.engine, 'x"; drop')
        upsert_pairs = (
            "INSERT INTO pairs VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE qty = qty + 1"
            if self.engine == "mysql"
            else "INSERT INTO pairs VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (a, b) DO UPDATE SET qty = pairs.qty + 1"
        )
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self._connect()
                cur = conn.cursor()
                for _ in range(rnd.choice((1, 1, 1, 2, 3, 5))):
                    op = rnd.random()
                    i = rnd.randint(1, self.key_space)
                    if op < 0.30:
                        cur.execute(
                            "DELETE FROM acct WHERE id = %s", (i,)
                        ) if rnd.random() < 0.3 else None
                        cur.execute(
                            "INSERT INTO acct (id, k, v, n, ts, b, f) VALUES "
                            "(%s, %s, %s, %s, %s, %s, %s) "
                            + (
                                "ON DUPLICATE KEY UPDATE v = VALUES(v), n = VALUES(n)"
                                if self.engine == "mysql"
                                else "ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, n = EXCLUDED.n"
                            ),
                            (
                                i,
                                rnd.randint(0, 96),
                                f"w{rnd.random():.6f}",
                                Decimal(rnd.randint(-(10**6), 10**6)) / 100,
                                f"2025-{rnd.randint(1, 12):02d}-11 10:11:12."
                                f"{rnd.randint(0, 999999):06d}",
                                rnd.randbytes(rnd.randint(0, 40)),
                                rnd.random() * 1e6,
                            ),
                        )
                    elif op < 0.55:
                        cur.execute(
                            "UPDATE acct SET v = %s, n = n + 1, f = %s WHERE id = %s",
                            (f"u{rnd.random():.5f}", rnd.random(), i),
                        )
                    elif op < 0.62:
                        cur.execute("UPDATE acct SET k = k + 1 WHERE k = %s", (rnd.randint(0, 96),))
                    elif op < 0.72:
                        cur.execute("DELETE FROM acct WHERE id = %s", (i,))
                    elif op < 0.77:  # move a row to another key (key update / re-use)
                        j = rnd.randint(1, self.key_space)
                        cur.execute("DELETE FROM acct WHERE id = %s", (j,))
                        cur.execute("UPDATE acct SET id = %s WHERE id = %s", (j, i))
                    elif op < 0.88:
                        cur.execute(
                            upsert_pairs, (rnd.randint(0, 300), f"p{rnd.randint(1, 2000)}", 1, "n")
                        )
                    elif op < 0.93:
                        cur.execute(
                            "DELETE FROM pairs WHERE a = %s AND b = %s",
                            (rnd.randint(0, 300), f"p{rnd.randint(1, 2000)}"),
                        )
                    else:
                        o = rnd.randint(1, 400)
                        cur.execute(f"DELETE FROM {order} WHERE {ab} = %s", (o,))
                        if rnd.random() < 0.7:
                            cur.execute(
                                f"INSERT INTO {order} ({ab}, {xd}) VALUES (%s, %s)",
                                (o, f"r{rnd.random():.4f}"),
                            )
                conn.commit()
                cur.close()
                with self._lock:
                    self.done += 1
            except Exception as exc:  # deadlocks, serialization failures, restarts: retry
                with self._lock:
                    if len(self.errors) < 50:
                        self.errors.append(str(exc)[:200])
                try:
                    if conn is not None:
                        conn.rollback()
                except Exception:
                    conn = None
                time.sleep(0.01)
            next_at += 1.0 / per_thread
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
        if conn is not None:
            conn.close()


def rows_of(db: TempDatabase[Any], engine: str, table: str, schema: str | None = None) -> Any:
    if engine == "mysql":
        return mysql_rows(db.server, db.name, table)
    return pg_rows(db.server, db.name, schema or "public", table)


def canonical(rows: tuple[list[str], list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """Rows as comparable values across engines (decimals, bytes, floats, timestamps)."""
    _cols, data = rows
    out = []
    for r in data:
        vals = []
        for v in r:
            if isinstance(v, memoryview):
                v = bytes(v)
            if isinstance(v, float):
                v = round(v, 9)
            if isinstance(v, Decimal):
                v = v.normalize()
            vals.append(v)
        out.append(tuple(vals))
    return out


def differences(
    source: TempDatabase[Any],
    s_engine: str,
    target: TempDatabase[Any],
    t_engine: str,
    tables: tuple[str, ...] = RACE_TABLES,
    target_schema: str | None = None,
) -> list[str]:
    out = []
    for table in tables:
        a = canonical(rows_of(source, s_engine, table))
        b = canonical(rows_of(target, t_engine, table, target_schema))
        if a != b:
            sa, sb = set(a), set(b)
            out.append(
                f"{table}: {len(a)} vs {len(b)} rows; only source {sorted(sa - sb, key=str)[:3]}"
                f"; only target {sorted(sb - sa, key=str)[:3]}"
            )
    return out


def wait_equal(check: Callable[[], list[str]], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    diff: list[str] = []
    while time.monotonic() < deadline:
        diff = check()
        if not diff:
            return
        time.sleep(0.5)
    raise AssertionError("target never equalled source: " + "; ".join(diff))


class MoveRunner:
    """`ferryman move start NAME` in a subprocess, as a user would run it."""

    def __init__(
        self,
        state: Path,
        name: str,
        source_url: str,
        target_url: str,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.state, self.name = state, name
        self.source_url, self.target_url = source_url, target_url
        self.env = env or {}
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.log = state.parent / f"{name}.runner.log"

    def start(self, env: dict[str, str] | None = None, *args: str) -> MoveRunner:
        full_env = {
            **os.environ,
            "FERRYMAN_STATE": str(self.state),
            "COLUMNS": "200",
            **self.env,
            **(env or {}),
        }
        with self.log.open("a") as handle:
            self.proc = self._popen(handle, full_env, args)
        return self

    def _popen(
        self, handle: Any, full_env: dict[str, str], args: tuple[str, ...]
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ferryman",
                *(["--debug"] if os.environ.get("FERRYMAN_TEST_DEBUG") else []),
                "move",
                "start",
                self.name,
                "--source",
                self.source_url,
                "--target",
                self.target_url,
                *self.args,
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=full_env,
            text=True,
        )

    def status(self) -> dict[str, Any]:
        r = ferryman("move", "--state", str(self.state), "status", self.name, "--json")
        assert r.code == 0, r.text
        return dict(json.loads(r.out))

    def wait_phase(self, phase: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            st = self.status()
            if st["phase"] == phase:
                return st
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"runner exited {self.proc.returncode}: {self.output()}")
            time.sleep(0.2)
        raise AssertionError(f"phase {phase} not reached: {st}; {self.output()}")

    def stop(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def wait(self, timeout: float = 120.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()  # never leave a runner behind a failed test
            raise AssertionError(
                f"the runner did not exit within {timeout}s:\n{self.output()[-3000:]}"
            ) from None

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def create_move(state: Path, name: str, source_url: str, target_url: str, *args: str) -> Result:
    return ferryman(
        "move",
        "--state",
        str(state),
        "create",
        name,
        "--source",
        source_url,
        "--target",
        target_url,
        *args,
    )
