"""``make bench``: time ``ferryman copy`` against the usual tools, on the same data, in one run.

Starts throwaway servers (two MariaDB, one PostgreSQL cluster holding databases ``src`` and
``tgt``), generates the standard ``orders`` dataset on both engines, then runs each scenario
once (or ``--repeat`` times) against a freshly reset target, measuring wall time and peak RSS:

    MariaDB → MariaDB        mariadb-dump | mariadb, mydumper + myloader (2 threads), ferryman
    MariaDB → PostgreSQL     pgloader, ferryman
    PostgreSQL → PostgreSQL  pg_dump | psql, ferryman

After every run the target is compared with the source (row count and an order-independent
hash of every row's canonical text). A tool that fails is reported as FAILED and the others
still run. See bench/README.md for what is measured and why it is fair.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from diff import DIFF_GROUPS, DIFF_SCENARIOS, DiffBench, DiffComparison, DiffResult
from diff import PAIRS as DIFF_PAIRS
from diff import compare as diff_compare
from diff import report_lines as diff_report_lines
from diff import versions as diff_versions
from move import (
    LIVE_GROUPS,
    LIVE_SCENARIOS,
    LiveBench,
    LiveResult,
    live_rows,
    pair_costs,
    paired_order,
)
from procmem import MemoryProbe
from serve import main as serve_main
from sync import SYNC_GROUPS, SYNC_SCENARIOS, SyncBench

from ferryman.testing.servers import (
    MariaDBServer,
    PostgresServer,
    start_mariadb,
    start_postgres,
)

ROOT = Path(__file__).resolve().parent.parent
TABLE = "orders"
SRC_DB = "src"
TGT_DB = "tgt"
MIB = 1024 * 1024
#: Rows per INSERT ... SELECT statement while generating the dataset.
GEN_CHUNK = 1_000_000
#: Seconds between two samples of a running tool's memory.
POLL_S = 0.05
#: Rows fetched per round trip by the exactness check.
FETCH = 10_000
#: ferryman's peak RSS must stay under this (the issue's target).
RSS_LIMIT_MB = 300.0
#: ... and within this fraction of a baseline run on a different row count.
RSS_TOLERANCE = 0.20

MARIADB_ARGS = ("--innodb-buffer-pool-size=512M", "--innodb-log-file-size=512M")
POSTGRES_CONF = {"shared_buffers": "256MB", "max_wal_size": "4GB", "checkpoint_timeout": "1h"}

DIRECTIONS = {
    "mm": "MariaDB → MariaDB",
    "mp": "MariaDB → PostgreSQL",
    "pp": "PostgreSQL → PostgreSQL",
}
COLUMNS = ("id", "customer_id", "sku", "amount", "note", "created_at", "attrs")


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    direction: str  # key of DIRECTIONS
    programs: tuple[str, ...] = ()
    #: For a peer: the ratio ferryman/peer that ferryman has to meet in the same direction.
    target_ratio: float | None = None

    @property
    def is_ferryman(self) -> bool:
        return self.name.startswith("ferryman")


SCENARIOS = (
    Scenario("mariadb-dump", "mariadb-dump | mariadb", "mm", ("mariadb-dump", "mariadb"), 0.6),
    Scenario("mydumper", "mydumper + myloader, 2 threads", "mm", ("mydumper", "myloader"), 1.0),
    Scenario("ferryman-mm", "ferryman copy", "mm"),
    Scenario("pgloader", "pgloader", "mp", ("pgloader",), 0.8),
    Scenario("ferryman-mp", "ferryman copy", "mp"),
    Scenario("pg_dump", "pg_dump | psql", "pp", ("pg_dump", "psql"), 1.2),
    Scenario("ferryman-pp", "ferryman copy", "pp"),
)
GROUPS = {
    "all": [s.name for s in SCENARIOS]
    + [s.name for s in DIFF_SCENARIOS]
    + [s.name for s in LIVE_SCENARIOS]
    + [s.name for s in SYNC_SCENARIOS]
    + ["serve"],
    "copy": [s.name for s in SCENARIOS],
    "ferryman": [s.name for s in SCENARIOS if s.is_ferryman],
    "peers": [s.name for s in SCENARIOS if not s.is_ferryman],
    **{key: [s.name for s in SCENARIOS if s.direction == key] for key in DIRECTIONS},
    **DIFF_GROUPS,  # diff: ferryman diff, pt-table-sync and reladiff on ~150 differences
    **LIVE_GROUPS,  # live: binlog-decode and the move-* scenarios; move: the move-* ones
    **SYNC_GROUPS,  # sync: ferryman sync into etcd, dump rate and streaming lag
}


@dataclass
class Result:
    name: str
    label: str
    direction: str
    status: str  # ok | failed | timeout | skipped
    detail: str = ""  # "exact", "MISMATCH (...)", "FAILED (exit N): ...", "SKIPPED (...)"
    exact: bool | None = None
    exit_code: int | None = None
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    log_mb: float | None = None
    check_s: float | None = None
    walls: list[float] = field(default_factory=list)


@dataclass
class Comparison:
    direction: str
    peer: str
    ferryman_s: float | None
    peer_s: float | None
    ratio: float | None
    target: float
    verdict: str  # PASS | FAIL | n/a


@dataclass
class Digest:
    """Row count and order-independent sum of 64-bit row hashes, modulo 2**64."""

    rows: int = 0
    hashsum: int = 0

    def add(self, canonical: str) -> None:
        digest = hashlib.blake2b(canonical.encode(), digest_size=8).digest()
        self.rows += 1
        self.hashsum = (self.hashsum + int.from_bytes(digest, "little")) & (2**64 - 1)


@dataclass
class Report:
    rows: int
    jobs: int
    repeat: int
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    rss: dict[str, Any] = field(default_factory=dict)
    diff_facts: dict[str, Any] = field(default_factory=dict)
    diff: list[DiffResult] = field(default_factory=list)
    diff_comparisons: list[DiffComparison] = field(default_factory=list)
    live: list[LiveResult] = field(default_factory=list)


def say(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# dataset


def _my_create_table(database: str) -> str:
    return f"""
