"""`ferryman move pause / resume / throttle / postpone` against a running `move start` process
under a write load, through the real CLI: a pause holds the runner at a batch boundary within
about a second while the source keeps changing, and survives a SIGKILL and a new `start`;
resume catches up to an exact copy; a throttle's rate is what the runner applies within a
second or two; a postponed switch is refused (exit 2) until lifted, and `switch --wait` goes
ahead the moment it is. Bad input exits 2 naming the fix."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CROSS_ENGINE,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_MARIADB,
    Databases,
    Direction,
    TempDatabase,
)
from tests.helpers import Result, ferryman
from tests.movekit import MoveRunner, Writer, create_move, differences, preload, wait_equal
from tests.switchkit import route_command, write_route


@dataclass
class Live:
    """One move under a write load: its databases, a runner and the CLI against its store."""

    tmp: Path
    direction: Direction
    source: TempDatabase[Any]
    target: TempDatabase[Any]
    name: str = "ctl"

    @property
    def state(self) -> Path:
        return self.tmp / "state.db"

    @property
    def schema(self) -> str | None:
        return self.source.name if self.direction == MARIADB_TO_POSTGRESQL else None

    def cli(self, *args: str) -> Result:
        return ferryman("move", "--state", str(self.state), *args)

    def ok(self, *args: str) -> Result:
        r = self.cli(*args)
        assert r.code == 0, r.text
        return r

    def status(self) -> dict[str, Any]:
        return dict(json.loads(self.ok("status", self.name, "--json").out))

    def runner(self) -> MoveRunner:
        return MoveRunner(self.state, self.name, self.source.url, self.target.url).start()

    def differences(self) -> list[str]:
        return differences(
            self.source,
            self.direction.source,
            self.target,
            self.direction.target,
            target_schema=self.schema,
        )


@pytest.fixture
def live(tmp_path: Path, databases: Databases) -> Callable[[Direction], Live]:
    def make(direction: Direction) -> Live:
        source, target = databases(direction)
        m = Live(tmp_path, direction, source, target)
        preload(source, direction.source, rows=2000)
        r = create_move(m.state, m.name, source.url, target.url)
        assert r.code == 0, r.text
        return m

    return make


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    """Seconds until ``check()`` held (AssertionError naming ``what`` after ``timeout``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def running() -> Iterator[list[Any]]:
    """Runners and writers a test starts: stopped whatever the outcome."""
    started: list[Any] = []
    yield started
    for thing in reversed(started):
        if isinstance(thing, Writer):
            thing.stop()
        elif thing.proc is not None and thing.proc.poll() is None:
            thing.kill()


def _applied_stays(m: Live, writer: Writer, seconds: float) -> int:
    """events_applied does not move for ``seconds`` while the writer commits; its value."""
    held = m.status()["events_applied"]
    written = writer.done
    time.sleep(seconds)
    st = m.status()
    assert writer.done > written + 10, "the writer stalled: the test proves nothing"
    assert st["events_applied"] == held, (held, st)
    assert st["phase"] == "paused" and st["running"] and st["paused"], st
    return int(held)


def replicating_under_writes(
    m: Live, engine: str, rate: int, applied: int, running: list[Any]
) -> tuple[Any, Writer]:
    """Start the move's runner, wait until it replicates, then write ``rate`` changes/s to
    the source until more than ``applied`` changes were applied."""
    runner = m.runner()
    running.append(runner)
    runner.wait_phase("replicating", timeout=120)
    writer = Writer(m.source, engine, rate=rate).start()
    running.append(writer)
    wait_for(lambda: m.status()["events_applied"] > applied, "changes applied", 60)
    return runner, writer


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_pause_holds_at_a_batch_boundary_and_resume_catches_up(
    direction: Direction, live: Callable[[Direction], Live], running: list[Any]
) -> None:
    m = live(direction)
    _runner, writer = replicating_under_writes(m, direction.source, 120, 50, running)

    asked = time.monotonic()
    m.ok("pause", m.name)
    wait_for(lambda: reported_phase(m) == "paused", "the runner reporting paused", 10)
    took = time.monotonic() - asked  # an upper bound: it includes the CLI process's start
    assert m.status()["phase"] == "paused"
    print(f"{direction.id}: paused {took:.2f}s after `move pause` was run")
    assert took <= 4.0, took  # the runner polls 5x a second; a batch is at most 50 ms
    time.sleep(0.5)  # a batch already being written when the pause came is committed
    held = _applied_stays(m, writer, 3.0)
    assert m.status()["lag_seconds"] is None

    m.ok("resume", m.name)
    wait_for(lambda: m.status()["events_applied"] > held, "applying again", 10)
    assert m.status()["phase"] == "replicating"
    writer.stop()
    wait_equal(m.differences, 90)
    kinds = [e for e in _history(m) if e[0] == "control"]
    assert [d for _, d in kinds] == ["pause", "resume"], kinds
    print(f"{direction.id}: pause to resume {time.monotonic() - asked:.1f}s, 0 differences")


def reported_phase(m: Live) -> str:
    """The phase the runner itself last published (``move status`` shows ``paused`` as soon
    as the pause is asked for; this is the runner's answer to it)."""
    conn = sqlite3.connect(m.state)
    try:
        row = conn.execute("SELECT phase FROM workflows WHERE name = ?", (m.name,)).fetchone()
    finally:
        conn.close()
    return str(row[0])


def _history(m: Live) -> list[tuple[str, str]]:
    """The store's history lines of the move (kind, detail)."""
    conn = sqlite3.connect(m.state)
    try:
        rows = conn.execute(
            "SELECT kind, detail FROM history WHERE workflow = ? ORDER BY id", (m.name,)
        ).fetchall()
    finally:
        conn.close()
    return [(str(k), str(d)) for k, d in rows]


def _rate(m: Live, seconds: float) -> float:
    """events_applied per second over ``seconds``, between two status publications (each
    stamped with the store's ``updated_at``)."""
    a = m.status()
    wait_for(lambda: m.status()["updated_at"] > a["updated_at"], "a fresh status", 5)
    a = m.status()
    time.sleep(seconds)
    wait_for(lambda: m.status()["updated_at"] > a["updated_at"] + seconds - 1.5, "status", 5)
    b = m.status()
    return float(b["events_applied"] - a["events_applied"]) / (b["updated_at"] - a["updated_at"])


@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_throttle_sets_the_apply_rate_while_running(
    direction: Direction, live: Callable[[Direction], Live], running: list[Any]
) -> None:
    m = live(direction)
    _runner, writer = replicating_under_writes(m, direction.source, 150, 50, running)
    free = _rate(m, 3.0)

    limit = 40.0
    m.ok("throttle", m.name, "--max-rows-per-second", f"{limit:g}")
    st = m.status()
    assert st["throttle"]["max_rows_per_second"] == limit, st
    time.sleep(1.5)  # in force within a second; the bucket's one second of burst drains
    held = _rate(m, 6.0)
    print(
        f"{direction.id}: {free:.0f} changes/s unthrottled, {held:.1f}/s at "
        f"--max-rows-per-second {limit:g}"
    )
    assert free > 1.5 * limit, f"the source writes too little to tell ({free:.0f}/s)"
    assert 0.6 * limit <= held <= 1.35 * limit, held

    m.ok("throttle", m.name, "--max-rows-per-second", "0")
    assert m.status()["throttle"]["max_rows_per_second"] is None
    writer.stop()
    wait_equal(m.differences, 120)
    assert [d for k, d in _history(m) if k == "control"] == [
        "throttle: max-rows-per-second 40, no lag query",
        "throttle: max-rows-per-second none, no lag query",
    ]


def test_a_paused_move_started_again_stays_paused(
    live: Callable[[Direction], Live], running: list[Any]
) -> None:
    m = live(POSTGRESQL_TO_MARIADB)
    runner, writer = replicating_under_writes(m, "postgres", 80, 20, running)
    m.ok("pause", m.name)
    wait_for(lambda: reported_phase(m) == "paused", "the runner reporting paused", 10)

    runner.kill()  # SIGKILL: nothing cleaned up
    assert not m.status()["running"]
    assert m.status()["phase"] == "paused"  # the operator's pause, not the runner's report
    again = m.runner()
    running.append(again)
    wait_for(lambda: m.status()["running"], "the new runner reporting", 60)
    wait_for(lambda: reported_phase(m) == "paused", "the new runner holding", 30)
    _applied_stays(m, writer, 3.0)

    m.ok("resume", m.name)
    again.wait_phase("replicating", timeout=30)
    writer.stop()
    wait_equal(m.differences, 90)


def test_postponed_switch_is_refused_until_lifted_and_wait_switches_then(
    live: Callable[[Direction], Live], running: list[Any], tmp_path: Path
) -> None:
    m = live(MARIADB_TO_POSTGRESQL)
    m.ok("postpone", m.name)
    runner = m.runner()
    running.append(runner)
    runner.wait_phase("replicating", timeout=120)
    assert m.status()["postpone_switch"] is True
    urls = ("--source", m.source.url, "--target", m.target.url)

    r = m.cli("switch", m.name, *urls)
    assert r.code == 2, r.text
    assert "postponed" in r.err and f"ferryman move postpone {m.name} --off" in r.err, r.err
    assert "--force" in r.err and "--wait" in r.err, r.err
    r = m.ok("switch", m.name, "--dry-run", *urls)
    assert "postponed" in r.out, r.out
    assert m.status()["phase"] == "replicating"

    router = tmp_path / "router"
    write_route(router, m.source.url)
    waiting = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ferryman",
            "move",
            "--state",
            str(m.state),
            "switch",
            m.name,
            "--wait",
            "--route",
            route_command(router),
            "--json",
            *urls,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)
        assert waiting.poll() is None, waiting.communicate()
        assert m.status()["phase"] == "replicating"
        m.ok("postpone", m.name, "--off")
        out, err = waiting.communicate(timeout=90)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, out + err
    doc = json.loads(out)
    assert doc["switched"] and m.source.url.split("@")[1].split("/")[0] not in doc["new_primary"]
    assert m.status()["phase"] == "switched"
    controls = [d for k, d in _history(m) if k == "control"]
    assert controls == [
        "postpone switch",
        "postponement lifted: the switch may run",
    ], controls


