"""`ferryman move switch / reverse / complete` end to end: an application writes ≥ 50
transactions/s through a router file that `--route` rewrites; after `switch` it writes to the
target, reverse replication brings its writes back, `reverse` switches back; every acknowledged
write is present on both sides and the sides compare equal after each switch. The write
downtime `switch` measures (fence → route done) is asserted ≤ 1 s and printed."""

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
from tests.helpers import Result, ferryman
from tests.movekit import MoveRunner, create_move, differences, wait_equal
from tests.switchkit import (
    APP_TABLES,
    RoutedWriter,
    Side,
    app_write_fails,
    ids,
    load_app,
    route_command,
    sides,
    write_route,
)

pytestmark = pytest.mark.slow  # the switch matrix: in make test, not in make test-fast

DOWNTIME_BOUND = 1.0


def cutover(
    state: Path, op: str, name: str, src: str, dst: str, *args: str, env: Any = None
) -> Result:
    return ferryman(
        "move",
        "--state",
        str(state),
        op,
        name,
        "--source",
        src,
        "--target",
        dst,
        *args,
        env=env,
    )


def equal(source: Side, target: Side) -> list[str]:
    return differences(
        source.db, source.engine, target.db, target.engine, APP_TABLES, target.schema
    )


class Story:
    """One move with a runner and a routed application."""

    def __init__(
        self,
        tmp_path: Path,
        source: Side,
        target: Side,
        name: str = "cut",
        rows: int = 2000,
        runner_args: tuple[str, ...] = (),
    ) -> None:
        self.state = tmp_path / "state.db"
        self.router = tmp_path / "router"
        self.source, self.target = source, target
        self.name = name
        load_app(source.db, source.engine, rows)
        r = create_move(self.state, name, source.db.url, target.db.url)
        assert r.code == 0, r.text
        self.runner = MoveRunner(
            self.state, name, source.db.url, target.db.url, args=runner_args
        ).start()
        self.runner.wait_phase("replicating")
        write_route(self.router, source.db.url)
        self.writer = RoutedWriter(self.router, [source, target])

    def op(self, op: str, *args: str, env: dict[str, str] | None = None) -> Result:
        return cutover(
            self.state,
            op,
            self.name,
            self.source.db.url,
            self.target.db.url,
            "--route",
            route_command(self.router),
            *args,
            env=env,
        )

    def switch(self, op: str = "switch", *args: str) -> dict[str, Any]:
        r = self.op(op, "--json", *args)
        assert r.code == 0, r.text + self.runner.output()[-3000:]
        doc = dict(json.loads(r.out))
        print(
            f"{op}: downtime {doc['downtime_seconds']:.3f} s (drift check "
            f"{doc['drift_check_seconds']} s); steps {doc['steps']}"
        )
        # the new primary's log was read for drift after the catch-up (the runner's default
        # --on-drift halt), within the downtime
        check = doc["drift_check_seconds"]
        assert check is not None and 0 <= check <= doc["downtime_seconds"], doc
        return doc

    def close(self) -> None:
        self.writer.stop()
        if self.runner.proc is not None and self.runner.proc.poll() is None:
            self.runner.stop()