CREATE TABLE `{database}`.`{TABLE}` (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INT NOT NULL,
  sku VARCHAR(16) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  note VARCHAR(200) NULL,
  created_at DATETIME(6) NOT NULL,
  attrs JSON NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"""


# Deterministic rows from the row number n alone (multiplicative hashing, no RNG): ~30% NULL
# notes mixing quotes, backslashes, tabs, newlines, CR, accents, CJK and emoji; ~50% NULL JSON
# objects with unicode, escapes, booleans, an array and a decimal; microsecond timestamps
# (every 11th has .000000); some negative amounts.
_MY_ROWS = r"""
INSERT INTO `{db}`.`orders` (id, customer_id, sku, amount, note, created_at, attrs)
SELECT n,
  1 + (n * 7919) % 250000,
  CONCAT('SKU-', LPAD(CONV((n * 2654435761) % 60466176, 10, 36), 5, '0'),
         IF(n % 7 = 0, '-XL', '')),
  ((n * 104729) % 9999999 - IF(n % 50 = 0, 5000000, 0)) / 100,
  IF((n * 40503) % 10 < 3, NULL,
     CONCAT(ELT(1 + (n * 31) % 9,
                'plain note', 'it''s "quoted"', 'back\\slash \\N', 'tab\there', 'new\nline\r\n',
                'café Zürich ñ', '日本語のメモ', 'emoji 🚀🎉', 'mixed ''\\\t\n🙂 €'),
            ' #', n, ' ', REPEAT('lorem ', (n * 13) % 4))),
  TIMESTAMP'2020-01-01 00:00:00' + INTERVAL ((n * 7777) % 126144000) SECOND
      + INTERVAL IF(n % 11 = 0, 0, (n * 7654321) % 1000000) MICROSECOND,
  IF((n * 2246822519) % 100 < 50, NULL,
     JSON_OBJECT('k', n % 1000, 'tag', ELT(1 + n % 5, 'α', 'niño', '東京', '🙂', 'q"\\'),
                 'ok', IF(n % 3 = 0, JSON_EXTRACT('true', '$'), JSON_EXTRACT('false', '$')),
                 'v', JSON_ARRAY(n % 7), 'p', CAST((n % 400) / 4 AS DECIMAL(6,2))))
FROM (SELECT CAST(seq AS SIGNED) AS n FROM `{db}`.seq_{lo}_to_{hi}) AS numbers"""

# PostgreSQL COPY text format written by the server: the escaping is done in the SELECT
# (ESCAPED BY '' keeps MariaDB from adding its own, which PostgreSQL does not read).
_PG_TEXT = (
    "IFNULL(REPLACE(REPLACE(REPLACE(REPLACE({col}, '\\\\', '\\\\\\\\'), '\\t', '\\\\t'), "
    "'\\n', '\\\\n'), '\\r', '\\\\r'), '\\\\N')"
)
_MY_EXPORT = (
    "SELECT id, customer_id, sku, amount, {note}, "
    "DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), {attrs} FROM `{db}`.`orders` "
    "INTO OUTFILE {path} CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY '\\t' ESCAPED BY '' LINES TERMINATED BY '\\n'"
)

_PG_CREATE = f"""
CREATE TABLE {TABLE} (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  customer_id integer NOT NULL,
  sku varchar(16) NOT NULL,
  amount numeric(12,2) NOT NULL,
  note varchar(200),
  created_at timestamp(6) NOT NULL,
  attrs jsonb
)"""


def my_exec(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        while cur.nextset():
            pass
        return rows
    finally:
        cur.close()


def generate_mariadb(conn: Any, database: str, rows: int) -> None:
    """(Re)create ``database``.orders on a MariaDB connection and fill it with the standard
    rows, server-side from the Sequence engine, without binlogging them."""
    my_exec(conn, "SET SESSION sql_log_bin = 0")  # the binlog starts clean for the copy
    my_exec(conn, f"DROP DATABASE IF EXISTS {database}")
    my_exec(conn, f"CREATE DATABASE {database}")
    my_exec(conn, _my_create_table(database))
    for lo in range(1, rows + 1, GEN_CHUNK):
        hi = min(rows, lo + GEN_CHUNK - 1)
        my_exec(conn, _MY_ROWS.format(db=database, lo=lo, hi=hi))
    my_exec(conn, f"ANALYZE TABLE {database}.{TABLE}")


def generate(my: MariaDBServer, pg: PostgresServer, rows: int) -> dict[str, Any]:
    """Create src.orders on MariaDB (server-side, from the Sequence engine) and copy the very
    same rows into PostgreSQL src.public.orders (SELECT ... INTO OUTFILE, then COPY)."""
    started = time.monotonic()
    conn = my.connect()
    try:
        generate_mariadb(conn, SRC_DB, rows)
        (data, index), *_ = my_exec(
            conn,
            "SELECT data_length, index_length FROM information_schema.TABLES "
            f"WHERE table_schema = '{SRC_DB}' AND table_name = '{TABLE}'",
        )
        my_s = time.monotonic() - started
        export = my.directory / "orders.copy"
        export.unlink(missing_ok=True)
        my_exec(
            conn,
            _MY_EXPORT.format(
                note=_PG_TEXT.format(col="note"),
                attrs=_PG_TEXT.format(col="attrs"),
                db=SRC_DB,
                path=conn.string_literal(str(export).encode()).decode(),
            ),
        )
    finally:
        conn.close()

    pg.execute(f"DROP DATABASE IF EXISTS {SRC_DB} WITH (FORCE)")
    pg.execute(f"CREATE DATABASE {SRC_DB}")
    try:
        with pg.connect(SRC_DB) as pconn, pconn.cursor() as cur:
            cur.execute(_PG_CREATE)
            with export.open("rb") as f, cur.copy(f"COPY {TABLE} FROM STDIN") as copy:
                while chunk := f.read(4 * MIB):
                    copy.write(chunk)
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {TABLE}))"
            )
            cur.execute(f"VACUUM (ANALYZE) {TABLE}")
            cur.execute(f"SELECT pg_total_relation_size('{TABLE}')")
            pg_bytes = int(cur.fetchone()[0])
    finally:
        export.unlink(missing_ok=True)
    return {
        "rows": rows,
        "mariadb_mb": round((int(data) + int(index)) / MIB, 1),
        "mariadb_data_mb": round(int(data) / MIB, 1),
        "postgres_mb": round(pg_bytes / MIB, 1),
        "generate_mariadb_s": round(my_s, 2),
        "generate_total_s": round(time.monotonic() - started, 2),
    }


# --------------------------------------------------------------------------------------------
# exactness: canonical row text, hashed client-side, on both engines

_MY_CANON = (
    "SELECT CAST(id AS CHAR), CAST(customer_id AS CHAR), sku, CAST(amount AS CHAR), note, "
    "DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), CAST(attrs AS CHAR) FROM `{db}`.`orders`"
)
_PG_CANON = (
    "SELECT id::text, customer_id::text, sku::text, amount::text, note::text, "
    "to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US'), attrs::text FROM orders"
)
_NULL = "\x00N"


def _canon_json(text: str) -> str:
    """JSON compared as a value: MariaDB keeps the text, jsonb reorders keys and spacing."""
    try:
        value = json.loads(text)
    except ValueError:
        return "!" + text
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _canon(row: Sequence[str | None]) -> tuple[str, ...]:
    *plain, attrs = row
    parts = [_NULL if v is None else v for v in plain]
    parts.append(_NULL if attrs is None else _canon_json(attrs))
    return tuple(parts)


@dataclass(frozen=True)
class Endpoint:
    """A table to read canonical rows from: database ``db`` on ``server``."""

    server: MariaDBServer | PostgresServer
    db: str

    def rows(self, ordered: bool = False) -> Generator[tuple[str, ...], None, None]:
        # orders.id: in PostgreSQL a bare "id" would be the output column id::text
        order = " ORDER BY orders.id" if ordered else ""
        if isinstance(self.server, MariaDBServer):
            import MySQLdb.cursors

            conn = self.server.connect()
            try:
                cur = conn.cursor(MySQLdb.cursors.SSCursor)
                cur.execute(_MY_CANON.format(db=self.db) + order)
                while batch := cur.fetchmany(FETCH):
                    for row in batch:
                        yield _canon(row)
                cur.close()
            finally:
                conn.close()
        else:
            with (
                self.server.connect(self.db) as conn,
                conn.transaction(),
                conn.cursor(name="bench_canon") as cur,
            ):
                cur.execute(_PG_CANON + order)
                while batch := cur.fetchmany(FETCH):
                    for row in batch:
                        yield _canon(row)

    def digest(self) -> Digest:
        d = Digest()
        for parts in self.rows():
            d.add("\x1f".join(parts))
        return d


def _show(value: str) -> str:
    text = "NULL" if value == _NULL else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def explain_mismatch(source: Endpoint, target: Endpoint, limit: int = 3) -> list[str]:
    """The first few differences, found by walking both tables in primary-key order."""
    found: list[str] = []
    src, tgt = source.rows(ordered=True), target.rows(ordered=True)
    a, b = next(src, None), next(tgt, None)
    while (a is not None or b is not None) and len(found) < limit:
        ka = int(a[0]) if a is not None else None
        kb = int(b[0]) if b is not None else None
        if b is None or (ka is not None and kb is not None and ka < kb):
            found.append(f"id {ka} missing")
            a = next(src, None)
        elif a is None or (ka is not None and kb is not None and kb < ka):
            found.append(f"id {kb} extra")
            b = next(tgt, None)
        else:
            cols = [
                f"{name} {_show(x)} ≠ {_show(y)}"
                for name, x, y in zip(COLUMNS, a, b, strict=True)
                if x != y
            ]
            if cols:
                found.append(f"id {ka}: " + ", ".join(cols))
            a, b = next(src, None), next(tgt, None)
    for it in (src, tgt):
        it.close()
    return found


def check_exact(source: Endpoint, expected: Digest, target: Endpoint) -> tuple[bool, str]:
    try:
        got = target.digest()
    except Exception as exc:  # a missing table, a wrong column: report, never crash
        return False, f"MISMATCH (cannot read target: {_one_line(str(exc))})"
    if got == expected:
        return True, "exact"
    detail = [f"rows {got.rows:,} vs {expected.rows:,}"] if got.rows != expected.rows else []
    try:
        detail += explain_mismatch(source, target)
    except Exception as exc:
        detail.append(f"diff failed: {_one_line(str(exc))}")
    return False, "MISMATCH (" + "; ".join(detail or ["hash differs"]) + ")"


# --------------------------------------------------------------------------------------------
# running a tool and measuring it


@dataclass
class Outcome:
    exit_code: int
    wall_s: float
    peak_rss_mb: float
    timed_out: bool


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def run_measured(
    argv: Sequence[str], env: dict[str, str], logs: Path, name: str, timeout: float
) -> Outcome:
    """Run ``argv`` in its own process group; wall time from spawn to exit, peak RSS sampled
    every POLL_S seconds (see MemoryProbe)."""
    with (logs / f"{name}.out").open("wb") as out, (logs / f"{name}.err").open("wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    finished = threading.Event()
    waited: dict[str, Any] = {}

    def wait() -> None:
        _, status = os.waitpid(proc.pid, 0)
        waited.update(end=time.monotonic(), status=status)
        finished.set()

    threading.Thread(target=wait, name=f"wait-{name}", daemon=True).start()
    probe = MemoryProbe(proc.pid)
    timed_out, killed_at = False, 0.0
    try:
        while not finished.wait(POLL_S):
            probe.sample()
            now = time.monotonic()
            if not timed_out and now - started > timeout:
                timed_out, killed_at = True, now
                _killpg(proc.pid, signal.SIGTERM)
            elif timed_out and now - killed_at > 10:
                _killpg(proc.pid, signal.SIGKILL)
    except BaseException:
        _killpg(proc.pid, signal.SIGKILL)
        finished.wait(15)
        raise
    code = os.waitstatus_to_exitcode(waited["status"])
    proc.returncode = code  # reaped by waitpid; keep Popen from waiting again
    return Outcome(code, waited["end"] - started, probe.peak_mb, timed_out)


def _one_line(text: str, width: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _last_line(*paths: Path) -> str:
    """The last unindented line of the first file with output (indented lines are usually
    hints under the actual error), else its last line."""
    for path in paths:
        with contextlib.suppress(OSError):
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                flush = [ln for ln in lines if not ln[0].isspace()]
                return _one_line((flush or lines)[-1])
    return "(no output)"


# --------------------------------------------------------------------------------------------
# the bench


class Bench:
    def __init__(
        self,
        my_src: MariaDBServer,
        my_tgt: MariaDBServer,
        pg: PostgresServer,
        workdir: Path,
        args: argparse.Namespace,
    ) -> None:
        self.my_src, self.my_tgt, self.pg = my_src, my_tgt, pg
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.rows: int = args.rows
        self.jobs: int = args.jobs
        self.timeout: float = args.timeout
        self.repeat: int = args.repeat
        self.digests: dict[str, Digest] = {}
        exe = Path(sys.executable).with_name("ferryman")
        self.ferryman = [str(exe)] if exe.exists() else [sys.executable, "-m", "ferryman"]

    # endpoints ----------------------------------------------------------------------------

    def source(self, direction: str) -> Endpoint:
        if direction == "pp":
            return Endpoint(self.pg, SRC_DB)
        return Endpoint(self.my_src, SRC_DB)

    def target(self, direction: str) -> Endpoint:
        if direction == "mm":
            return Endpoint(self.my_tgt, TGT_DB)
        return Endpoint(self.pg, TGT_DB)

    def source_digests(self) -> None:
        for key, server in (("mariadb", self.my_src), ("postgres", self.pg)):
            endpoint = Endpoint(server, SRC_DB)
            started = time.monotonic()
            self.digests[key] = endpoint.digest()
            say(f"  checksum of {key} src.{TABLE}: {time.monotonic() - started:.1f} s")

    def expected(self, direction: str) -> Digest:
        return self.digests["postgres" if direction == "pp" else "mariadb"]

    # per-scenario preparation ---------------------------------------------------------------

    def reset_target(self, direction: str) -> None:
        if direction == "mm":
            conn = self.my_tgt.connect()
            try:
                my_exec(conn, f"DROP DATABASE IF EXISTS {TGT_DB}")
                my_exec(conn, f"CREATE DATABASE {TGT_DB}")
                my_exec(conn, "RESET MASTER")
            finally:
                conn.close()
        else:
            self.pg.execute(f"DROP DATABASE IF EXISTS {TGT_DB} WITH (FORCE)")
            self.pg.execute(f"CREATE DATABASE {TGT_DB}")
            self.pg.execute("CHECKPOINT")

    def warm_up(self, direction: str) -> None:
        """Read the whole source table once so every tool starts from a warm cache."""
        if direction == "pp":
            self.pg.execute(
                f"SELECT count(*), sum(length(note)), sum(length(attrs::text)) FROM {TABLE}",
                SRC_DB,
            )
        else:
            self.my_src.execute(
                f"SELECT COUNT(*), SUM(LENGTH(note)), SUM(LENGTH(attrs)) FROM {SRC_DB}.{TABLE}"
            )

    def log_position(self, direction: str) -> int:
        """Bytes of binlog (MariaDB target) or WAL position (PostgreSQL)."""
        if direction == "mm":
            return sum(int(r[1]) for r in self.my_tgt.execute("SHOW BINARY LOGS"))
        ((lsn,),) = self.pg.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(lsn)

    # commands ---------------------------------------------------------------------------

    def _env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PG", "MYSQL", "MARIADB")) and k != "LD_PRELOAD"
        }
        env.update(extra)
        return env

    def _my_opts(self, server: MariaDBServer) -> str:
        return f"--host={server.host} --port={server.port} --user={shlex.quote(server.admin_user)}"

    def _pg_opts(self) -> str:
        pg = self.pg
        return f"-h {pg.host} -p {pg.port} -U {shlex.quote(pg.admin_user)}"

    def command(self, scenario: Scenario) -> tuple[list[str], dict[str, str]]:
        my_src, my_tgt, pg = self.my_src, self.my_tgt, self.pg
        mysql_pwds = {"SRC_PWD": my_src.admin_password, "TGT_PWD": my_tgt.admin_password}
        if scenario.name == "mariadb-dump":
            script = (
                f'MYSQL_PWD="$SRC_PWD" mariadb-dump --no-defaults {self._my_opts(my_src)} '
                f"--single-transaction --quick --skip-lock-tables {SRC_DB} {TABLE} "
                f'| MYSQL_PWD="$TGT_PWD" mariadb --no-defaults {self._my_opts(my_tgt)} {TGT_DB}'
            )
            return ["bash", "-o", "pipefail", "-c", script], self._env(**mysql_pwds)
        if scenario.name == "mydumper":
            dump = self.workdir / "mydumper"
            shutil.rmtree(dump, ignore_errors=True)
            chunk = max(10_000, self.rows // 10)  # chunks let both threads work on one table
            script = (
                f'MYSQL_PWD="$SRC_PWD" mydumper {self._my_opts(my_src)} --database {SRC_DB} '
                f"--tables-list {TABLE} --threads 2 --rows {chunk} --trx-consistency-only "
                f"--outputdir {shlex.quote(str(dump))} "
                f'&& MYSQL_PWD="$TGT_PWD" myloader {self._my_opts(my_tgt)} '
                f"--directory {shlex.quote(str(dump))} --source-db {SRC_DB} "
                f"--database {TGT_DB} --threads 2 --enable-binlog"
            )
            return ["bash", "-o", "pipefail", "-c", script], self._env(**mysql_pwds)
        if scenario.name == "pgloader":
            return self._pgloader(), self._env()
        if scenario.name == "pg_dump":
            script = (
                f"pg_dump {self._pg_opts()} -t {TABLE} {SRC_DB} "
                f"| psql -X -q -v ON_ERROR_STOP=1 {self._pg_opts()} -d {TGT_DB} >/dev/null"
            )
            return ["bash", "-o", "pipefail", "-c", script], self._env(PGPASSWORD=pg.admin_password)
        source_url = pg.url(SRC_DB) if scenario.direction == "pp" else my_src.url(SRC_DB)
        # MariaDB → PostgreSQL would land in schema "src" (the source database's name, as
        # with pgloader); ?schema=public matches pgloader's ALTER SCHEMA 'src' RENAME TO 'public'.
        target_url = my_tgt.url(TGT_DB) if scenario.direction == "mm" else pg.url(TGT_DB)
        if scenario.direction == "mp":
            target_url += "?schema=public"
        argv = [*self.ferryman, "copy", source_url, target_url, "--tables", TABLE]
        return [*argv, "--jobs", str(self.jobs)], self._env()

    def _pgloader(self) -> list[str]:
        """A load command for the same table shape as the PostgreSQL source (pgloader's
        defaults would make customer_id bigint, attrs text and created_at nullable)."""
        root = self.workdir / "pgloader"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        command = root / "orders.load"
        command.touch(mode=0o600)
        command.write_text(
            f"LOAD DATABASE\n"
            f"  FROM {self.my_src.url(SRC_DB)}\n"
            f"  INTO {self.pg.url(TGT_DB)}\n"
            f"WITH include drop, create tables, create indexes, reset sequences\n"
            f"CAST type datetime to timestamp drop default keep not null,\n"
            f"     type int to integer drop typemod,\n"
            f"     column {TABLE}.attrs to jsonb\n"
            f"INCLUDING ONLY TABLE NAMES MATCHING '{TABLE}'\n"
            f"ALTER SCHEMA '{SRC_DB}' RENAME TO 'public'\n;\n"
        )
        return [
            "pgloader",
            "--root-dir",
            str(root),
            "--logfile",
            str(self.logs / "pgloader.log"),
            str(command),
        ]

    def cleanup_scenario(self, scenario: Scenario) -> None:
        for name in ("mydumper", "pgloader"):
            if scenario.name == name:
                shutil.rmtree(self.workdir / name, ignore_errors=True)

    # one scenario -------------------------------------------------------------------------

    def run(self, scenario: Scenario) -> Result:
        """Run ``scenario`` ``repeat`` times, each on a freshly reset target, checking every
        copy; the reported wall time is the median, the peak RSS the largest."""
        result = Result(scenario.name, scenario.label, scenario.direction, status="skipped")
        missing = [p for p in scenario.programs if shutil.which(p) is None]
        if missing:
            result.detail = f"SKIPPED ({', '.join(missing)} not installed; run bench/setup.sh)"
            return result
        for attempt in range(1, self.repeat + 1):
            outcome, log_mb = self._once(scenario)
            result.exit_code = outcome.exit_code
            result.walls.append(round(outcome.wall_s, 3))
            result.wall_s = round(statistics.median(result.walls), 3)
            result.peak_rss_mb = round(max(result.peak_rss_mb or 0.0, outcome.peak_rss_mb), 1)
            result.log_mb = log_mb
            if outcome.timed_out:
                result.status = "timeout"
                result.detail = f"FAILED (timeout after {self.timeout:.0f} s)"
                return result
            if outcome.exit_code != 0:
                result.status = "failed"
                last = _last_line(
                    self.logs / f"{scenario.name}.err", self.logs / f"{scenario.name}.out"
                )
                result.detail = f"FAILED (exit {outcome.exit_code}): {last}"
                return result
            result.status = "ok"
            started = time.monotonic()
            result.exact, result.detail = check_exact(
                self.source(scenario.direction),
                self.expected(scenario.direction),
                self.target(scenario.direction),
            )
            result.check_s = round(time.monotonic() - started, 2)
            if self.repeat > 1:
                say(f"  run {attempt}: {outcome.wall_s:.2f} s, {result.detail}")
            if not result.exact:
                break
        return result

    def _once(self, scenario: Scenario) -> tuple[Outcome, float | None]:
        self.reset_target(scenario.direction)
        os.sync()  # no writeback of an earlier run's files during this one
        self.warm_up(scenario.direction)
        log_before = self.log_position(scenario.direction)
        argv, env = self.command(scenario)
        try:
            outcome = run_measured(argv, env, self.logs, scenario.name, self.timeout)
        finally:
            self.cleanup_scenario(scenario)
        log_mb = None
        with contextlib.suppress(Exception):
            log_mb = round((self.log_position(scenario.direction) - log_before) / MIB, 1)
        return outcome, log_mb


# --------------------------------------------------------------------------------------------
# facts, comparison, output


def _first_lines(argv: Sequence[str], lines: int = 1) -> str:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        return "not installed"
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (done.stdout + done.stderr).strip().splitlines()
    return "; ".join(line.strip() for line in text[:lines]) or f"unknown (exit {done.returncode})"


def machine_facts() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = next(int(ln.split()[1]) for ln in meminfo.splitlines() if ln.startswith("MemTotal"))
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name"))
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "memory_gib": f"{total_kb / 1024 / 1024:.1f}",
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def tool_versions(bench: Bench) -> dict[str, str]:
    ((my_version,),) = bench.my_src.execute("SELECT VERSION()")
    ((pg_version,),) = bench.pg.execute("SHOW server_version")
    return {
        "mariadb server": str(my_version),
        "postgresql server": str(pg_version),
        "ferryman": _first_lines([*bench.ferryman, "--version"]),
        "mariadb-dump": _first_lines(["mariadb-dump", "--version"]),
        "mariadb": _first_lines(["mariadb", "--version"]),
        "mydumper": _first_lines(["mydumper", "--version"]),
        "myloader": _first_lines(["myloader", "--version"]),
        "pgloader": _first_lines(["pgloader", "--version"], lines=2),
        "pg_dump": _first_lines(["pg_dump", "--version"]),
        "psql": _first_lines(["psql", "--version"]),
    }


def compare(results: Sequence[Result]) -> list[Comparison]:
    by_name = {r.name: r for r in results}
    rows = []
    for scenario in SCENARIOS:
        if scenario.target_ratio is None or scenario.name not in by_name:
            continue
        ferry = by_name.get(f"ferryman-{scenario.direction}")
        if ferry is None:
            continue
        peer = by_name[scenario.name]
        ferry_s = ferry.wall_s if ferry.exact else None
        peer_s = peer.wall_s if peer.exact else None
        ratio = ferry_s / peer_s if ferry_s is not None and peer_s else None
        if ratio is not None:
            verdict = "PASS" if ratio <= scenario.target_ratio else "FAIL"
        else:
            verdict = "FAIL" if peer_s is not None else "n/a"
        rows.append(
            Comparison(
                direction=scenario.direction,
                peer=scenario.label,
                ferryman_s=ferry_s,
                peer_s=peer_s,
                ratio=round(ratio, 3) if ratio is not None else None,
                target=scenario.target_ratio,
                verdict=verdict,
            )
        )
    return rows


def rss_check(results: Sequence[Result], rows: int, baseline: Path | None) -> dict[str, Any]:
    ferry = [r for r in results if r.name.startswith("ferryman") and r.peak_rss_mb is not None]
    ran = [r for r in ferry if r.status == "ok"]
    peak = max((r.peak_rss_mb or 0.0 for r in ran), default=None)
    check: dict[str, Any] = {
        "limit_mb": RSS_LIMIT_MB,
        "peak_mb": peak,
        "verdict": "n/a" if peak is None else ("PASS" if peak <= RSS_LIMIT_MB else "FAIL"),
    }
    if baseline is not None:
        base = json.loads(baseline.read_text())
        before = {r["name"]: r for r in base.get("results", [])}
        per: dict[str, Any] = {}
        for r in ran:
            old = before.get(r.name, {})
            if old.get("status") == "ok" and old.get("peak_rss_mb") and r.peak_rss_mb:
                change = r.peak_rss_mb / old["peak_rss_mb"] - 1
                per[r.name] = {
                    "baseline_rows": base.get("rows"),
                    "baseline_mb": old["peak_rss_mb"],
                    "mb": r.peak_rss_mb,
                    "change": round(change, 3),
                    "verdict": "PASS" if abs(change) <= RSS_TOLERANCE else "FAIL",
                }
        check["baseline"] = {"file": str(baseline), "rows": rows, "scenarios": per}
    return check


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [headers, ["-" * w for w in widths[:-1]] + ["-" * len(headers[-1])], *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(report: Report) -> None:
    say()
    times = "once" if report.repeat == 1 else f"{report.repeat} times (median wall time)"
    say(
        f"=== ferryman bench: {report.rows:,} rows, ferryman --jobs {report.jobs}, "
        f"each scenario run {times} ==="
    )
    m = report.machine
    say(
        f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}"
    )
    for tool, version in report.versions.items():
        say(f"  {tool}: {version}")
    d = report.dataset
    if d:
        say(
            f"dataset: {d['rows']:,} rows; MariaDB {d['mariadb_mb']} MB (data+index), "
            f"PostgreSQL {d['postgres_mb']} MB (pg_total_relation_size); "
            f"generated in {d['generate_total_s']} s; sources identical: {d['sources_identical']}"
        )
    if report.results:
        print_copies(report)
    if report.diff:
        say()
        for line in diff_report_lines(report.diff, report.diff_comparisons, report.diff_facts):
            say(line)
    if report.live:
        say()
        headers, rows = live_rows(report.live)
        say(_table(headers, rows))
        costs = pair_costs(report.live)
        if costs:
            say()
            say("costs (paired runs, alternating off/on; medians):")
            for line in costs:
                say(f"  {line}")
        peaks = [r.peak_rss_mb for r in report.live if r.peak_rss_mb is not None]
        if peaks:
            say()
            say(
                f"ferryman move peak RSS: {max(peaks):.1f} MB (target ≤ {RSS_LIMIT_MB:.0f} MB): "
                f"{'PASS' if max(peaks) <= RSS_LIMIT_MB else 'FAIL'}"
            )


def print_copies(report: Report) -> None:
    say()
    runs = [
        [
            r.label + (f" --jobs {report.jobs}" if r.name.startswith("ferryman") else ""),
            DIRECTIONS[r.direction],
            _num(r.wall_s),
            _num(r.peak_rss_mb, 1),
            _num(r.log_mb, 1),
            r.detail,
        ]
        for r in report.results
    ]
    say(_table(["scenario", "direction", "wall s", "peak RSS MB", "log MB", "copy"], runs))
    if report.comparisons:
        say()
        rows = [
            [
                DIRECTIONS[c.direction],
                c.peer,
                _num(c.ferryman_s),
                _num(c.peer_s),
                _num(c.ratio),
                f"≤ {c.target:.1f}",
                c.verdict,
            ]
            for c in report.comparisons
        ]
        headers = ["direction", "peer", "ferryman s", "peer s", "ratio", "target", "result"]
        say(_table(headers, rows))
    rss = report.rss
    say()
    say(
        f"ferryman peak RSS: {_num(rss['peak_mb'], 1)} MB (target ≤ {RSS_LIMIT_MB:.0f} MB): "
        f"{rss['verdict']}"
    )
    for name, entry in rss.get("baseline", {}).get("scenarios", {}).items():
        say(
            f"  {name}: {entry['mb']} MB vs {entry['baseline_mb']} MB at "
            f"{entry['baseline_rows']:,} rows ({entry['change']:+.0%}, target ±20%): "
            f"{entry['verdict']}"
        )


# --------------------------------------------------------------------------------------------
# main


def _env_default(name: str, default: str) -> str:
    return os.environ.get(name, default) or default


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time ferryman copy against mariadb-dump, mydumper, pgloader and pg_dump, "
        "ferryman diff against pt-table-sync and reladiff, and ferryman move.",
        epilog="Defaults come from BENCH_ROWS, BENCH_JOBS, BENCH_ONLY, BENCH_KEEP, BENCH_JSON, "
        "BENCH_TIMEOUT, BENCH_REPEAT, BENCH_CHANGES, BENCH_LAG_SECONDS, BENCH_DECODE_ROWS. "
        f"Names for --only: {', '.join(GROUPS['all'])}; groups: "
        f"{', '.join(k for k in GROUPS if k != 'all')}, all.",
    )
    parser.add_argument("--rows", type=int, default=int(_env_default("BENCH_ROWS", "1000000")))
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(_env_default("BENCH_JOBS", "2")),
        help="ferryman copy --jobs (default 2)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[v for v in [os.environ.get("BENCH_ONLY")] if v],
        metavar="NAMES",
        help="comma-separated scenarios or groups to run (repeatable; default all)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        default=_env_default("BENCH_KEEP", "") not in ("", "0", "no", "false"),
        help="keep the servers running at the end until Enter/Ctrl-C; keep the logs",
    )
    parser.add_argument("--json", type=Path, default=os.environ.get("BENCH_JSON") or None)
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(_env_default("BENCH_TIMEOUT", "1800")),
        help="seconds before a tool is killed (default 1800)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(_env_default("BENCH_REPEAT", "1")),
        help="runs per scenario, each on a reset target; the median wall time is reported",
    )
    parser.add_argument(
        "--pair-repeat",
        type=int,
        default=int(_env_default("BENCH_PAIR_REPEAT", "5")),
        help="runs of each -off/-on cost pair (guard-*, serve-apply-*), alternating; medians",
    )
    parser.add_argument(
        "--changes",
        type=int,
        default=int(_env_default("BENCH_CHANGES", "200000")),
        help="row changes of the move-apply burst (default 200000)",
    )
    parser.add_argument(
        "--lag-seconds",
        type=float,
        default=float(_env_default("BENCH_LAG_SECONDS", "30")),
        help="duration of the move-lag write load (default 30)",
    )
    parser.add_argument(
        "--decode-rows",
        type=int,
        default=int(_env_default("BENCH_DECODE_ROWS", "200000")),
        help="row updates in the binlog-decode binlog (default 200000)",
    )
    parser.add_argument(
        "--bulk-rows",
        type=int,
        default=int(_env_default("BENCH_BULK_ROWS", "2000000")),
        help="row changes of the bulk-txn source transaction (default 2000000)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="--json file of an earlier run (e.g. another --rows) to compare ferryman's RSS with",
    )
    args = parser.parse_args(argv)
    if min(args.rows, args.jobs, args.repeat) < 1:
        parser.error("--rows, --jobs and --repeat must be at least 1")
    selected: set[str] = set()
    for value in args.only or ["all"]:
        for name in filter(None, (v.strip() for v in value.split(","))):
            if name in GROUPS:
                selected.update(GROUPS[name])
            elif name in GROUPS["all"]:
                selected.add(name)
            else:
                parser.error(f"unknown scenario {name!r} (see --help)")
    args.scenarios = [s for s in SCENARIOS if s.name in selected]
    args.diff = [s for s in DIFF_SCENARIOS if s.name in selected]
    args.live = [s for s in LIVE_SCENARIOS if s.name in selected]
    args.sync = [s for s in SYNC_SCENARIOS if s.name in selected]
    args.serve = "serve" in selected  # bench/serve.py: its own MariaDB and store
    if args.serve:  # and the idle server's cost to a move's apply rate
        args.live += [s for s in LIVE_SCENARIOS if s.name in LIVE_GROUPS["serve-cost"]]
    args.live = paired_order(list(dict.fromkeys(args.live)), args.pair_repeat)
    return args


def keep_servers(servers: Sequence[MariaDBServer | PostgresServer], workdir: Path) -> None:
    """Keep the servers up until Enter, Ctrl-C or SIGTERM. (They cannot outlive us: the next
    start of throwaway servers anywhere on the machine removes servers whose owner exited.)"""
    info = workdir / "servers.txt"
    info.touch(mode=0o600)
    roles = ("mariadb source", "mariadb target", "postgresql", "postgresql target")
    lines = []
    for role, server in zip(roles[: len(servers)], servers, strict=True):
        db = TGT_DB if role.endswith(" target") else SRC_DB
        lines.append(f"{role}: {server.url(db)}  (dir {server.directory})")
    info.write_text("\n".join(lines) + "\n")
    say(f"\nservers kept running; their URLs (with passwords) are in {info} (mode 0600)")

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        if sys.stdin.isatty():
            say("press Enter or Ctrl-C to stop them")
            input()
        else:
            say("send SIGINT or SIGTERM to stop them")
            threading.Event().wait()
    except (KeyboardInterrupt, EOFError):
        pass


def run_diff(
    bench: Bench, args: argparse.Namespace, done: int, total: int
) -> tuple[list[DiffResult], dict[str, Any]]:
    """The diff scenarios (bench/diff.py) on the generated dataset: B prepared once."""
    diff = DiffBench(
        bench.my_src,
        bench.my_tgt,
        bench.pg,
        bench.workdir,
        bench.ferryman,
        rows=args.rows,
        timeout=args.timeout,
        repeat=args.repeat,
        runner=run_measured,
        generate=generate_mariadb,
        canonical_rows=lambda server, db: Endpoint(server, db).rows(ordered=True),
        last_line=_last_line,
        say=say,
    )
    facts: dict[str, Any] = {}
    say("preparing B for the diff scenarios (a copy of A with differences, on both engines)")
    try:
        facts = diff.prepare()
        say(f"  {facts['prepare_s']} s; B's differences confirmed in {facts['check_s']} s")
    except Exception as exc:  # every diff scenario then reports it
        diff.error = _one_line(str(exc))
        say(f"  FAILED: {diff.error}")
    results = []
    for i, scenario in enumerate(args.diff, done + 1):
        say(f"[{i}/{total}] {scenario.label} ({scenario.name}, {DIFF_PAIRS[scenario.pair]})")
        result = diff.run(scenario)
        results.append(result)
        say(f"  {_num(result.wall_s)} s, {_num(result.peak_rss_mb, 1)} MB: {result.detail}")
    return results, facts


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-bench-"))
    report = Report(args.rows, args.jobs, args.repeat, machine=machine_facts())
    say(f"ferryman bench: {args.rows:,} rows; work directory {workdir}")
    # the live PostgreSQL → PostgreSQL scenarios move to a second PostgreSQL server
    two_pg = any(s.direction == "pp" for s in args.live)
    say(f"starting servers (2 × MariaDB, {2 if two_pg else 1} × PostgreSQL)")
    servers: list[MariaDBServer | PostgresServer] = []
    try:
        my_src = start_mariadb(server_id=201, extra_args=MARIADB_ARGS)
        servers.append(my_src)
        my_tgt = start_mariadb(server_id=202, extra_args=MARIADB_ARGS)
        servers.append(my_tgt)
        pg = start_postgres(extra_conf=POSTGRES_CONF)
        servers.append(pg)
        pg_target = start_postgres(extra_conf=POSTGRES_CONF) if two_pg else None
        if pg_target is not None:
            servers.append(pg_target)
        bench = Bench(my_src, my_tgt, pg, workdir, args)
        report.versions = tool_versions(bench)
        if args.diff:
            report.versions.update(diff_versions())
        if args.scenarios or args.diff or any(s.name == "sync-dump" for s in args.sync):
            # the dataset of the copy, diff and sync-dump scenarios
            say(f"generating {args.rows:,} rows")
            report.dataset = generate(my_src, pg, args.rows)
            say(
                f"  MariaDB {report.dataset['mariadb_mb']} MB in "
                f"{report.dataset['generate_mariadb_s']} s; PostgreSQL "
                f"{report.dataset['postgres_mb']} MB; total {report.dataset['generate_total_s']} s"
            )
            bench.source_digests()
            identical = bench.digests["mariadb"] == bench.digests["postgres"]
            report.dataset["sources_identical"] = "yes" if identical else "NO"
        total = len(args.scenarios) + len(args.diff) + len(args.live) + len(args.sync)
        for i, scenario in enumerate(args.scenarios, 1):
            direction = DIRECTIONS[scenario.direction]
            say(f"[{i}/{total}] {scenario.label} ({direction})")
            result = bench.run(scenario)
            report.results.append(result)
            say(f"  {_num(result.wall_s)} s, {_num(result.peak_rss_mb, 1)} MB: {result.detail}")
        if args.diff:
            report.diff, report.diff_facts = run_diff(bench, args, len(args.scenarios), total)
            report.diff_comparisons = diff_compare(report.diff)
        live = LiveBench(
            my_src,
            my_tgt,
            pg,
            workdir,
            bench.ferryman,
            pg_target=pg_target,
            changes=args.changes,
            lag_seconds=args.lag_seconds,
            decode_rows=args.decode_rows,
            decode_repeat=max(3, args.repeat),
            bulk_rows=args.bulk_rows,
        )
        for i, live_scenario in enumerate(args.live, len(args.scenarios) + len(args.diff) + 1):
            say(f"[{i}/{total}] {live_scenario.label} ({live_scenario.name})")
            live_result = live.run(live_scenario)
            report.live.append(live_result)
            say(f"  {live_result.figure or '-'} ({live_result.verdict}): {live_result.detail}")
        sync = SyncBench(
            my_src,
            workdir,
            bench.ferryman,
            rows=args.rows,
            src_db=SRC_DB,
            lag_seconds=args.lag_seconds,
        )
        first = len(args.scenarios) + len(args.diff) + len(args.live) + 1
        for i, sync_scenario in enumerate(args.sync, first):
            say(f"[{i}/{total}] {sync_scenario.label} ({sync_scenario.name})")
            sync_result = sync.run(sync_scenario)
            report.live.append(sync_result)
            say(f"  {sync_result.figure or '-'} ({sync_result.verdict}): {sync_result.detail}")
        if args.serve:
            say("ferryman serve: answer times with 50 moves, idle cost (bench/serve.py)")
            serve_main([])
        report.comparisons = compare(report.results)
        report.rss = rss_check(report.results, args.rows, args.baseline)
        print_report(report)
        if args.json is not None:
            args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
            say(f"\nresults written to {args.json}")
        if args.keep:
            keep_servers(servers, workdir)
    finally:
        for server in servers:
            server.stop()
    troubled = (
        any(r.status != "ok" or r.exact is False for r in report.results)
        or any(r.status not in ("ok", "skipped") or r.exact is False for r in report.diff)
        or any(r.status == "failed" for r in report.live)
    )
    if args.keep or troubled:
        say(f"logs: {workdir / 'logs'}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