def test_control_input_errors_exit_2_naming_the_fix(
    live: Callable[[Direction], Live],
) -> None:
    m = live(MARIADB_TO_POSTGRESQL)
    for args in (("pause", "nope"), ("resume", "nope"), ("throttle", "nope"), ("postpone", "nope")):
        r = m.cli(*args)
        assert r.code == 2, r.text
        assert "no workflow named 'nope'" in r.err and "fix:" in r.err, r.err
    r = m.cli("pause", "ct")
    assert r.code == 2 and "did you mean 'ctl'" in r.err, r.err
    for option in ("--max-rows-per-second", "--max-source-lag"):
        r = m.cli("throttle", m.name, option, "-5")
        assert r.code == 2, r.text
        assert f"{option} -5 is not a limit" in r.err and f"{option} 0" in r.err, r.err
    r = m.cli("throttle", m.name, "--max-rows-per-second", "nan")
    assert r.code == 2 and "not a limit" in r.err, r.text
    assert m.status()["throttle"]["max_rows_per_second"] is None  # nothing changed
    assert not [k for k, _ in _history(m) if k == "control"]


def test_pause_during_the_copy_stops_at_a_chunk_boundary(
    tmp_path: Path, databases: Databases, running: list[Any]
) -> None:
    direction = MARIADB_TO_POSTGRESQL
    source, target = databases(direction)
    m = Live(tmp_path, direction, source, target)
    preload(source, "mysql", rows=6000)
    # small chunks at 600 rows/s: a copy of ~10 s, long enough to pause in the middle
    r = create_move(
        m.state, m.name, source.url, target.url, "--chunk-rows", "100",
        "--max-rows-per-second", "600",
    )  # fmt: skip
    assert r.code == 0, r.text
    runner = m.runner()
    running.append(runner)
    writer = Writer(source, "mysql", rate=60).start()
    running.append(writer)

    def copied() -> int:
        return sum(t["rows_copied"] for t in m.status()["tables"])

    wait_for(lambda: copied() >= 600, "some rows copied", 60)
    assert m.status()["phase"] == "copying"
    asked = time.monotonic()
    m.ok("pause", m.name)
    wait_for(lambda: reported_phase(m) == "paused", "the runner reporting paused", 10)
    took = time.monotonic() - asked  # an upper bound: it includes the CLI process's start
    assert m.status()["phase"] == "paused"
    print(f"paused the copy {took:.2f}s after `move pause` was run, at {copied()} rows")
    time.sleep(0.5)
    rows, written = copied(), writer.done
    target_rows = len(target.execute(f'SELECT id FROM "{source.name}".acct'))
    time.sleep(2.5)
    assert copied() == rows and writer.done > written
    assert len(target.execute(f'SELECT id FROM "{source.name}".acct')) == target_rows
    assert m.status()["phase"] == "paused"

    m.ok("throttle", m.name, "--clear")
    m.ok("resume", m.name)
    runner.wait_phase("replicating", timeout=120)
    writer.stop()
    wait_equal(m.differences, 90)