def _story(tmp_path: Path, source: Side, target: Side) -> None:
    story = Story(tmp_path, source, target)
    try:
        writer = story.writer.start()
        started = time.monotonic()
        time.sleep(2.0)

        doc = story.switch()
        assert doc["downtime_seconds"] <= DOWNTIME_BOUND, doc
        assert doc["new_primary"] and target.db.name in doc["new_primary"]
        st = story.runner.status()
        assert st["phase"] == "switched" and st["new_primary"] == doc["new_primary"], st
        time.sleep(2.0)
        assert writer.acked[target.label], "the application never wrote to the target"
        refused = app_write_fails(source)
        assert refused and "fenced" in refused, refused
        assert app_write_fails(target) is None
        # reverse replication brings the target's writes back to the source
        writer.pause()
        wait_equal(lambda: equal(source, target))
        assert set(writer.acked[target.label]) <= ids(source)
        writer.resume()

        back = story.switch("reverse")
        assert back["downtime_seconds"] <= DOWNTIME_BOUND, back
        time.sleep(2.0)
        assert app_write_fails(source) is None
        refused = app_write_fails(target)
        assert refused and "fenced" in refused, refused
        writer.stop()
        seconds = time.monotonic() - started
        rate = writer.count() / seconds
        print(
            f"application: {writer.count()} acknowledged transactions in {seconds:.1f}s "
            f"({rate:.0f}/s), longest write pause {writer.longest_gap:.3f}s"
        )
        assert rate >= 50, rate
        wait_equal(lambda: equal(source, target))
        acked = {i for v in writer.acked.values() for i in v}
        assert acked <= ids(source) and acked <= ids(target)
        assert story.runner.status()["phase"] == "replicating"
    finally:
        story.close()


