"""Applier: a batch commits with its checkpoint atomically; re-applying it changes nothing;
a failing batch leaves rows and checkpoint as they were; pieces of a big transaction commit
with the next batch or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ferryman.core.apply import Checkpoint, Compactor, TableTarget
from ferryman.core.change import Change, Op
from ferryman.core.errors import SchemaError
from ferryman.core.protocols import Applier
from tests.contract.conftest import Engine

COLS = ("id", "name", "qty")


@pytest.fixture
def applier(engine: Engine) -> Iterator[tuple[Applier, TableTarget]]:
    engine.items()
    ep = engine.endpoint()
    target = ep.move_target()
    assert target is not None
    applier = target.open_applier()
    try:
        yield applier, TableTarget("src", "items", ep.namespace, "items", COLS, ("id",))
    finally:
        applier.close()


def _change(op: Op, before: Any = None, after: Any = None) -> Change:
    return Change(op, "src", "items", COLS, before=before, after=after)


def _position(n: int) -> dict[str, Any]:
    return {"kind": "binlog", "file": "b.1", "pos": n}


def test_batch_commits_with_its_checkpoint_and_replays_idempotently(
    engine: Engine, applier: tuple[Applier, TableTarget]
) -> None:
    ap, target = applier
    assert ap.read_checkpoint("wf") is None
    c = Compactor([target])
    c.add([_change(Op.INSERT, after=(i, f"v{i}", i)) for i in range(1, 5)])
    first = c.batch(Checkpoint("wf", _position(10), {"copied": True}))
    ap.apply(first)
    ap.apply(first)  # replay after a crash: same result
    ckpt = ap.read_checkpoint("wf")
    assert ckpt is not None and ckpt.position == _position(10) and ckpt.state["copied"] is True
    c.add(
        [
            _change(Op.DELETE, before=(2, "v2", 2)),
            _change(Op.UPDATE, before=(3, "v3", 3), after=(30, "v3", 3)),  # key change
            _change(Op.UPDATE, before=(4, "v4", 4), after=(4, "new", None)),
        ]
    )
    second = c.batch(Checkpoint("wf", _position(20)))
    ap.apply(second)
    ap.apply(second)
    assert engine.rows() == [(1, "v1", 1), (4, "new", None), (30, "v3", 3)]
    ap.drop_checkpoint("wf")
    ap.drop_checkpoint("wf")  # idempotent
    assert ap.read_checkpoint("wf") is None


def test_failing_batch_leaves_rows_and_checkpoint(
    engine: Engine, applier: tuple[Applier, TableTarget]
) -> None:
    ap, target = applier
    c = Compactor([target])
    c.add([_change(Op.INSERT, after=(1, "a", 1))])
    ap.apply(c.batch(Checkpoint("wf", _position(10))))
    c.add([_change(Op.INSERT, after=(2, "ok", 2)), _change(Op.INSERT, after=(3, None, 3))])
    with pytest.raises(SchemaError):  # name is NOT NULL
        ap.apply(c.batch(Checkpoint("wf", _position(20))))
    ckpt = ap.read_checkpoint("wf")
    assert ckpt is not None and ckpt.position == _position(10)
    assert engine.rows() == [(1, "a", 1)]


def test_parts_commit_with_the_next_batch_or_not_at_all(
    engine: Engine, applier: tuple[Applier, TableTarget]
) -> None:
    ap, target = applier
    c = Compactor([target])
    c.add([_change(Op.INSERT, after=(1, "part", 1))])
    ap.apply_part(c.batch(Checkpoint("wf", None)).tables)
    ap.abort()
    assert engine.rows() == []
    c.add([_change(Op.INSERT, after=(2, "part", 2))])
    ap.apply_part(c.batch(Checkpoint("wf", None)).tables)
    c.add([_change(Op.INSERT, after=(3, "last", 3))])
    ap.apply(c.batch(Checkpoint("wf", _position(30))))
    assert engine.rows() == [(2, "part", 2), (3, "last", 3)]


def test_delete_above_a_cursor(engine: Engine, applier: tuple[Applier, TableTarget]) -> None:
    ap, target = applier
    engine.insert([(i, f"v{i}", i) for i in range(1, 6)])
    assert ap.delete_above(target.namespace, "items", ["id"], (3,)) == 2
    assert [r[0] for r in engine.rows()] == [1, 2, 3]
    assert ap.delete_above(target.namespace, "items", ["id"], ()) == 3
    assert engine.rows() == []
