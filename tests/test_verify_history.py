"""Verify results are kept (like Vitess VDiff): `move verify --show [ID]`, `last_verify` in
`move status --json`, `move history` as one timeline, and `move verify --resume` after the
verify process was killed halfway (the tables it finished are carried over, not compared
again)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ferryman.workflow.state import SQLiteStateStore
from tests.conftest import MARIADB_TO_MARIADB, Databases, TempDatabase
from tests.helpers import OLD_SCHEMA, Result, ferryman
from tests.movekit import MoveRunner, Writer, create_move, preload


def move_cmd(state: Path, *args: str, timeout: float = 300) -> Result:
    return ferryman("move", "--state", str(state), *args, timeout=timeout)


def verify(state: Path, source: TempDatabase[Any], target: TempDatabase[Any], *args: str) -> Any:
    r = move_cmd(
        state, "verify", "live", "--json", "--source", source.url, "--target", target.url, *args
    )
    assert r.code in (0, 1), r.text
    return r.code, json.loads(r.out)


def show(state: Path, *args: str) -> tuple[int, Any]:
    r = move_cmd(state, "verify", "live", "--show", *args, "--json")
    assert r.code in (0, 1), r.text
    return r.code, json.loads(r.out)


def test_verify_results_are_kept_shown_and_in_status_and_history(
    tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(MARIADB_TO_MARIADB)
    preload(source, "mysql", rows=3000)
    source.execute("INSERT INTO acct VALUES (900001, -5, 'kept', 1.25, NULL, NULL, 0.5)")
    state = tmp_path / "state.db"
    assert create_move(state, "live", source.url, target.url).code == 0
    # the test's own write to the target below is drift: logged, so the move keeps running
    runner = MoveRunner(state, "live", source.url, target.url, args=("--on-drift", "log")).start()
    writer = Writer(source, "mysql", rate=200).start()
    try:
        runner.wait_phase("replicating")
        code, first = verify(state, source, target)
        assert code == 0 and first["match"], first
        assert first["carried_over"] == []
        assert isinstance(first["id"], int)

        target.execute("UPDATE acct SET v = 'changed on target' WHERE id = 900001")
        code, second = verify(state, source, target)
        assert code == 1 and second["id"] > first["id"]

        # --show ID: the first verify as it was kept
        code, doc = show(state, str(first["id"]))
        assert code == 0
        assert doc["id"] == first["id"] and doc["kind"] == "manual" and doc["state"] == "done"
        assert doc["match"] is True and doc["tables_compared"] == 3
        assert doc["rows_compared"] == sum(t["rows_compared"] for t in first["tables"])
        assert doc["differences"]["total"] == 0
        assert doc["started_at"] <= doc["ended_at"]
        # --show: the latest, with the differing key kept
        code, doc = show(state)
        assert code == 1 and doc["id"] == second["id"] and doc["match"] is False
        assert doc["differences"] == {
            "mismatched": 1,
            "extra_source": 0,
            "extra_target": 0,
            "total": 1,
        }
        (acct,) = [t for t in doc["tables"] if t["table"] == "acct"]
        assert [s["key"] for s in acct["samples"]] == [{"id": "900001"}]
        assert acct["samples"][0]["target"]["v"] == "changed on target"
        page = tmp_path / "kept.html"
        text = move_cmd(state, "verify", "live", "--show", "--report", str(page))
        assert "900001" in page.read_text() and "changed on target" in page.read_text()
        assert text.code == 1 and f"verify {second['id']}" in text.out
        assert "DIFFERENT" in text.out and "900001" in text.out
        missing = move_cmd(state, "verify", "live", "--show", "999")
        assert missing.code == 2 and "no verify 999" in missing.text

        # move status --json: last_verify
        last = runner.status()["last_verify"]
        assert last["id"] == second["id"] and last["match"] is False
        assert last["tables_compared"] == 3 and last["differences"] == 1
        assert last["rows_compared"] == doc["rows_compared"] and last["at"] == doc["ended_at"]
    finally:
        writer.stop()
        runner.stop()

    r = move_cmd(state, "history", "live", "--json")
    assert r.code == 0, r.text
    events = json.loads(r.out)["events"]
    ats = [e["at"] for e in events]
    assert ats == sorted(ats)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "created" and kinds[-1] == "stopped"
    assert kinds.index("start") < kinds.index("verify-started")
    phases = [e["detail"] for e in events if e["kind"] == "phase"]
    assert "created → copying" in phases and "copying → replicating" in phases
    ended = [e for e in events if e["kind"] == "verify-ended"]
    assert [(e["verify_id"], e["match"]) for e in ended] == [
        (first["id"], True),
        (second["id"], False),
    ]
    assert ended[1]["differences"] == 1
    text = move_cmd(state, "history", "live")
    assert text.code == 0 and "verify-ended" in text.out and "copying → replicating" in text.out


def test_killed_verify_resumes_without_comparing_finished_tables_again(
    tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(MARIADB_TO_MARIADB)
    preload(source, "mysql", rows=2000)
    extra = [f"t{i}" for i in range(1, 5)]
    for name in extra:
        source.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, v VARCHAR(20))")
        source.execute(f"INSERT INTO {name} SELECT seq, CONCAT('v', seq) FROM seq_1_to_3000")
    state = tmp_path / "state.db"
    assert create_move(state, "live", source.url, target.url).code == 0
    runner = MoveRunner(state, "live", source.url, target.url).start()
    writer = Writer(source, "mysql", rate=100).start()
    try:
        runner.wait_phase("replicating")
        # about 15,000 rows at 2,500 rows/s: the verify is mid-way for several seconds
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ferryman",
                "move",
                "--state",
                str(state),
                "verify",
                "live",
                "--json",
                "--rows-per-second",
                "2500",
                "--source",
                source.url,
                "--target",
                target.url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200"},
        )
        deadline = time.monotonic() + 120
        finished = 0
        while time.monotonic() < deadline and proc.poll() is None:
            finished = tables_finished(state)
            if finished >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the verify ended before it could be killed mid-way"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        before = tables_finished(state)
        assert 2 <= before < 7, before

        code, doc = show(state)
        assert code == 1 and doc["state"] == "interrupted" and doc["match"] is None
        done_before = [t["table"] for t in doc["tables"]]
        assert len(done_before) == before and len(doc["tables_left"]) == 7 - before

        code, resumed = verify(state, source, target, "--resume")
        assert code == 0 and resumed["match"], resumed
        assert resumed["id"] == doc["id"]
        assert resumed["carried_over"] == done_before
        assert sorted(t["table"] for t in resumed["tables"]) == sorted(
            ["acct", "pairs", "order", *extra]
        )

        code, after = show(state)
        assert code == 0 and after["state"] == "done" and after["attempts"] == 2
        assert after["carried_over"] == done_before
        assert after["tables_compared"] == 7 and after["tables_left"] == []
        # the resumed attempt compared only the tables the killed one had not finished
        attempts = {t["table"]: t["attempt"] for t in after["tables"]}
        assert sorted(t for t, a in attempts.items() if a == 2) == sorted(
            set(attempts) - set(done_before)
        )
        assert all(attempts[t] == 1 for t in done_before)

        again = move_cmd(
            state, "verify", "live", "--resume", "--source", source.url, "--target", target.url
        )
        assert again.code == 1 and "no interrupted verify" in again.text
        events = json.loads(move_cmd(state, "history", "live", "--json").out)["events"]
        assert [e["kind"] for e in events if e.get("verify_id") == doc["id"]] == [
            "verify-started",
            "verify-resumed",
            "verify-ended",
        ]
    finally:
        writer.stop()
        runner.stop()


def tables_finished(state: Path) -> int:
    conn = sqlite3.connect(str(state), timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM verify_tables").fetchone()[0])
    finally:
        conn.close()


def test_a_store_written_before_verify_results_opens_and_gains_the_tables(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(str(path))
    conn.executescript(
        OLD_SCHEMA
        + """
        INSERT INTO workflows VALUES ('old', '{}', 'replicating', NULL, '{}', 1.0, 2.0);
        INSERT INTO history (workflow, at, kind, detail) VALUES ('old', 1.0, 'created', '');
        """
    )
    conn.close()
    store = SQLiteStateStore(path)
    try:
        assert store.get("old").phase == "replicating"
        assert store.verify_runs("old") == [] and store.drift("old") == []
        vid = store.verify_begin("old", "manual", ["a", "b"])
        store.verify_table(vid, {"table": "a", "rows_compared": 3, "samples": [{}] * 50})
        store.verify_end(vid, match=True)
        run = store.verify_run("old")
        assert run.id == vid and run.match is True and run.tables == ["a", "b"]
        assert run.done[0]["rows_compared"] == 3 and len(run.done[0]["samples"]) == 20
        store.update("old", phase="halted")
        assert [k for _, k, _ in store.history("old")] == ["created", "phase"]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("500ms", 0.5), ("5m", 300.0), ("1h", 3600.0), ("2", 2.0)]
)
def test_verify_interval_takes_durations(text: str, seconds: float) -> None:
    from ferryman.cli.options import Duration

    assert Duration().convert(text, None, None) == seconds


def test_a_bad_verify_interval_is_refused(tmp_path: Path) -> None:
    r = ferryman("move", "--state", str(tmp_path / "s.db"), "start", "x", "--verify-interval", "0s")
    assert r.code == 2 and "not a duration" in r.text


def test_equal_background_verifies_are_kept_to_the_newest_hundred(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "s.db")
    try:
        odd = store.verify_begin("m", "background", ["a"])
        store.verify_end(odd, match=False)  # a difference is kept, however old
        manual = store.verify_begin("m", "manual", ["a"])
        store.verify_end(manual, match=True)
        for _ in range(130):
            vid = store.verify_begin("m", "background", ["a"])
            store.verify_table(vid, {"table": "a", "rows_compared": 1})
            store.verify_end(vid, match=True)
        runs = store.verify_runs("m")
        background = [r for r in runs if r.kind == "background" and r.match]
        assert len(background) == 100 and background[-1].id == vid
        assert [r.id for r in runs[:2]] == [odd, manual]
        assert store.last_verify_run("m") is not None
        kept = store.conn.execute("SELECT COUNT(DISTINCT verify) FROM verify_tables").fetchone()
        assert kept == (100,)
    finally:
        store.close()
