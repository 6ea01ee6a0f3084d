"""``ferryman sync`` figures for ``make bench``: dump rate into etcd and streaming lag.

Both run ``ferryman sync SRC_URL etcd://HOST:PORT/PREFIX --name NAME --tables orders`` as a
subprocess (as a user runs it; its peak RSS sampled from /proc like every tool of bench/run.py),
into a fresh single-member etcd (ferryman.testing.servers.start_etcd), and read its state with
``ferryman move status NAME --json`` (``phase``, ``lag_seconds``, ``events_applied``).

* ``sync-dump``: the initial dump of the benchmark table (``src.orders`` on the MariaDB source,
  ``--rows`` rows, 1,000,000 by default) into etcd. The time runs from the start of the process
  until every row's key is in etcd (a count-only range read of ``/PREFIX/orders/`` every
  0.2 s), and the status then says ``replicating``. Reported: keys/s (target ≥ 15,000) and
  peak RSS; the key count must equal the row count.
* ``sync-lag``: a fresh ``sync_src.orders`` (1,000 rows) is synced; once ``replicating``, a
  writer commits 100 transactions/s of 20 rows each (10 inserts, 10 updates: 2,000 row
  changes/s) for ``--lag-seconds``, every row with a new ``seq`` and the client's
  ``time.time()`` (``wrote_at``). An etcd watch on the prefix sees every put as it happens; a
  row's lag = the watch event's arrival − ``wrote_at`` from the JSON value. Reported: p50 / p99
  / max (target p99 ≤ 1 s); at the end every row's ``seq`` in etcd equals the source's.

The command comes with issue 15; until it exists, both scenarios fail with that message.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from move import BASE_ROWS, LiveResult, LiveScenario, Side, _pct, _write_steadily
from procmem import MemoryProbe

from ferryman.testing.servers import EtcdServer, MariaDBServer, start_etcd

DUMP_TARGET = 15_000.0  # keys/s, at least
LAG_P99_TARGET = 1.0  # seconds, at most
PHASE_TIMEOUT = 600.0
SAMPLE_S = 0.05
SYNC_SRC_DB = "sync_src"

SYNC_SCENARIOS = (
    LiveScenario("sync-dump", "ferryman sync: initial dump into etcd", "me"),
    LiveScenario("sync-lag", "ferryman sync: lag at 2,000 rows/s into etcd", "me"),
)
SYNC_GROUPS = {"sync": [s.name for s in SYNC_SCENARIOS]}


def say(message: str = "") -> None:
    print(message, flush=True)


class SyncMissing(RuntimeError):
    """This ferryman has no ``sync`` command."""


class SyncRunner:
    """One ``ferryman sync`` process and its status, with a private state file and log."""

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
            if not k.startswith(("PG", "MYSQL", "MARIADB", "ETCD")) and k != "LD_PRELOAD"
        }
        self.env.update(FERRYMAN_STATE=str(self.state), COLUMNS="200")
        self.proc: subprocess.Popen[bytes] | None = None
        self.probe: MemoryProbe | None = None
        self._done = threading.Event()
        self._sampler: threading.Thread | None = None

    def check_available(self) -> None:
        """Fail clearly when this ferryman has no ``sync`` command."""
        done = subprocess.run(
            [*self.ferryman, "sync", "--help"],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            said = " ".join((done.stderr or done.stdout).split())[:160]
            raise SyncMissing(
                f"`ferryman sync` is not available in this build (exit {done.returncode}: "
                f"{said}); it comes with issue 15"
            )

    def start(self, source_url: str, target_url: str, *extra: str) -> None:
        argv = [*self.ferryman, "sync", source_url, target_url, "--name", self.name, *extra]
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
        self._sampler = threading.Thread(target=self._sample, name="rss", daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        assert self.probe is not None
        while not self._done.wait(SAMPLE_S):
            self.probe.sample()

    def status(self) -> dict[str, Any]:
        """``ferryman move status NAME --json``, as a script reads it."""
        done = subprocess.run(
            [*self.ferryman, "move", "status", self.name, "--json"],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"move status exited {done.returncode}: {done.stderr.strip()}")
        return dict(json.loads(done.stdout))

    def alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"ferryman sync exited ({self.proc.returncode}): {self.last_error()}"
            )

    def wait_phase(self, phase: str, timeout: float = PHASE_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self.alive()
            with contextlib.suppress(RuntimeError, ValueError):
                last = self.status()
                if last.get("phase") == phase:
                    return last
                if last.get("phase") in ("failed", "paused", "halted"):
                    raise RuntimeError(f"sync {last['phase']}: {last.get('error')}")
            time.sleep(0.5)
        raise RuntimeError(f"no phase {phase!r} after {timeout:.0f} s (last {last.get('phase')})")

    def stop(self) -> int | None:
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
            if lines:
                return " ".join(lines[-1].split())[:160]
        return "(no output)"


def _count(etcd: Any, prefix: str) -> int:
    """Keys under ``prefix`` (a count-only range read)."""
    import base64

    start = prefix.encode()
    end = start[:-1] + bytes([start[-1] + 1])
    body = {
        "key": base64.b64encode(start).decode(),
        "range_end": base64.b64encode(end).decode(),
        "count_only": True,
    }
    reply = etcd.post(etcd.get_url("/kv/range"), json=body)
    return int(reply.get("count", 0))


class SyncBench:
    def __init__(
        self,
        my_src: MariaDBServer,
        workdir: Path,
        ferryman: Sequence[str],
        *,
        rows: int,
        src_db: str,
        lag_seconds: float,
    ) -> None:
        self.my_src = my_src
        self.workdir = workdir
        self.ferryman = list(ferryman)
        self.rows = rows
        self.src_db = src_db
        self.lag_seconds = lag_seconds

    def run(self, scenario: LiveScenario) -> LiveResult:
        result = LiveResult(scenario.name, scenario.label, scenario.direction)
        etcd: EtcdServer | None = None
        runner = SyncRunner(self.ferryman, self.workdir, scenario.name)
        try:
            runner.check_available()
            etcd = start_etcd()
            if scenario.name == "sync-dump":
                self._dump(etcd, runner, result)
            else:
                self._lag(etcd, runner, result)
        except Exception as exc:
            result.status = "failed"
            result.verdict = "FAIL"
            result.detail = f"FAILED: {' '.join(str(exc).split())[:220]}"
        finally:
            runner.stop()
            result.peak_rss_mb = runner.peak_rss_mb
            if etcd is not None:
                etcd.stop()
        return result

    # dump -----------------------------------------------------------------------------------

    def _dump(self, etcd: EtcdServer, runner: SyncRunner, result: LiveResult) -> None:
        import etcd3gw

        client = etcd3gw.client(host=etcd.host, port=etcd.port, timeout=30)
        prefix = "bench-sync"
        keys = f"/{prefix}/orders/"
        result.target = f"≥ {DUMP_TARGET:,.0f} keys/s"
        started = time.monotonic()
        runner.start(self.my_src.url(self.src_db), etcd.url(prefix), "--tables", "orders")
        count = 0
        while count < self.rows:
            runner.alive()
            if time.monotonic() - started > PHASE_TIMEOUT:
                raise RuntimeError(f"{count:,} of {self.rows:,} keys after {PHASE_TIMEOUT:.0f} s")
            time.sleep(0.2)
            count = _count(client, keys)
        seconds = time.monotonic() - started
        status = runner.wait_phase("replicating", timeout=120)
        final = _count(client, keys)
        rate = self.rows / seconds
        result.metrics.update(
            rows=self.rows,
            keys=final,
            seconds=round(seconds, 2),
            keys_per_s=round(rate),
            target_keys_per_s=DUMP_TARGET,
            status_phase=status.get("phase"),
        )
        result.figure = f"{rate:,.0f} keys/s"
        if final != self.rows:
            result.status = "failed"
            result.verdict = "FAIL"
            result.detail = f"etcd holds {final:,} keys under {keys} for {self.rows:,} rows"
            return
        result.status = "ok"
        result.verdict = "PASS" if rate >= DUMP_TARGET else "FAIL"
        result.detail = (
            f"{self.rows:,} rows dumped in {seconds:.1f} s from the process start "
            f"(keys counted every 0.2 s); {final:,} keys; phase then {status.get('phase')}"
        )

    # lag ------------------------------------------------------------------------------------

    def _lag(self, etcd: EtcdServer, runner: SyncRunner, result: LiveResult) -> None:
        import etcd3gw

        source = Side(self.my_src, SYNC_SRC_DB)
        source.reset()
        source.create_table()
        with source.connection() as conn:
            source.insert_range(conn, 1, BASE_ROWS)
        prefix = "bench-lag"
        keys = f"/{prefix}/orders/"
        result.target = f"p99 ≤ {LAG_P99_TARGET:.1f} s"
        runner.start(source.url(), etcd.url(prefix), "--tables", "orders")
        before = runner.wait_phase("replicating")
        client = etcd3gw.client(host=etcd.host, port=etcd.port, timeout=30)
        watch = _EtcdLagWatch(client, keys)
        watch.start()
        try:
            written = _write_steadily(source, self.lag_seconds)
            watch.wait_for(written["last_seq"], timeout=60.0)
        finally:
            watch.stop()
        after = runner.status()
        # exactness: every row's seq in etcd equals the source's
        with source.connection() as conn:
            expected = {int(i): int(s) for i, s in source.query(conn, "SELECT id, seq FROM orders")}
        stored = {}
        for value, _meta in client.get_prefix(keys):
            row = json.loads(value)
            stored[int(row["id"])] = int(row["seq"])
        lags = sorted(watch.lags)
        if not lags:
            raise RuntimeError("the watch saw no row arrive in etcd")
        p50, p99, worst = _pct(lags, 0.50), _pct(lags, 0.99), lags[-1]
        events = int(after.get("events_applied") or 0) - int(before.get("events_applied") or 0)
        result.metrics.update(
            seconds=self.lag_seconds,
            rows_written=written["rows"],
            transactions=written["transactions"],
            write_rows_per_s=round(written["rows"] / written["seconds"]),
            row_writes_seen=len(lags),
            lag_p50_s=round(p50, 4),
            lag_p99_s=round(p99, 4),
            lag_max_s=round(worst, 4),
            status_lag_seconds=after.get("lag_seconds"),
            events_applied=events,
            target_p99_s=LAG_P99_TARGET,
        )
        result.figure = f"p99 {p99:.3f} s"
        if stored != expected:
            missing = len(expected.keys() - stored.keys())
            extra = len(stored.keys() - expected.keys())
            differ = sum(1 for k in expected.keys() & stored.keys() if expected[k] != stored[k])
            result.status = "failed"
            result.verdict = "FAIL"
            result.detail = (
                f"etcd ≠ source: {missing} missing, {extra} extra, {differ} with another seq"
            )
            return
        result.status = "ok"
        result.verdict = "PASS" if p99 <= LAG_P99_TARGET else "FAIL"
        result.detail = (
            f"lag p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms over "
            f"{len(lags):,} of {written['rows']:,} row writes "
            f"({written['rows'] / written['seconds']:,.0f} rows/s for {written['seconds']:.0f} s); "
            f"events_applied {events:,}; status lag_seconds {after.get('lag_seconds')}; "
            "etcd = source"
        )


class _EtcdLagWatch:
    """Watches the prefix: for every put, lag = arrival − the row's ``wrote_at``."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.events, self._cancel = client.watch_prefix(prefix)
        self.lags: list[float] = []
        self.last_seq = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="etcd-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self.events:
                now = time.time()
                kv = event.get("kv", {})
                if "value" not in kv:  # a delete
                    continue
                row = json.loads(kv["value"])
                if row.get("wrote_at") is None:
                    continue
                self.lags.append(now - float(row["wrote_at"]))
                self.last_seq = max(self.last_seq, int(row["seq"]))
        except BaseException as exc:
            self.error = exc

    def wait_for(self, seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.last_seq < seq and time.monotonic() < deadline and self.error is None:
            time.sleep(0.05)
        if self.error is not None:
            raise RuntimeError(f"etcd watch failed: {self.error}")
        if self.last_seq < seq:
            raise RuntimeError(f"etcd had seq {self.last_seq} of {seq} after {timeout} s")

    def stop(self) -> None:
        self._cancel()
        self._thread.join(10)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone: ``.venv/bin/python bench/sync.py [--rows N] [--lag-seconds S]`` (the dump
    reads a table it generates with bench/run.py's generator)."""
    import argparse
    import tempfile

    from run import generate_mariadb

    from ferryman.testing.servers import start_mariadb

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--only", default="sync-dump,sync-lag")
    args = parser.parse_args(argv)
    names = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-sync-"))
    my_src = start_mariadb(server_id=201)
    try:
        if "sync-dump" in names:
            my_src.execute("CREATE DATABASE IF NOT EXISTS src")
            with contextlib.closing(my_src.connect("src")) as conn:
                generate_mariadb(conn, "src", args.rows)
        exe = Path(sys.executable).with_name("ferryman")
        ferryman = [str(exe)] if exe.exists() else [sys.executable, "-m", "ferryman"]
        bench = SyncBench(
            my_src, workdir, ferryman, rows=args.rows, src_db="src", lag_seconds=args.lag_seconds
        )
        for scenario in SYNC_SCENARIOS:
            if scenario.name in names:
                say(f"{scenario.name}: {scenario.label}")
                r = bench.run(scenario)
                say(f"  {r.figure or '-'} ({r.verdict}) {r.detail}; peak RSS {r.peak_rss_mb} MB")
        say(f"logs: {workdir / 'logs'}")
    finally:
        my_src.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
