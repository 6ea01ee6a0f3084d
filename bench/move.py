"""Live-move figures for ``make bench``: apply rate and replication lag of ``ferryman move``.

Two scenarios per direction (MariaDB → MariaDB, PostgreSQL → PostgreSQL), each on a fresh
``live_src.orders`` / ``live_tgt`` pair and a fresh ``ferryman move`` (a subprocess, as a user
runs it; its peak RSS is sampled from /proc like every tool of bench/run.py):

* ``move-apply-*``: the move starts on a small table (1,000 rows) and reaches ``replicating``;
  then the source takes a burst of row changes as fast as it can (server-side
  ``INSERT .. SELECT`` of 10,000 rows per statement, then ``UPDATE`` of 10,000 rows per
  statement, then one marker row ``UPDATE``, every statement its own transaction). The time
  runs from the commit of the first statement until the marker row reads back on the target
  (polled every 5 ms by primary key; the stream is applied in source commit order, whole
  transactions at a time, so the marker arrives last). Rate = row changes / that time. The
  target must then equal the source (count and checksum of every column).
* ``move-lag-*``: a writer commits 100 transactions/s of 20 rows each (10 inserts, 10 updates
  of earlier rows: 2,000 row changes/s) for ``--lag-seconds``. Each written row carries a fresh
  ``seq`` and the client's ``time.time()`` at the write (``wrote_at``). A poller reads the target
  every 25 ms (``WHERE seq > last``); a row's lag = the poll that first saw it − ``wrote_at``.
  Reported: p50 / p99 / max over every row write seen, and again target = source at the end.
* ``bulk-txn-*`` (MariaDB → PostgreSQL, PostgreSQL → MariaDB): the move reaches
  ``replicating``; then the source commits ONE transaction of ``--bulk-rows`` (2,000,000) row
  inserts (server-side ``INSERT .. SELECT``) that ends with the marker row ``UPDATE``. The time
  runs from that commit until the marker reads back on the target (the target commits the whole
  transaction at once). Reported: rows, seconds, rows/s and the runner's peak RSS, whose target
  is ≤ 300 MB (a transaction held whole took ~0.4 kB per row change); target = source at the end.

Run standalone (starts its own servers):

    .venv/bin/python bench/move.py [--changes 200000] [--lag-seconds 30] [--only move-lag-pp]
    .venv/bin/python bench/move.py --only bulk-txn [--bulk-rows 2000000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from procmem import MemoryProbe

from ferryman.testing.servers import MariaDBServer, PostgresServer

SRC_DB = "live_src"
TGT_DB = "live_tgt"
TABLE = "orders"
#: rows on the source before the move is created (copied, then the stream takes over)
BASE_ROWS = 1_000
#: rows per server-side statement (and transaction) of the burst
BURST_STMT = 10_000
#: rows per INSERT .. SELECT of the bulk transaction on MariaDB (one seq_N_to_M table each)
GEN_SEQ = 500_000
MARKER = "burst done"
#: the issue's targets
APPLY_TARGET = 30_000.0  # row changes/s, at least
LAG_P99_TARGET = 1.0  # seconds, at most
LAG_TX_PER_S = 100
LAG_ROWS_PER_TX = 20  # half new rows, half updates of earlier rows
LAG_POLL_S = 0.025
#: first id of the rows the lag writer inserts (clear of the base rows)
FRESH_IDS = 1_000_000
SAMPLE_S = 0.05
PHASE_TIMEOUT = 300.0
DIRECTIONS = {
    "mm": "MariaDB → MariaDB",
    "pp": "PostgreSQL → PostgreSQL",
    "mp": "MariaDB → PostgreSQL",
    "pm": "PostgreSQL → MariaDB",
    "me": "MariaDB → etcd",  # the sync-* scenarios of bench/sync.py
}
#: bulk-txn: the runner's peak RSS while it applies one transaction of --bulk-rows changes
BULK_RSS_TARGET_MB = 300.0


@dataclass
class LiveResult:
    name: str
    label: str
    direction: str  # mm | pp | "" (binlog decode)
    status: str = "skipped"  # ok | failed | skipped
    detail: str = ""
    figure: str = ""  # the headline figure as printed
    target: str = ""
    verdict: str = "n/a"  # PASS | FAIL | n/a
    peak_rss_mb: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def say(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# one side of a move: a database on a server, with the engine's SQL


class Side:
    def __init__(self, server: MariaDBServer | PostgresServer, db: str) -> None:
        self.server, self.db = server, db
        self.mysql = isinstance(server, MariaDBServer)

    def url(self) -> str:
        return self.server.url(self.db)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        conn = self.server.connect(self.db)
        try:
            yield conn
        finally:
            conn.close()

    def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
        cur = conn.cursor()
        try:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
        finally:
            cur.close()

    def reset(self) -> None:
        """A fresh empty database (PostgreSQL: after dropping the slots that hold it)."""
        if self.mysql:
            self.server.execute(f"DROP DATABASE IF EXISTS {self.db}")
            self.server.execute(f"CREATE DATABASE {self.db}")
            return
        self.server.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            f"WHERE database = '{self.db}' AND NOT active"
        )
        self.server.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        self.server.execute(f"CREATE DATABASE {self.db}")

    def create_table(self) -> None:
        with self.connection() as conn:
            self.query(conn, _MY_CREATE if self.mysql else _PG_CREATE)
            self.query(conn, "CREATE INDEX orders_seq ON orders (seq)")

    def ensure_seq_index(self) -> None:
        """The lag poller reads ``WHERE seq > ?`` on the target."""
        with self.connection() as conn:
            self.query(conn, "CREATE INDEX IF NOT EXISTS orders_seq ON orders (seq)")

    def insert_range(self, conn: Any, lo: int, hi: int) -> None:
        self.query(conn, (_MY_ROWS if self.mysql else _PG_ROWS).format(lo=lo, hi=hi))

    def update_range(self, conn: Any, lo: int, hi: int) -> None:
        if self.mysql:
            sql = (
                "UPDATE orders SET amount = amount + 1.25, customer_id = customer_id + 1, "
                f"note = CONCAT('updated ', id, ' ✓') WHERE id BETWEEN {lo} AND {hi}"
            )
        else:
            sql = (
                "UPDATE orders SET amount = amount + 1.25, customer_id = customer_id + 1, "
                f"note = 'updated ' || id || ' ✓' WHERE id BETWEEN {lo} AND {hi}"
            )
        self.query(conn, sql)

    def digest(self) -> tuple[int, int]:
        """(rows, checksum over every column) of the table."""
        with self.connection() as conn:
            ((count, checksum),) = self.query(conn, _MY_DIGEST if self.mysql else _PG_DIGEST)
        return int(count), int(checksum or 0)

    def fingerprint(self) -> tuple[Any, ...]:
        """Across engines: (rows, then a sum or count over every column's value) of the table,
        each computed alike by MariaDB and PostgreSQL."""
        with self.connection() as conn:
            (values,) = self.query(conn, _MY_FINGERPRINT if self.mysql else _PG_FINGERPRINT)
        return tuple(None if v is None else Decimal(str(v)) for v in values)

    def upsert_sql(self, rows: int) -> str:
        one = "(" + ", ".join(["%s"] * 9) + ")"
        values = ", ".join([one] * rows)
        cols = "id, customer_id, sku, amount, note, created_at, attrs, seq, wrote_at"
        if self.mysql:
            return (
                f"INSERT INTO orders ({cols}) VALUES {values} ON DUPLICATE KEY UPDATE "
                "amount = VALUES(amount), note = VALUES(note), seq = VALUES(seq), "
                "wrote_at = VALUES(wrote_at)"
            )
        return (
            f"INSERT INTO orders ({cols}) VALUES {values} ON CONFLICT (id) DO UPDATE SET "
            "amount = EXCLUDED.amount, note = EXCLUDED.note, seq = EXCLUDED.seq, "
            "wrote_at = EXCLUDED.wrote_at"
        )


_MY_CREATE = """
CREATE TABLE orders (
  id BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  sku VARCHAR(16) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  note VARCHAR(200) NULL,
  created_at DATETIME(6) NOT NULL,
  attrs JSON NULL,
  seq BIGINT NOT NULL DEFAULT 0,
  wrote_at DOUBLE NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"""
_PG_CREATE = """
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  customer_id integer NOT NULL,
  sku varchar(16) NOT NULL,
  amount numeric(12,2) NOT NULL,
  note varchar(200),
  created_at timestamp(6) NOT NULL,
  attrs jsonb,
  seq bigint NOT NULL DEFAULT 0,
  wrote_at double precision
)"""
# deterministic rows from n (as bench/run.py's orders, shorter): NULLs, accents, emoji, JSON
_MY_ROWS = """
INSERT INTO orders (id, customer_id, sku, amount, note, created_at, attrs)
SELECT n, 1 + (n * 7919) % 250000, CONCAT('SKU-', LPAD(n % 100000, 5, '0')),
  ((n * 104729) % 9999999 - IF(n % 50 = 0, 5000000, 0)) / 100,
  IF(n % 3 = 0, NULL, CONCAT('note #', n, ' café 🚀 it''s')),
  TIMESTAMP'2020-01-01 00:00:00' + INTERVAL n SECOND + INTERVAL (n * 7654321) % 1000000 MICROSECOND,
  IF(n % 2 = 0, NULL, JSON_OBJECT('k', n % 1000, 'tag', 'niño', 'v', JSON_ARRAY(n % 7)))
FROM (SELECT CAST(seq AS SIGNED) AS n FROM seq_{lo}_to_{hi}) AS numbers"""
_PG_ROWS = """
INSERT INTO orders (id, customer_id, sku, amount, note, created_at, attrs)
SELECT n, 1 + (n * 7919) % 250000, 'SKU-' || lpad((n % 100000)::text, 5, '0'),
  ((n * 104729) % 9999999 - CASE WHEN n % 50 = 0 THEN 5000000 ELSE 0 END) / 100.0,
  CASE WHEN n % 3 = 0 THEN NULL ELSE 'note #' || n || ' café 🚀 it''s' END,
  timestamp '2020-01-01 00:00:00' + n * interval '1 second'
    + ((n * 7654321) % 1000000) * interval '1 microsecond',
  CASE WHEN n % 2 = 0 THEN NULL
       ELSE jsonb_build_object('k', n % 1000, 'tag', 'niño', 'v', jsonb_build_array(n % 7)) END
FROM generate_series({lo}::bigint, {hi}::bigint) AS n"""
_MY_DIGEST = (
    "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, customer_id, sku, amount, IFNULL(note, '~'), "
    "created_at, IFNULL(attrs, '~'), seq, IFNULL(wrote_at, '~')))) FROM orders"
)
_MY_FINGERPRINT = (
    "SELECT COUNT(*), SUM(id), SUM(customer_id), SUM(CAST(SUBSTRING(sku, 5) AS SIGNED)), "
    "SUM(amount), COUNT(note), SUM(CHAR_LENGTH(note)), "
    "SUM(TIMESTAMPDIFF(MICROSECOND, '2020-01-01', created_at)), COUNT(attrs), "
    "SUM(JSON_EXTRACT(attrs, '$.k')), SUM(seq) FROM orders"
)
_PG_FINGERPRINT = (
    "SELECT count(*), sum(id), sum(customer_id), sum(substr(sku, 5)::bigint), sum(amount), "
    "count(note), sum(char_length(note)), "
    "sum((extract(epoch FROM created_at - timestamp '2020-01-01') * 1000000)::bigint), "
    "count(attrs), sum((attrs->>'k')::bigint), sum(seq) FROM orders"
)
_PG_DIGEST = (
    "SELECT count(*), sum(('x' || substr(md5(concat_ws('|', id, customer_id, sku, amount, "
    "coalesce(note, '~'), created_at, coalesce(attrs::text, '~'), seq, "
    "coalesce(wrote_at::text, '~'))), 1, 15))::bit(60)::bigint) FROM orders"
)


# --------------------------------------------------------------------------------------------
# the move under test: `ferryman move create`, then `ferryman move start` sampled for RSS


class Runner:
    def __init__(self, ferryman: Sequence[str], workdir: Path, name: str) -> None:
        self.ferryman = list(ferryman)
        self.name = name
        self.state = workdir / f"{name}.state.db"
        self.state.unlink(missing_ok=True)
        self.log = workdir / "logs" / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PG", "MYSQL", "MARIADB")) and k != "LD_PRELOAD"
        }
        self.env.update(FERRYMAN_STATE=str(self.state), COLUMNS="200")
        self.proc: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []  # more `move start` options (the guard scenarios)
        self.probe: MemoryProbe | None = None
        self._sampler: threading.Thread | None = None
        self._done = threading.Event()

    def create(self, source: Side, target: Side) -> None:
        argv = [*self.ferryman, "move", "create", self.name, "--source", source.url()]
        argv += ["--target", target.url(), "--tables", TABLE]
        if source.mysql and not target.mysql:
            argv += ["--target-schema", "public"]  # (default: a schema named as the database)
        with self.log.open("ab") as out:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=self.env, check=False
            )
        if done.returncode != 0:
            raise RuntimeError(f"ferryman move create failed (exit {done.returncode})")

    def start(self, source: Side, target: Side) -> None:
        argv = [*self.ferryman, "move", "start", self.name, "--source", source.url()]
        argv += ["--target", target.url(), *self.args]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env,
                start_new_session=True,
            )
        self.probe = MemoryProbe(self.proc.pid)
        profile = os.environ.get("BENCH_PROFILE")  # a directory: py-spy samples every thread
        if profile:
            spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw"]
            spy += ["-r", "200", "-o", str(Path(profile) / f"{self.name}.txt")]
            subprocess.Popen([*spy, "--pid", str(self.proc.pid)], stdout=subprocess.DEVNULL)
        self._sampler = threading.Thread(target=self._sample, name="rss", daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        assert self.probe is not None
        while not self._done.wait(SAMPLE_S):
            self.probe.sample()

    def status(self) -> dict[str, Any]:
        from ferryman.workflow import move as moves
        from ferryman.workflow.state import open_store

        return moves.status(open_store(str(self.state)), self.name)

    def wait_phase(self, phase: str, timeout: float = PHASE_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"ferryman move start exited ({self.proc.returncode})")
            with contextlib.suppress(Exception):
                st = self.status()
                if st["phase"] == phase:
                    return
                if st["phase"] in ("failed", "paused"):
                    raise RuntimeError(f"move {st['phase']}: {st.get('error')}")
            time.sleep(0.1)
        raise RuntimeError(f"no phase {phase!r} after {timeout:.0f} s")

    def wait_events(self, at_least: int, timeout: float = 10.0) -> int:
        """events_applied from the status (published about once a second)."""
        deadline = time.monotonic() + timeout
        events = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                events = int(self.status()["events_applied"])
                if events >= at_least:
                    break
            time.sleep(0.2)
        return events

    def stop(self) -> int | None:
        """SIGTERM, as the user stops it; the peak RSS is final after this."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.probe and self.probe.sample()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                code = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                code = self.proc.wait(10)
        self._done.set()
        if self._sampler is not None:
            self._sampler.join()
        return code

    @property
    def peak_rss_mb(self) -> float | None:
        return round(self.probe.peak_mb, 1) if self.probe is not None else None

    def last_error(self) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
            flush = [ln for ln in lines if not ln[0].isspace()]
            if flush or lines:
                return " ".join((flush or lines)[-1].split())[:160]
        return "(no output)"


# --------------------------------------------------------------------------------------------
# the scenarios


@dataclass(frozen=True)
class LiveScenario:
    name: str
    label: str
    direction: str  # mm | pp | ""


LIVE_SCENARIOS = (
    LiveScenario("binlog-decode", "binlog decode vs python-mysql-replication", ""),
    LiveScenario("move-apply-mm", "ferryman move: apply burst", "mm"),
    LiveScenario("move-apply-pp", "ferryman move: apply burst", "pp"),
    LiveScenario("move-lag-mm", "ferryman move: lag at 2,000 rows/s", "mm"),
    LiveScenario("move-lag-pp", "ferryman move: lag at 2,000 rows/s", "pp"),
    LiveScenario("bulk-txn-mp", "ferryman move: one big source transaction", "mp"),
    LiveScenario("bulk-txn-pm", "ferryman move: one big source transaction", "pm"),
    # the drift guard's cost: the same apply burst and 2,000 rows/s lag with it on and off
    LiveScenario("guard-apply-mm-off", "drift guard off: apply burst", "mm"),
    LiveScenario("guard-apply-mm-on", "drift guard on (log): apply burst", "mm"),
    LiveScenario("guard-lag-mm-off", "drift guard off: lag at 2,000 rows/s", "mm"),
    LiveScenario("guard-lag-mm-on", "drift guard on (log): lag at 2,000 rows/s", "mm"),
    LiveScenario("guard-apply-pp-off", "drift guard off: apply burst", "pp"),
    LiveScenario("guard-apply-pp-on", "drift guard on (log): apply burst", "pp"),
    LiveScenario("guard-lag-pp-off", "drift guard off: lag at 2,000 rows/s", "pp"),
    LiveScenario("guard-lag-pp-on", "drift guard on (log): lag at 2,000 rows/s", "pp"),
    # the control server's cost: the same apply burst with `ferryman serve` idle beside the
    # move (nobody asks; its monitor samples the store) or not running
    LiveScenario("serve-apply-mm-off", "no serve: apply burst", "mm"),
    LiveScenario("serve-apply-mm-on", "serve idle beside the move: apply burst", "mm"),
)
#: resamples of :func:`ratio_interval`
BOOTSTRAP = 2000
#: paired scenarios (NAME-off / NAME-on): the least rate ratio on/off their feature may cost
PAIR_MIN_RATIO = {"guard-apply-mm": 0.90, "guard-apply-pp": 0.90, "serve-apply-mm": 0.95}
LIVE_GROUPS = {
    "live": [s.name for s in LIVE_SCENARIOS],
    "move": [s.name for s in LIVE_SCENARIOS if s.name.startswith("move-")],
    "bulk-txn": [s.name for s in LIVE_SCENARIOS if s.name.startswith("bulk-txn")],
    "guard": [s.name for s in LIVE_SCENARIOS if s.name.startswith("guard-")],
    "serve-cost": [s.name for s in LIVE_SCENARIOS if s.name.startswith("serve-")],
}


def paired_order(scenarios: Sequence[LiveScenario], repeat: int) -> list[LiveScenario]:
    """The run order: each -off/-on pair ``repeat`` times, alternating (off, on, off, on, …),
    so that a slow minute of the shared 2-core machine hits both sides alike; the others once."""
    out: list[LiveScenario] = []
    for s in scenarios:
        if s.name.endswith("-on"):
            continue
        if s.name.endswith("-off"):
            on = next((o for o in scenarios if o.name == s.name[:-4] + "-on"), None)
            out += [s, on] * repeat if on is not None else [s] * repeat
        else:
            out.append(s)
    return out


def ratio_interval(off: Sequence[float], on: Sequence[float]) -> tuple[float, float] | None:
    """A 90% bootstrap interval of median(on) / median(off): how far the machine's noise
    (single runs differ by ±10% here) leaves the ratio open. Resampled with a fixed seed, so the
    same runs give the same interval. None with fewer than three runs a side (no spread to
    resample)."""
    if min(len(off), len(on)) < 3:
        return None
    rng = random.Random(0)
    ratios = sorted(
        statistics.median(rng.choices(on, k=len(on)))
        / statistics.median(rng.choices(off, k=len(off)))
        for _ in range(BOOTSTRAP)
    )
    return ratios[int(0.05 * BOOTSTRAP)], ratios[int(0.95 * BOOTSTRAP) - 1]


def pair_costs(results: Sequence[LiveResult]) -> list[str]:
    """One line per -off/-on pair run: the median rate (apply) or lag p99 of each side, their
    ratio and, for the apply pairs, the verdict against :data:`PAIR_MIN_RATIO`."""
    lines = []
    bases = dict.fromkeys(r.name[:-4] for r in results if r.name.endswith("-off"))
    for base in bases:
        sides: dict[str, list[float]] = {"off": [], "on": []}
        apply = "-apply-" in base
        metric = "rows_per_s" if apply else "lag_p99_s"
        for r in results:
            for side in sides:
                if r.name == f"{base}-{side}" and r.status == "ok" and metric in r.metrics:
                    sides[side].append(float(r.metrics[metric]))
        if not sides["off"] or not sides["on"]:
            lines.append(f"{base}: no complete pair (a run failed)")
            continue
        off, on = (statistics.median(sides[k]) for k in ("off", "on"))
        shown = (lambda v: f"{v:,.0f}") if apply else (lambda v: f"{v * 1000:.0f} ms")
        runs = ", ".join(f"{k} {' / '.join(shown(v) for v in sides[k])}" for k in sides)
        if apply:
            floor = PAIR_MIN_RATIO.get(base, 0.9)
            verdict = "PASS" if on / off >= floor else "FAIL"
            interval = ratio_interval(sides["off"], sides["on"])
            if interval is None:
                spread = "no interval: fewer than 3 runs a side"
            else:
                low, high = interval
                spread = f"90% interval {low:.3f}–{high:.3f}×"
                if low < floor <= high:
                    verdict += " (not decided: the 90% interval holds the target)"
            lines.append(
                f"{base}: median {on:,.0f} rows/s on vs {off:,.0f} off = {on / off:.3f}× "
                f"(cost {max(0.0, 1 - on / off):.1%}; {spread}; target ≥ {floor:.2f}×): "
                f"{verdict} [{runs}]"
            )
        else:
            verdict = "PASS" if on <= LAG_P99_TARGET else "FAIL"
            lines.append(
                f"{base}: median lag p99 {on * 1000:.0f} ms on vs {off * 1000:.0f} ms off "
                f"(target on ≤ {LAG_P99_TARGET:.1f} s): {verdict} [{runs}]"
            )
    return lines


class LiveBench:
    def __init__(
        self,
        my_src: MariaDBServer,
        my_tgt: MariaDBServer,
        pg: PostgresServer,
        workdir: Path,
        ferryman: Sequence[str],
        *,
        pg_target: PostgresServer | None = None,
        changes: int,
        lag_seconds: float,
        decode_rows: int,
        decode_repeat: int,
        bulk_rows: int = 2_000_000,
    ) -> None:
        self.my_src, self.my_tgt, self.pg = my_src, my_tgt, pg
        # PostgreSQL → PostgreSQL moves to a second server, as a move does (and as MariaDB →
        # MariaDB here does): on one server every logical walsender reads the WAL of both
        # databases, the stream's and the drift guard's alike
        self.pg_target = pg_target or pg
        self.workdir = workdir
        self.ferryman = list(ferryman)
        self.changes = changes
        self.lag_seconds = lag_seconds
        self.decode_rows = decode_rows
        self.decode_repeat = decode_repeat
        self.bulk_rows = bulk_rows
        self.start_args: list[str] = []  # `move start` options of the scenario running
        self.sidecar: subprocess.Popen[bytes] | None = None  # serve-*-on: the idle server

    def sides(self, direction: str) -> tuple[Side, Side]:
        if direction == "mm":
            return Side(self.my_src, SRC_DB), Side(self.my_tgt, TGT_DB)
        if direction == "mp":
            return Side(self.my_src, SRC_DB), Side(self.pg, TGT_DB)
        if direction == "pm":
            return Side(self.pg, SRC_DB), Side(self.my_tgt, TGT_DB)
        return Side(self.pg, SRC_DB), Side(self.pg_target, TGT_DB)

    def run(self, scenario: LiveScenario) -> LiveResult:
        result = LiveResult(scenario.name, scenario.label, scenario.direction)
        # guard-*: the same scenarios with the drift guard on (--on-drift log) or off
        self.start_args = (
            ["--on-drift", "log" if scenario.name.endswith("-on") else "off"]
            if scenario.name.startswith("guard-")
            else []
        )
        try:
            if scenario.name == "binlog-decode":
                self._decode(result)
            elif scenario.name.startswith(("move-apply", "guard-apply", "serve-apply")):
                self._apply(scenario, result)
            elif scenario.name.startswith("bulk-txn"):
                self._bulk(scenario, result)
            else:
                self._lag(scenario, result)
        except Exception as exc:
            result.status = "failed"
            result.verdict = "FAIL"
            result.detail = f"FAILED: {' '.join(str(exc).split())[:200]}"
        return result

    # binlog decode ------------------------------------------------------------------------

    def _decode(self, result: LiveResult) -> None:
        import binlog_decode

        m = binlog_decode.measure(
            self.my_src, self.decode_rows, self.decode_repeat, say=lambda text: say(text)
        )
        result.metrics = m
        ratio = m["ratio_stream"]
        result.target = f"≥ {binlog_decode.TARGET_RATIO:.0f}×"
        if ratio is None:
            result.status = "skipped"
            result.detail = "SKIPPED (" + "; ".join(m["skipped"].values()) + ")"
            return
        rates = m["rows_per_s"]
        result.status = "ok"
        result.figure = f"{ratio:.1f}×"
        result.verdict = "PASS" if ratio >= binlog_decode.TARGET_RATIO else "FAIL"
        result.detail = (
            f"{self.decode_rows:,} row updates; ferryman {rates[binlog_decode.STREAM]:,} rows/s, "
            f"python-mysql-replication {rates[binlog_decode.PEER]:,} rows/s; decoder alone "
            f"{m['ratio_decoder']:.1f}×"
        )

    # common set-up --------------------------------------------------------------------------

    def _prepare(self, scenario: LiveScenario) -> tuple[Side, Side, Runner]:
        source, target = self.sides(scenario.direction)
        source.reset()
        target.reset()
        source.create_table()
        with source.connection() as conn:
            source.insert_range(conn, 1, BASE_ROWS)
        runner = Runner(self.ferryman, self.workdir, scenario.name)
        runner.args = list(self.start_args)
        runner.create(source, target)
        if scenario.name.startswith("serve-") and scenario.name.endswith("-on"):
            self._serve(runner)
        target.ensure_seq_index()
        return source, target, runner

    def _finish(
        self, runner: Runner, source: Side, target: Side, result: LiveResult, events: int
    ) -> bool:
        """Stop the runner; compare target and source. True when they are equal."""
        code = runner.stop()
        result.peak_rss_mb = runner.peak_rss_mb
        result.metrics["peak_rss_mb"] = result.peak_rss_mb
        result.metrics["events_applied"] = events
        result.metrics["runner_exit"] = code
        if source.mysql == target.mysql:
            src, tgt = source.digest(), target.digest()
        else:
            src, tgt = source.fingerprint(), target.fingerprint()
        result.metrics["source_digest"] = [
            v if v is None or isinstance(v, int) else str(v) for v in src
        ]
        result.metrics["target_digest"] = [
            v if v is None or isinstance(v, int) else str(v) for v in tgt
        ]
        if src != tgt:
            result.status = "failed"
            result.verdict = "FAIL"
            result.detail = f"MISMATCH (rows {tgt[0]:,} vs {src[0]:,}, checksum differs)"
            return False
        if code != 0:
            result.status = "failed"
            result.verdict = "FAIL"
            result.detail = f"FAILED (move start exit {code}): {runner.last_error()}"
            return False
        return True

    def _serve(self, runner: Runner) -> None:
        """``ferryman serve`` on the runner's state store, idle (nobody asks) until cleanup."""
        argv = [*self.ferryman, "--state", str(runner.state), "serve", "--http", "127.0.0.1:0"]
        with runner.log.with_suffix(".serve.log").open("ab") as out:
            self.sidecar = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=runner.env
            )
        deadline = time.monotonic() + 30
        log = runner.log.with_suffix(".serve.log")
        while "ferryman serve: http" not in log.read_text(errors="replace"):
            if self.sidecar.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ferryman serve did not start: {log.read_text()[-300:]}")
            time.sleep(0.1)

    def _cleanup(self, scenario: LiveScenario) -> None:
        if self.sidecar is not None:
            self.sidecar.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.sidecar.wait(20)
            self.sidecar = None
        for side in self.sides(scenario.direction):
            with contextlib.suppress(Exception):
                side.reset()

    # apply rate -----------------------------------------------------------------------------

    def _apply(self, scenario: LiveScenario, result: LiveResult) -> None:
        source, target, runner = self._prepare(scenario)
        try:
            runner.start(source, target)
            runner.wait_phase("replicating")
            events_before = runner.wait_events(0, timeout=0.1)
            inserts = self.changes // 2
            updates = self.changes - inserts - 1
            seen = threading.Event()
            arrived: dict[str, float] = {}
            poller = threading.Thread(
                target=_watch_marker, args=(target, seen, arrived), name="marker", daemon=True
            )
            poller.start()
            first_commit: float | None = None
            with source.connection() as conn:
                t_gen = time.monotonic()
                lo = BASE_ROWS + 1
                for start in range(lo, lo + inserts, BURST_STMT):
                    source.insert_range(conn, start, min(lo + inserts - 1, start + BURST_STMT - 1))
                    first_commit = first_commit or time.monotonic()
                for start in range(lo, lo + updates, BURST_STMT):
                    source.update_range(conn, start, min(lo + updates - 1, start + BURST_STMT - 1))
                source.query(conn, f"UPDATE orders SET note = '{MARKER}' WHERE id = 1")
                generated = time.monotonic()
            total = inserts + updates + 1
            if not seen.wait(PHASE_TIMEOUT):
                raise RuntimeError(f"the target had not applied the burst after {PHASE_TIMEOUT} s")
            assert first_commit is not None
            done = arrived["at"]
            events = runner.wait_events(events_before + total) - events_before
        except BaseException:
            runner.stop()
            self._cleanup(scenario)
            raise
        ok = self._finish(runner, source, target, result, events)
        self._cleanup(scenario)
        seconds = done - first_commit
        rate = total / seconds
        result.metrics.update(
            row_changes=total,
            inserts=inserts,
            updates=updates + 1,
            source_write_s=round(generated - t_gen, 3),
            source_rows_per_s=round(total / (generated - t_gen)),
            apply_s=round(seconds, 3),
            apply_after_source_s=round(done - generated, 3),
            rows_per_s=round(rate),
            target_rows_per_s=APPLY_TARGET,
        )
        result.target = f"≥ {APPLY_TARGET:,.0f}/s"
        result.figure = f"{rate:,.0f}/s"
        if not ok:
            return
        result.status = "ok"
        result.verdict = "PASS" if rate >= APPLY_TARGET else "FAIL"
        result.detail = (
            f"{total:,} row changes in {seconds:.2f} s from first commit "
            f"(source wrote them in {generated - t_gen:.2f} s; target done "
            f"{done - generated:.2f} s later); events_applied {events:,}; target = source"
        )

    # one big transaction --------------------------------------------------------------------

    def _bulk(self, scenario: LiveScenario, result: LiveResult) -> None:
        source, target, runner = self._prepare(scenario)
        try:
            runner.start(source, target)
            runner.wait_phase("replicating")
            events_before = runner.wait_events(0, timeout=0.1)
            seen = threading.Event()
            arrived: dict[str, float] = {}
            lo, hi = BASE_ROWS + 1, BASE_ROWS + self.bulk_rows
            with source.connection() as conn:
                t_gen = time.monotonic()
                source.query(conn, "BEGIN")  # autocommit connection: one explicit transaction
                if source.mysql:
                    for start in range(lo, hi + 1, GEN_SEQ):  # the sequence engine's tables
                        source.insert_range(conn, start, min(hi, start + GEN_SEQ - 1))
                else:
                    source.insert_range(conn, lo, hi)
                source.query(conn, f"UPDATE orders SET note = '{MARKER}' WHERE id = 1")
                source.query(conn, "COMMIT")
                committed = time.monotonic()
            poller = threading.Thread(
                target=_watch_marker, args=(target, seen, arrived), name="marker", daemon=True
            )
            poller.start()
            total = self.bulk_rows + 1
            if not seen.wait(PHASE_TIMEOUT):
                raise RuntimeError(
                    f"the target had not applied the transaction in {PHASE_TIMEOUT} s"
                )
            done = arrived["at"]
            events = runner.wait_events(events_before + total) - events_before
        except BaseException:
            runner.stop()
            self._cleanup(scenario)
            raise
        ok = self._finish(runner, source, target, result, events)
        self._cleanup(scenario)
        seconds = done - committed
        peak = result.peak_rss_mb
        result.metrics.update(
            row_changes=total,
            source_transaction_s=round(committed - t_gen, 3),
            apply_s=round(seconds, 3),
            rows_per_s=round(total / seconds),
            target_peak_rss_mb=BULK_RSS_TARGET_MB,
        )
        result.target = f"RSS ≤ {BULK_RSS_TARGET_MB:.0f} MB"
        result.figure = f"{peak:.0f} MB" if peak is not None else "-"
        if not ok:
            return
        result.status = "ok"
        result.verdict = "PASS" if peak is not None and peak <= BULK_RSS_TARGET_MB else "FAIL"
        result.detail = (
            f"one transaction of {total:,} row changes (the source wrote it in "
            f"{committed - t_gen:.1f} s) applied {seconds:.1f} s after its commit "
            f"({total / seconds:,.0f} rows/s); peak RSS {peak} MB; events_applied {events:,}; "
            "target = source"
        )

    # lag ------------------------------------------------------------------------------------

    def _lag(self, scenario: LiveScenario, result: LiveResult) -> None:
        source, target, runner = self._prepare(scenario)
        try:
            runner.start(source, target)
            runner.wait_phase("replicating")
            events_before = runner.wait_events(0, timeout=0.1)
            watch = _LagWatch(target)
            watch.start()
            written = _write_steadily(source, self.lag_seconds)
            watch.wait_for(written["last_seq"], timeout=60.0)
            watch.stop()
            events = runner.wait_events(events_before + written["rows"]) - events_before
        except BaseException:
            runner.stop()
            self._cleanup(scenario)
            raise
        ok = self._finish(runner, source, target, result, events)
        self._cleanup(scenario)
        lags = sorted(watch.lags)
        if not lags:
            raise RuntimeError("the poller saw no row arrive on the target")
        p50, p99, worst = _pct(lags, 0.50), _pct(lags, 0.99), lags[-1]
        result.metrics.update(
            seconds=self.lag_seconds,
            rows_written=written["rows"],
            transactions=written["transactions"],
            write_rows_per_s=round(written["rows"] / written["seconds"]),
            row_writes_seen=len(lags),
            lag_p50_s=round(p50, 4),
            lag_p99_s=round(p99, 4),
            lag_max_s=round(worst, 4),
            poll_s=LAG_POLL_S,
            target_p99_s=LAG_P99_TARGET,
        )
        result.target = f"p99 ≤ {LAG_P99_TARGET:.1f} s"
        result.figure = f"p99 {p99:.3f} s"
        if not ok:
            return
        result.status = "ok"
        result.verdict = "PASS" if p99 <= LAG_P99_TARGET else "FAIL"
        result.detail = (
            f"lag p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms over "
            f"{len(lags):,} of {written['rows']:,} row writes "
            f"({written['rows'] / written['seconds']:,.0f} rows/s for "
            f"{written['seconds']:.0f} s); target = source"
        )