def test_pause_on_an_idle_stream_holds_the_next_change(
    live: Callable[[Direction], Live], running: list[Any]
) -> None:
    m = live(MARIADB_TO_POSTGRESQL)
    runner = m.runner()
    running.append(runner)
    runner.wait_phase("replicating", timeout=120)
    time.sleep(1.0)  # nothing is written: the stream idles
    asked = time.monotonic()
    m.ok("pause", m.name)
    wait_for(lambda: reported_phase(m) == "paused", "the runner reporting paused", 10)
    took = time.monotonic() - asked  # an upper bound: it includes the CLI process's start
    assert m.status()["phase"] == "paused"
    print(f"idle stream paused {took:.2f}s after `move pause` was run")
    assert took <= 4.0, took
    m.source.execute("INSERT INTO acct (id, k) VALUES (900001, 1)")
    time.sleep(2.0)
    acct = f'"{m.source.name}".acct'
    assert m.target.execute(f"SELECT count(*) FROM {acct} WHERE id = 900001") == [(0,)]
    m.ok("resume", m.name)
    wait_for(
        lambda: m.target.execute(f"SELECT count(*) FROM {acct} WHERE id = 900001") == [(1,)],
        "the held change applied after resume",
        30,
    )
    wait_equal(m.differences, 60)
