"""A source transaction of any size applies with bounded memory, atomically with its checkpoint.

One source transaction of ~250,000 row changes (inserts, then updates and deletes of rows the
same transaction inserted) is moved live; the runner's peak RSS (VmHWM) must stay far below what
holding the transaction whole takes (~+100 MB). Then a second big transaction (an UPDATE of every
row) is interrupted by a SIGKILL after some of its pieces were written into the open target
transaction: the target must hold none of it, and a restart applies it exactly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CROSS_ENGINE,
    MARIADB_TO_POSTGRESQL,
    Databases,
    Direction,
    TempDatabase,
)
from tests.movekit import MoveRunner, create_move, differences, wait_equal

BASE = 100  # rows copied before the stream takes over
BIG = 200_000  # rows the big transaction inserts
#: peak RSS of the runner, MB: ~90 MB streamed in pieces; holding the transaction whole took ~172 MB
RSS_BOUND_MB = 120.0

MYSQL_TABLE = "CREATE TABLE big (id BIGINT PRIMARY KEY, k INT NOT NULL, note VARCHAR(60))"
PG_TABLE = "CREATE TABLE big (id bigint PRIMARY KEY, k integer NOT NULL, note varchar(60))"


def _big_transaction(db: TempDatabase[Any], engine: str) -> None:
    lo, hi = BASE + 1, BASE + BIG
    conn = db.server.connect(db.name)  # autocommit: one explicit transaction
    try:
        cur = conn.cursor()
        cur.execute("BEGIN")
        if engine == "mysql":
            cur.execute(
                f"INSERT INTO big SELECT seq, seq % 1000, CONCAT('row ', seq) FROM seq_{lo}_to_{hi}"
            )
            cur.execute("UPDATE big SET k = k + 1, note = CONCAT(note, ' u') WHERE id % 10 = 0")
        else:
            cur.execute(
                "INSERT INTO big SELECT n, n % 1000, 'row ' || n "
                f"FROM generate_series({lo}, {hi}) AS n"
            )
            cur.execute("UPDATE big SET k = k + 1, note = note || ' u' WHERE id % 10 = 0")
        cur.execute("DELETE FROM big WHERE id % 7 = 0")
        cur.execute("COMMIT")
        cur.close()
    finally:
        conn.close()


def _update_all(db: TempDatabase[Any]) -> None:
    conn = db.server.connect(db.name)
    try:
        cur = conn.cursor()
        cur.execute("UPDATE big SET k = k + 5")  # one statement: one transaction
        cur.close()
    finally:
        conn.close()


def _scalar(db: TempDatabase[Any], sql: str, schema: str | None = None) -> int:
    table = f'"{schema}".big' if schema else "big"
    rows = db.server.execute(sql.format(table=table), db.name)
    return int(rows[0][0])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow  # stress, and a SIGKILL: in make test, not in make test-fast
@pytest.mark.parametrize("direction", CROSS_ENGINE)
def test_big_source_transaction_applies_in_bounded_memory_and_survives_sigkill(
    direction: Direction, tmp_path: Path, databases: Databases
) -> None:
    source, target = databases(direction)
    s, t = direction.source, direction.target
    schema = source.name if direction == MARIADB_TO_POSTGRESQL else None
    source.execute(MYSQL_TABLE if s == "mysql" else PG_TABLE)
    conn = source.server.connect(source.name)
    try:
        cur = conn.cursor()
        cur.executemany(
            "INSERT INTO big VALUES (%s, %s, %s)", [(i, i, f"base {i}") for i in range(1, BASE + 1)]
        )
        conn.commit()
        cur.close()
    finally:
        conn.close()
    state = tmp_path / "state.db"
    r = create_move(state, "bulk", source.url, target.url, "--tables", "big")
    assert r.code == 0, r.text

    def same() -> list[str]:
        return differences(source, s, target, t, ("big",), target_schema=schema)

    # 1. the big transaction, applied by a running move: exact, in bounded memory
    runner = MoveRunner(state, "bulk", source.url, target.url)
    runner.start()
    runner.wait_phase("replicating")
    started = time.monotonic()
    _big_transaction(source, s)
    wait_equal(same, timeout=120)
    assert runner.proc is not None
    peak = _peak_rss_mb(runner.proc.pid)
    print(
        f"{direction.id}: big transaction applied in {time.monotonic() - started:.1f} s, "
        f"runner peak RSS {peak:.0f} MB"
    )
    assert runner.stop() == 0
    assert peak <= RSS_BOUND_MB, f"runner peak RSS {peak:.0f} MB > {RSS_BOUND_MB:.0f} MB"

    # 2. SIGKILL after the second piece of another big transaction was written (not committed)
    k_before = _scalar(target, "SELECT SUM(k) FROM {table}", schema)
    _update_all(source)
    runner.start({"FERRYMAN_KILL_AT": "after_apply_part:2"})
    assert runner.wait(120) == -9, runner.output()[-3000:]
    assert _scalar(target, "SELECT SUM(k) FROM {table}", schema) == k_before  # none of it
    runner.start()
    wait_equal(same, timeout=120)
    assert runner.stop() == 0