def _pct(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def _watch_marker(target: Side, seen: threading.Event, arrived: dict[str, float]) -> None:
    """Poll the marker row on the target (a primary-key read) every 5 ms."""
    with target.connection() as conn:
        deadline = time.monotonic() + PHASE_TIMEOUT
        while time.monotonic() < deadline:
            rows = target.query(conn, "SELECT note FROM orders WHERE id = 1")
            if rows and rows[0][0] == MARKER:
                arrived["at"] = time.monotonic()
                seen.set()
                return
            time.sleep(0.005)


class _LagWatch:
    """Reads the target every LAG_POLL_S: rows whose seq it has not seen yet; lag per row."""

    def __init__(self, target: Side) -> None:
        self.target = target
        self.lags: list[float] = []
        self.last_seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-poller", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            with self.target.connection() as conn:
                while not self._stop.is_set():
                    rows = self.target.query(
                        conn,
                        "SELECT seq, wrote_at FROM orders WHERE seq > %s",
                        [self.last_seq],
                    )
                    now = time.time()
                    for seq, wrote_at in rows:
                        self.lags.append(now - float(wrote_at))
                        self.last_seq = max(self.last_seq, int(seq))
                    self._stop.wait(LAG_POLL_S)
        except BaseException as exc:
            self.error = exc

    def wait_for(self, seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.last_seq < seq and time.monotonic() < deadline and self.error is None:
            time.sleep(0.05)
        if self.error is not None:
            raise RuntimeError(f"lag poller failed: {self.error}")
        if self.last_seq < seq:
            raise RuntimeError(f"the target had seq {self.last_seq} of {seq} after {timeout} s")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _write_steadily(source: Side, seconds: float) -> dict[str, Any]:
    """LAG_TX_PER_S transactions a second, each LAG_ROWS_PER_TX rows (half new ids, half
    updates of earlier ones), every row with a new seq and the client's time.time()."""
    per_tx = LAG_ROWS_PER_TX
    fresh = per_tx // 2
    sql = source.upsert_sql(per_tx)
    next_id = FRESH_IDS
    seq = 0
    transactions = 0
    with source.connection() as conn:
        cur = conn.cursor()
        started = time.monotonic()
        count = int(seconds * LAG_TX_PER_S)
        for i in range(count):
            due = started + i / LAG_TX_PER_S
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # updates of earlier rows (the base rows and the ones written so far) ...
            existing = BASE_ROWS + next_id - FRESH_IDS
            picks = ((i * 7919 + j * 104729) % existing for j in range(per_tx - fresh))
            ids = list(
                dict.fromkeys(p + 1 if p < BASE_ROWS else FRESH_IDS + p - BASE_ROWS for p in picks)
            )
            # ... and new rows for the rest
            ids += range(next_id, next_id + per_tx - len(ids))
            next_id = ids[-1] + 1
            now = time.time()
            params: list[Any] = []
            for row_id in ids:
                seq += 1
                params += [
                    row_id,
                    row_id % 250000,
                    f"SKU-{row_id % 100000:05d}",
                    f"{(row_id * 104729) % 9999999 / 100:.2f}",
                    f"lag row {row_id} seq {seq}",
                    "2024-01-01 00:00:00.123456",
                    None,
                    seq,
                    now,
                ]
            cur.execute(sql, params)
            transactions += 1
        elapsed = time.monotonic() - started
        cur.close()
    return {"rows": seq, "transactions": transactions, "seconds": elapsed, "last_seq": seq}


# --------------------------------------------------------------------------------------------
# report


def live_rows(results: Sequence[LiveResult]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the live-move table of the report."""
    headers = ["live scenario", "direction", "figure", "target", "result", "peak RSS MB", "detail"]
    rows = [
        [
            r.name,
            DIRECTIONS.get(r.direction, "MariaDB binlog"),
            r.figure or "-",
            r.target or "-",
            r.verdict,
            "-" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.1f}",
            r.detail,
        ]
        for r in results
    ]
    return headers, rows


# --------------------------------------------------------------------------------------------
# standalone


def main(argv: Sequence[str] | None = None) -> int:
    import tempfile

    from ferryman.testing.servers import start_mariadb, start_postgres

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--decode-rows", type=int, default=200_000)
    parser.add_argument("--bulk-rows", type=int, default=2_000_000)
    parser.add_argument("--only", default=",".join(LIVE_GROUPS["live"]))
    parser.add_argument("--pair-repeat", type=int, default=5)
    args = parser.parse_args(argv)
    names = set()
    for name in args.only.split(","):
        names.update(LIVE_GROUPS.get(name, [name]))
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-live-"))
    servers: list[Any] = []
    try:
        servers.append(my_src := start_mariadb(server_id=201))
        servers.append(my_tgt := start_mariadb(server_id=202))
        servers.append(pg := start_postgres())
        pg_target = None
        if any(s.direction == "pp" for s in LIVE_SCENARIOS if s.name in names):
            servers.append(pg_target := start_postgres())
        exe = Path(sys.executable).with_name("ferryman")
        ferryman = [str(exe)] if exe.exists() else [sys.executable, "-m", "ferryman"]
        bench = LiveBench(
            my_src,
            my_tgt,
            pg,
            workdir,
            ferryman,
            pg_target=pg_target,
            changes=args.changes,
            lag_seconds=args.lag_seconds,
            decode_rows=args.decode_rows,
            decode_repeat=3,
            bulk_rows=args.bulk_rows,
        )
        results = []
        chosen = [s for s in LIVE_SCENARIOS if s.name in names]
        for scenario in paired_order(chosen, args.pair_repeat):
            say(f"{scenario.name}: {scenario.label}")
            results.append(bench.run(scenario))
            say(f"  {results[-1].figure} {results[-1].detail}")
        say("")
        headers, rows = live_rows(results)
        for row in rows:
            say("  ".join(f"{h}: {v}" for h, v in zip(headers, row, strict=True)))
        for line in pair_costs(results):
            say(line)
        say(f"logs: {workdir / 'logs'}")
    finally:
        for server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
