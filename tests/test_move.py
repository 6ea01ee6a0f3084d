"""`ferryman move`: copy while writes go on, replicate, stop and resume — in all four directions,
compared row by row with an independent reader."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import Databases, Direction, TempDatabase
from tests.movekit import MoveRunner, Writer, create_move, differences, preload, wait_equal


def race(
    tmp_path: Path,
    source: TempDatabase[Any],
    s_engine: str,
    target: TempDatabase[Any],
    t_engine: str,
    *,
    seconds: float = 6.0,
    rate: float = 400.0,
    chunk_rows: int = 500,
) -> None:
    preload(source, s_engine)
    state = tmp_path / "state.db"
    writer = Writer(source, s_engine, rate=rate).start()
    t0 = time.monotonic()
    try:
        time.sleep(0.5)
        r = create_move(
            state, "race", source.url, target.url, "--chunk-rows", str(chunk_rows), "-j", "2"
        )
        assert r.code == 0, r.text
        runner = MoveRunner(state, "race", source.url, target.url).start()
        runner.wait_phase("replicating")
        time.sleep(seconds)
    finally:
        writer.stop()
    elapsed = time.monotonic() - t0
    assert writer.rate_seen(elapsed) >= 300, (writer.done, elapsed, writer.errors[:3])
    schema = source.name if (s_engine, t_engine) == ("mysql", "postgres") else None
    wait_equal(lambda: differences(source, s_engine, target, t_engine, target_schema=schema))
    st = runner.status()
    assert st["phase"] == "replicating" and st["events_applied"] > 0
    assert all(t["copy_done"] for t in st["tables"])
    assert runner.stop() == 0, runner.output()


def test_race_copy_and_replicate_under_writes(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    race(tmp_path, source, direction.source, target, direction.target)
