"""`ferryman move verify` while `move start` replicates under a write load: equal while rows
are in flight (no false positives), a row changed directly on the target is reported with its
key and both versions, and `--repair` fixes it."""

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
from tests.movekit import MoveRunner, Writer, create_move, preload, q


def verify(
    state: Path, source: TempDatabase[Any], target: TempDatabase[Any], *args: str
) -> tuple[Result, dict[str, Any]]:
    r = ferryman(
        "move",
        "--state",
        str(state),
        "verify",
        "live",
        "--json",
        "--source",
        source.url,
        "--target",
        target.url,
        *args,
        timeout=300,
    )
    assert r.code in (0, 1), r.text
    return r, json.loads(r.out)


@pytest.mark.parametrize(
    "direction", [MARIADB_TO_MARIADB, POSTGRESQL_TO_POSTGRESQL, MARIADB_TO_POSTGRESQL]
)
def test_verify_during_replication_then_repair(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    s_engine = direction.source
    preload(source, s_engine)
    # a row outside the writer's key space, so only this test changes it
    source.execute("INSERT INTO acct VALUES (900001, -5, 'kept', 1.25, NULL, NULL, 0.5)")
    state = tmp_path / "state.db"
    r = create_move(state, "live", source.url, target.url, "--chunk-rows", "1000")
    assert r.code == 0, r.text
    # the test's own write to the target is drift: logged, so the move keeps running
    runner = MoveRunner(state, "live", source.url, target.url, args=("--on-drift", "log")).start()
    writer = Writer(source, s_engine, rate=300).start()
    try:
        runner.wait_phase("replicating")
        time.sleep(2)
        r, doc = verify(state, source, target)
        assert r.code == 0 and doc["match"], r.text
        assert {t["table"] for t in doc["tables"]} == {"acct", "pairs", "order"}
        assert all(t["rows_compared"] > 0 for t in doc["tables"])

        acct = (
            "acct" if direction != MARIADB_TO_POSTGRESQL else f"{q('postgres', source.name)}.acct"
        )
        target.execute(f"UPDATE {acct} SET v = 'changed on target' WHERE id = 900001")
        r, doc = verify(state, source, target)
        assert r.code == 1, r.text
        (t,) = [t for t in doc["tables"] if t["table"] == "acct"]
        assert (t["mismatched"], t["extra_source"], t["extra_target"]) == (1, 0, 0)
        (sample,) = t["samples"]
        assert sample["key"] == {"id": "900001"}
        assert sample["differs"] == ["v"]
        assert sample["source"]["v"] == "kept"
        assert sample["target"]["v"] == "changed on target"

        r, doc = verify(state, source, target, "--repair")
        assert r.code == 0, r.text
        (t,) = [t for t in doc["tables"] if t["table"] == "acct"]
        assert t["repaired"]["upserted"] == 1 and t["repaired"]["left"] == 0
        r, doc = verify(state, source, target)
        assert r.code == 0 and doc["match"], r.text
    finally:
        writer.stop()
        runner.stop()
    assert writer.done > 0