@pytest.mark.parametrize(
    "direction", [MARIADB_TO_MARIADB, POSTGRESQL_TO_POSTGRESQL, MARIADB_TO_POSTGRESQL]
)
def test_switch_then_reverse_under_writes(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    _story(tmp_path, *sides(direction, databases))


@pytest.fixture
def story_mm(tmp_path: Path, mysql_db: TempDatabase[Any], mysql_db2: TempDatabase[Any]) -> Any:
    story = Story(tmp_path, Side("source", mysql_db, "mysql"), Side("target", mysql_db2, "mysql"))
    try:
        yield story
    finally:
        story.close()


# -- crashes ---------------------------------------------------------------------------------

KILL_STEPS = (
    "prepare-reverse",
    "release-runner",
    "fence",
    "final-position",
    "catch-up",
    "sync-identities",
    "point-of-no-return",
    "foreign-keys",
    "reverse-position",
    "unfence-new-primary",
    "route",
    "unfence-hook",
    "validate-foreign-keys",
)


def _writable(story: Story) -> set[str]:
    return {s.label for s in (story.source, story.target) if app_write_fails(s) is None}


def _crash_story(story: Story, steps: tuple[str, ...]) -> None:
    """SIGKILL the switching process at each journal step in turn (alternating switch and
    reverse as they complete), then run the same command again: it finishes or rolls back;
    never are both sides writable once the target has been a primary; no acknowledged write
    is lost."""
    writer = story.writer.start()
    time.sleep(1.0)
    op = "switch"
    been_primary = {"source"}
    outcomes = []
    for step in steps:
        r = story.op(op, "--json", env={"FERRYMAN_KILL_AT": f"switch:{step}"})
        assert r.code == -9, f"{op} not killed at {step}: {r.text}"
        open_ = [s for s in _writable(story) if s in been_primary]
        assert len(open_) <= 1, f"both sides writable after a kill at {step}"
        st = story.runner.status()
        assert st["cutover"] and st["cutover"]["op"] == op, st
        again = story.op(op, "--json")
        doc = json.loads(again.out) if again.out else {}
        if again.code == 0:
            assert doc["switched"] and not doc["rolled_back"], again.text
            been_primary |= {"source", "target"}
            outcomes.append(f"{step}: finished, downtime {doc['downtime_seconds']:.3f}s")
            primary = "target" if op == "switch" else "source"
            op = "reverse" if op == "switch" else "switch"
        else:
            assert again.code == 1 and doc.get("rolled_back"), again.text
            outcomes.append(f"{step}: rolled back")
            primary = "source" if op == "switch" else "target"
        time.sleep(0.3)
        writable = _writable(story)
        assert primary in writable, (step, writable)
        if been_primary == {"source", "target"}:
            assert writable == {primary}, (step, writable)
        assert story.runner.status()["cutover"] is None
    print("\n".join(outcomes))
    time.sleep(1.0)
    writer.pause()
    wait_equal(lambda: equal(story.source, story.target))
    acked = {i for v in writer.acked.values() for i in v}
    assert acked <= ids(story.source) and acked <= ids(story.target)
    print(f"{len(acked)} acknowledged writes, all on both sides")


def test_switch_crash_at_every_step_mariadb(story_mm: Story) -> None:
    _crash_story(story_mm, KILL_STEPS)


def test_switch_crash_postgres(
    tmp_path: Path, pg_db: TempDatabase[Any], pg_db2: TempDatabase[Any]
) -> None:
    story = Story(tmp_path, Side("source", pg_db, "postgres"), Side("target", pg_db2, "postgres"))
    try:
        _crash_story(story, ("fence", "catch-up", "point-of-no-return", "route"))
    finally:
        story.close()


# -- refusals --------------------------------------------------------------------------------


def test_switch_refusals_and_hook_fence(
    tmp_path: Path, mysql_db: TempDatabase[Any], mysql_db2: TempDatabase[Any]
) -> None:
    """Every refusal names the move and the fix and changes nothing; a failing or hanging
    fence hook rolls the switch back and the stream goes on; `complete` before a switch and
    `cancel` after one are refused."""
    # the test's own write to the target (for --require-verify) is drift: logged, not halted
    story = Story(
        tmp_path,
        Side("source", mysql_db, "mysql"),
        Side("target", mysql_db2, "mysql"),
        runner_args=("--on-drift", "log"),
    )
    try:
        _refusals(story, tmp_path)
    finally:
        story.close()


def _refusals(story: Story, tmp_path: Path) -> None:
    writer = story.writer.start()
    time.sleep(1.0)

    # lag above --max-lag (the writer keeps the stream busy: the lag, measured against the
    # binlog's whole-second commit times, is never exactly 0 while it writes)
    r = story.op("switch", "--max-lag", "0")
    assert r.code == 1, r.text
    assert "more than --max-lag 0s" in r.text and "fix:" in r.text, r.text

    # complete before switch
    r = cutover(story.state, "complete", story.name, story.source.db.url, story.target.db.url)
    assert r.code == 1 and "complete ends a move whose writes were switched" in r.text, r.text

    # dry run: the plan, nothing changed
    r = story.op("switch", "--dry-run")
    assert r.code == 0 and "point of no return" in r.out and "fence: triggers" in r.out, r.text
    assert story.runner.status()["phase"] == "replicating"

    # a fence hook that fails, then one that hangs: rolled back, the source takes writes
    log = tmp_path / "hook.log"
    failing = f'hook:echo "$FERRYMAN_FENCE $FERRYMAN_WORKFLOW" >> {log}; exit 3'
    r = story.op("switch", "--fence", failing)
    assert r.code == 1 and "fence hook (lock) command failed with exit code 3" in r.text, r.text
    assert "rolled back" in r.text
    assert log.read_text().split("\n")[:2] == ["lock cut", "unlock cut"]
    r = story.op("switch", "--fence", "hook:sleep 30", "--fence-timeout", "1")
    assert r.code == 1 and "did not finish within 1s" in r.text, r.text
    st = story.runner.status()
    assert st["phase"] == "replicating" and st["cutover"] is None, st
    before = writer.count()
    time.sleep(1.0)
    assert writer.acked["source"] and writer.count() > before  # writes go on

    # verify mismatch with --require-verify
    writer.pause()
    wait_equal(lambda: equal(story.source, story.target))
    story.target.db.execute("UPDATE acct SET v = 'changed on the target' WHERE id = 7")
    r = story.op("switch", "--require-verify")
    assert r.code == 1 and "verify found 1 differing row" in r.text, r.text
    last = story.runner.status()["last_verify"]  # the switch's verify is kept
    assert (last["kind"], last["match"], last["differences"]) == ("switch", False, 1), last
    story.target.db.execute("UPDATE acct SET v = 'v7' WHERE id = 7")
    story.source.db.execute("UPDATE acct SET v = 'v7' WHERE id = 7")
    writer.resume()

    # a real switch with --require-verify; then cancel is refused, complete works
    time.sleep(1.0)
    doc = story.switch("switch", "--require-verify")
    assert doc["switched"]
    r = cutover(story.state, "cancel", story.name, story.source.db.url, story.target.db.url)
    assert r.code == 1 and "reverse" in r.text, r.text
    r = story.op("switch")
    assert r.code == 1 and "already switched" in r.text, r.text
    writer.stop()
    time.sleep(1.0)
    r = cutover(story.state, "complete", story.name, story.source.db.url, story.target.db.url)
    assert r.code == 0, r.text
    assert story.runner.wait(30) == 0, story.runner.output()
    st = story.runner.status()
    assert st["phase"] == "completed" and st["new_primary"], st
    assert app_write_fails(story.source) is None  # the fence triggers are gone
    triggers = story.source.db.execute(
        "SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
    )
    assert triggers == [(0,)]
    # the history: the switch's verifies, its journal steps and the phases, in order
    r = ferryman("move", "--state", str(story.state), "history", story.name, "--json")
    assert r.code == 0, r.text
    events = json.loads(r.out)["events"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    steps = [e["step"] for e in events if e["kind"] == "cutover"]
    assert "point-of-no-return" in steps and "fence" in steps, steps
    verifies = [(e["verify_kind"], e["match"]) for e in events if e["kind"] == "verify-ended"]
    assert verifies == [("switch", False), ("switch", True)], verifies
    phases = [e["detail"] for e in events if e["kind"] == "phase"]
    assert "switching → switched" in phases and phases[-1] == "switched → completed", phases


def test_switch_refused_before_copy_and_when_failed(
    tmp_path: Path, mysql_db: TempDatabase[Any], mysql_db2: TempDatabase[Any]
) -> None:
    from ferryman.workflow.state import open_store

    load_app(mysql_db, "mysql", rows=10)
    state = tmp_path / "state.db"
    assert create_move(state, "m", mysql_db.url, mysql_db2.url).code == 0
    r = cutover(state, "switch", "m", mysql_db.url, mysql_db2.url)
    assert r.code == 1 and "has not finished copying" in r.text, r.text
    store = open_store(str(state))
    store.update("m", phase="failed", error="the binlog was purged")
    r = cutover(state, "switch", "m", mysql_db.url, mysql_db2.url)
    assert r.code == 1 and "is failed: the binlog was purged" in r.text, r.text
    store.update("m", phase="replicating", error=None)
    r = cutover(state, "switch", "m", mysql_db.url, mysql_db2.url)
    assert r.code == 1 and "is not running" in r.text, r.text
    r = cutover(state, "reverse", "m", mysql_db.url, mysql_db2.url)
    assert r.code == 1 and "not switched" in r.text, r.text
    r = cutover(state, "switch", "m", mysql_db.url, mysql_db2.url, "--fence", "locks")
    assert r.code == 2 and "--fence 'locks' is unknown" in r.text, r.text


def test_switch_read_only_fence_postgres(
    tmp_path: Path, pg_db: TempDatabase[Any], pg_db2: TempDatabase[Any]
) -> None:
    """The read-only fence: the database's default turns read-only and open sessions are
    ended; the application reconnects and follows the route; the reverse unfences."""
    story = Story(tmp_path, Side("source", pg_db, "postgres"), Side("target", pg_db2, "postgres"))
    try:
        writer = story.writer.start()
        time.sleep(1.5)
        doc = story.switch("switch", "--fence", "read-only")
        assert doc["downtime_seconds"] <= DOWNTIME_BOUND, doc
        time.sleep(1.5)
        refused = app_write_fails(story.source)
        assert refused and "read-only transaction" in refused, refused
        assert writer.acked["target"]
        back = story.switch("reverse", "--fence", "read-only")
        assert back["downtime_seconds"] <= DOWNTIME_BOUND, back
        time.sleep(1.5)
        assert app_write_fails(story.source) is None
        assert "read-only" in (app_write_fails(story.target) or "")
        writer.pause()
        try:
            wait_equal(lambda: equal(story.source, story.target), timeout=20)
        except AssertionError:
            from ferryman.workflow.state import open_store

            for attempt in open_store(str(story.state)).attempts(story.name):
                for e in attempt:
                    print(f"{e.at:.3f} {e.step} {e.state} {e.detail}")
            missing = ids(story.source) ^ ids(story.target)
            print({i: writer.acked_at.get(i) for i in missing})
            raise
        acked = {i for v in writer.acked.values() for i in v}
        assert acked <= ids(story.source) and acked <= ids(story.target)
    finally:
        story.close()
        for db in (pg_db, pg_db2):  # leave no read-only default behind
            db.server.execute(
                f'ALTER DATABASE "{db.name}" RESET default_transaction_read_only', "postgres"
            )


def test_no_way_back_warned_at_create_refused_at_switch(
    tmp_path: Path, mysql_db: TempDatabase[Any], postgres_replica_wal: Any
) -> None:
    """A target with wal_level=replica cannot replicate back: `create` warns, `switch` refuses
    naming the fix, `switch --no-reverse` switches (the runner then has nothing to stream),
    `reverse` is refused and `complete` ends the move."""
    server = postgres_replica_wal
    server.execute('CREATE DATABASE "noback"')
    try:
        load_app(mysql_db, "mysql", rows=100)
        state = tmp_path / "state.db"
        target_url = server.url("noback")
        r = create_move(state, "nb", mysql_db.url, target_url)
        assert r.code == 0, r.text
        assert "warning: the target cannot replicate back" in r.text, r.text
        assert "wal_level" in r.text, r.text
        runner = MoveRunner(state, "nb", mysql_db.url, target_url).start()
        try:
            runner.wait_phase("replicating")
            time.sleep(1.0)
            r = cutover(state, "switch", "nb", mysql_db.url, target_url)
            assert r.code == 1 and "cannot replicate back" in r.text, r.text
            assert "--no-reverse" in r.text
            r = cutover(state, "switch", "nb", mysql_db.url, target_url, "--no-reverse", "--json")
            assert r.code == 0, r.text
            assert json.loads(r.out)["reverse_position"] is None
            assert runner.wait(30) == 0, runner.output()
            assert "--no-reverse" in runner.output()
            r = cutover(state, "reverse", "nb", mysql_db.url, target_url)
            assert r.code == 1 and "--no-reverse" in r.text, r.text
            r = cutover(state, "complete", "nb", mysql_db.url, target_url)
            assert r.code == 0, r.text
        finally:
            if runner.proc is not None and runner.proc.poll() is None:
                runner.kill()
    finally:
        server.execute('DROP DATABASE IF EXISTS "noback" WITH (FORCE)')


def test_background_verify_goes_on_across_switch_and_reverse_without_drift(
    tmp_path: Path, mysql_db: TempDatabase[Any], mysql_db2: TempDatabase[Any]
) -> None:
    story = Story(
        tmp_path,
        Side("source", mysql_db, "mysql"),
        Side("target", mysql_db2, "mysql"),
        runner_args=("--verify-interval", "1s"),
    )

    def passes() -> list[dict[str, Any]]:
        r = ferryman("move", "--state", str(story.state), "history", story.name, "--json")
        assert r.code == 0, r.text
        events = json.loads(r.out)["events"]
        return [
            e for e in events if e["kind"] == "verify-ended" and e["verify_kind"] == "background"
        ]

    def two_more(after: int, phase: str) -> None:
        deadline = time.monotonic() + 180
        while len(passes()) < after + 2 and time.monotonic() < deadline:
            assert story.runner.proc is not None and story.runner.proc.poll() is None
            time.sleep(0.5)
        done = passes()
        assert len(done) >= after + 2, done
        assert [p["match"] for p in done[-2:]] == [True, True], done
        st = story.runner.status()
        assert st["phase"] == phase and st["running"] and st["drift"] == [], st

    try:
        story.writer.start()
        two_more(0, "replicating")
        story.switch()
        two_more(len(passes()), "switched")  # verifying the replication back
        story.switch("reverse")
        two_more(len(passes()), "replicating")
    finally:
        story.close()
