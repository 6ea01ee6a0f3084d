"""The application of ``make demo``: a write load that finds its primary through a router file.

Before every transaction the load reads the *router*, a small text file holding the URL of the
current primary (written by ``ferryman move switch --route``; it has no password). The URL is
mapped, by host and port, to one of the demo's throwaway servers, whose admin credentials the
demo knows. Each transaction inserts a ledger row with a fresh id and changes a random
account's balance. A write the fenced old primary rejects is retried 20 ms later, with the
router read again, as a real application behind a router would.

The load counts the transactions acknowledged on each side, remembers every acknowledged ledger
id and measures the longest gap between two acknowledged writes: the write pause the
application saw.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ferryman.testing.servers import MariaDBServer, PostgresServer

__all__ = ["AppLoad", "Primary"]

#: Seconds the application waits before retrying a rejected or failed write.
RETRY_DELAY = 0.02


@dataclass(frozen=True)
class Primary:
    """One server the router may name: how to reach it as the application."""

    label: str
    host: str
    port: int
    connect: Callable[[str], Any]  # database name -> a new DB-API connection (autocommit off)


def mariadb_primary(server: MariaDBServer, label: str = "MariaDB") -> Primary:
    def connect(database: str) -> Any:
        conn = server.connect(database)
        conn.autocommit(False)
        return conn

    return Primary(label, server.host, server.port, connect)


def postgres_primary(server: PostgresServer, label: str = "PostgreSQL") -> Primary:
    def connect(database: str) -> Any:
        conn = server.connect(database)
        conn.autocommit = False
        return conn

    return Primary(label, server.host, server.port, connect)


@dataclass
class AppLoad:
    """A background write load at about ``rate`` transactions per second over ``threads``."""

    router: Path
    primaries: list[Primary]
    accounts: int
    rate: float = 100.0
    threads: int = 2
    first_id: int = 1_000_001
    seed: int = 7

    acknowledged: dict[str, int] = field(default_factory=dict)
    acknowledged_ids: set[int] = field(default_factory=set)
    rejected: int = 0
    first_rejection: str | None = None
    errors: list[str] = field(default_factory=list)
    longest_pause: float = 0.0
    pause_at: tuple[float, float] | None = None  # (start, end), time.monotonic()
    _last_ack: float | None = None
    _next_id: int = 0
    _started: float = 0.0
    _stopped: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    # -- control --------------------------------------------------------------------------

    def start(self) -> AppLoad:
        self._next_id = self.first_id
        self._started = time.monotonic()
        for p in self.primaries:
            self.acknowledged.setdefault(p.label, 0)
        for n in range(self.threads):
            worker = threading.Thread(
                target=self._run, args=(n,), name=f"demo-app-{n}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout)
        if not self._stopped:
            self._stopped = time.monotonic()

    @property
    def running(self) -> bool:
        return any(w.is_alive() for w in self._workers)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.acknowledged)

    def total(self) -> int:
        with self._lock:
            return sum(self.acknowledged.values())

    def rate_seen(self) -> float:
        end = self._stopped or time.monotonic()
        return self.total() / max(end - self._started, 1e-9)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` transactions are acknowledged in total."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.total() >= count:
                return True
            time.sleep(0.05)
        return False

    # -- the application ------------------------------------------------------------------

    def read_router(self) -> tuple[Primary, str]:
        """The primary the router names, and its database."""
        text = self.router.read_text().strip()
        parts = urlsplit(text)
        database = unquote(parts.path.lstrip("/"))
        for p in self.primaries:
            if (parts.hostname, parts.port) == (p.host, p.port):
                return p, database
        raise RuntimeError(f"the router names an unknown server: {text!r}")

    def _take_id(self) -> int:
        with self._lock:
            ledger_id = self._next_id
            self._next_id += 1
            return ledger_id

    def _acked(self, label: str, ledger_id: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.acknowledged[label] = self.acknowledged.get(label, 0) + 1
            self.acknowledged_ids.add(ledger_id)
            if self._last_ack is not None and now - self._last_ack > self.longest_pause:
                self.longest_pause = now - self._last_ack
                self.pause_at = (self._last_ack, now)
            self._last_ack = now

    def _failed(self, exc: Exception, rejected: bool) -> None:
        message = exc.args[-1] if exc.args and isinstance(exc.args[-1], str) else str(exc)
        text = " ".join(message.split())[:200]
        with self._lock:
            if rejected:
                self.rejected += 1
                if self.first_rejection is None:
                    self.first_rejection = text
            elif len(self.errors) < 20:
                self.errors.append(text)

    def _run(self, n: int) -> None:
        rnd = random.Random(self.seed * 1000 + n)
        interval = self.threads / self.rate
        conn: Any = None
        conn_of: tuple[str, str] | None = None
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                primary, database = self.read_router()
                if conn is not None and conn_of != (primary.label, database):
                    _close(conn)
                    conn = None
                if conn is None:
                    conn, conn_of = primary.connect(database), (primary.label, database)
                ledger_id = self._take_id()
                account = rnd.randint(1, self.accounts)
                amount = Decimal(rnd.randint(-5000, 5000)) / 100
                cur = conn.cursor()
                try:
                    cur.execute(
                        "INSERT INTO ledger (id, account_id, amount, note) VALUES (%s, %s, %s, %s)",
                        (ledger_id, account, amount, f"app tx {ledger_id}"),
                    )
                    cur.execute(
                        "UPDATE accounts SET balance = balance + %s, updated_at = %s WHERE id = %s",
                        (amount, datetime.now(), account),
                    )
                    conn.commit()
                finally:
                    cur.close()
                self._acked(primary.label, ledger_id)
            except Exception as exc:
                # the fenced old primary says so ("... are fenced (cutover)"); anything else is
                # an error the demo reports
                self._failed(exc, rejected="fenced" in str(exc))
                if conn is not None:
                    try:
                        conn.rollback()
                    except Exception:
                        _close(conn)
                        conn = None
                self._stop.wait(RETRY_DELAY)
                next_at = time.monotonic()
                continue
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()
        if conn is not None:
            _close(conn)


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()
