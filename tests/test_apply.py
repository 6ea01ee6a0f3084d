"""Compaction of ordered changes and atomic apply with the checkpoint, on real servers."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.core.apply import Checkpoint, Compactor, TableTarget
from ferryman.core.change import UNCHANGED, Change, Op
from ferryman.core.errors import SchemaError
from ferryman.core.url import parse_url
from ferryman.engines.mysql.apply import MySQLApplier
from ferryman.engines.postgres.apply import PostgresApplier
from tests.conftest import MySQLDatabase, PostgresDatabase

COLS = ("id", "v", "w")


def target(ns: str = "t_ns", table: str = "t") -> TableTarget:
    return TableTarget("src", "t", ns, table, COLS, ("id",))


def ch(op: Op, before: Any = None, after: Any = None, columns: tuple[str, ...] = COLS) -> Change:
    return Change(op, "src", "t", columns, before=before, after=after)


def test_compaction_last_write_wins_and_key_changes() -> None:
    c = Compactor([target()])
    c.add(
        [
            ch(Op.INSERT, after=(1, "a", 1)),
            ch(Op.UPDATE, before=(1, "a", 1), after=(1, "b", 1)),
            ch(Op.INSERT, after=(2, "x", 2)),
            ch(Op.DELETE, before=(2, "x", 2)),
            ch(Op.INSERT, after=(3, "y", 3)),
            ch(Op.UPDATE, before=(3, "y", 3), after=(4, "y", 3)),  # key change 3 -> 4
            ch(Op.DELETE, before=(5, None, None)),
            ch(Op.INSERT, after=(5, "again", 5)),  # key re-use after delete
            Change(Op.INSERT, "src", "other", COLS, after=(9, "z", 9)),  # not in the workflow
        ]
    )
    batch = c.batch(Checkpoint("w", {"kind": "lsn", "lsn": "0/1"}))
    (tb,) = batch.tables
    assert sorted(tb.deletes) == [(2,), (3,)]
    assert sorted(tb.upserts) == [(1, "b", 1), (4, "y", 3), (5, "again", 5)]
    assert batch.changes == 8
    assert c.batch(batch.checkpoint).tables == []


def test_compaction_reorders_columns_and_truncate() -> None:
    c = Compactor([target()])
    c.add([ch(Op.INSERT, after=(1, "a", 1)), ch(Op.TRUNCATE)])
    c.add([ch(Op.INSERT, after=(3, 2, "b"), columns=("w", "id", "v"))])
    (tb,) = c.batch(Checkpoint("w", None)).tables
    assert tb.truncate and tb.upserts == [(2, "b", 3)] and tb.deletes == []


def test_unchanged_toast_needs_the_full_old_row() -> None:
    c = Compactor([target()])
    c.add([ch(Op.UPDATE, before=(1, "old big", 1), after=(1, UNCHANGED, 2))])
    (tb,) = c.batch(Checkpoint("w", None)).tables
    assert tb.upserts == [(1, "old big", 2)]
    with pytest.raises(SchemaError, match="unchanged TOASTed value") as err:
        c.add([ch(Op.UPDATE, after=(1, UNCHANGED, 3))])
    assert err.value.hint and "REPLICA IDENTITY FULL" in err.value.hint


def test_missing_column_is_named() -> None:
    c = Compactor([target()])
    with pytest.raises(SchemaError, match="lack column"):
        c.add([ch(Op.INSERT, after=(1, "a"), columns=("id", "v"))])


def _run_applier(applier: Any, execute: Any, ns: str, table: str) -> None:
    tgt = target(ns, table)
    c = Compactor([tgt])
    c.add([ch(Op.INSERT, after=(i, f"v{i}", i)) for i in range(1, 6)])
    first = c.batch(Checkpoint("wf", {"kind": "binlog", "file": "b.1", "pos": 10}, {"t": "done"}))
    applier.apply(first)
    applier.apply(first)  # replay after a crash: same result
    assert applier.read_checkpoint("wf").position["pos"] == 10
    c.add(
        [
            ch(Op.DELETE, before=(2, "v2", 2)),
            ch(Op.UPDATE, before=(3, "v3", 3), after=(30, "v3", 3)),
            ch(Op.UPDATE, before=(4, "v4", 4), after=(4, "changed", 40)),
        ]
    )
    applier.apply(c.batch(Checkpoint("wf", {"kind": "binlog", "file": "b.1", "pos": 20})))
    assert sorted(execute(f"SELECT id, v, w FROM {table}")) == [
        (1, "v1", 1),
        (4, "changed", 40),
        (5, "v5", 5),
        (30, "v3", 3),
    ]
    # a failing batch leaves rows and checkpoint untouched
    c.add([ch(Op.INSERT, after=(6, "ok", 6)), ch(Op.INSERT, after=(7, None, 7))])
    with pytest.raises(SchemaError, match=r"applying changes to .* failed"):
        applier.apply(c.batch(Checkpoint("wf", {"kind": "binlog", "file": "b.1", "pos": 30})))
    assert applier.read_checkpoint("wf").position["pos"] == 20
    assert len(execute(f"SELECT id FROM {table}")) == 4
    assert applier.read_checkpoint("unknown") is None


def test_postgres_applier(pg_db: PostgresDatabase) -> None:
    pg_db.execute('CREATE TABLE "order" (id int PRIMARY KEY, v text NOT NULL, w int)')
    applier = PostgresApplier(parse_url(pg_db.url))
    try:
        _run_applier(
            applier,
            lambda q: pg_db.execute(q.replace("FROM order", 'FROM "order"')),
            "public",
            "order",
        )
    finally:
        applier.close()


def test_mysql_applier(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE `order` (id INT PRIMARY KEY, v TEXT NOT NULL, w INT)")
    applier = MySQLApplier(parse_url(mysql_db.url))
    try:
        _run_applier(
            applier,
            lambda q: mysql_db.execute(q.replace("order", "`order`")),
            mysql_db.name,
            "order",
        )
    finally:
        applier.close()


def test_postgres_applier_stages_large_batches(pg_db: PostgresDatabase) -> None:
    """From COPY_MIN_ROWS upserts on, a batch goes through COPY and a staging table: a failed
    batch (its staging table rolled back with it) leaves nothing, later batches still apply."""
    from ferryman.engines.postgres.apply import COPY_MIN_ROWS

    pg_db.execute("CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL, w int)")
    applier = PostgresApplier(parse_url(pg_db.url))
    n = COPY_MIN_ROWS * 3
    pos = {"kind": "lsn", "lsn": "0/1"}
    try:
        c = Compactor([target("public", "big")])
        c.add([ch(Op.INSERT, after=(i, None if i == n else f"v{i}", i)) for i in range(1, n + 1)])
        with pytest.raises(SchemaError, match=r"applying changes to public\.big failed"):
            applier.apply(c.batch(Checkpoint("wf", pos)))
        assert pg_db.execute("SELECT count(*) FROM big") == [(0,)]
        for round_ in range(2):  # the second round would update a key twice if rows stayed
            c.add([ch(Op.INSERT, after=(i, f"r{round_}", i)) for i in range(1, n + 1)])
            applier.apply(c.batch(Checkpoint("wf", {**pos, "lsn": f"0/{round_ + 2}"})))
        assert pg_db.execute("SELECT count(*), min(v), max(v) FROM big") == [(n, "r1", "r1")]
        assert applier.read_checkpoint("wf").position["lsn"] == "0/3"  # type: ignore[union-attr]
    finally:
        applier.close()
