"""Fence: per-table triggers refuse writes to the fenced tables (and only to them) until the
fence is lifted; fencing and lifting twice is harmless."""

from __future__ import annotations

import pytest

from tests.contract.conftest import Engine


def test_trigger_fence_refuses_writes_until_lifted(engine: Engine) -> None:
    engine.items([(1, "a", 1)])
    engine.execute("CREATE TABLE other (id integer PRIMARY KEY)")
    endpoint = engine.endpoint()
    ops = endpoint.fence()
    assert ops is not None, f"{engine.name} offers no fence"
    namespace = endpoint.namespace
    ops.fence("triggers", namespace, ["items"], "wf", 5.0)
    ops.fence("triggers", namespace, ["items"], "wf", 5.0)  # again: the same fence
    try:
        for sql in (
            "INSERT INTO items (id, name, qty) VALUES (2, 'b', 2)",
            "UPDATE items SET qty = 9 WHERE id = 1",
            "DELETE FROM items WHERE id = 1",
        ):
            with pytest.raises(Exception, match=r"(?i)fence|ferryman"):
                engine.execute(sql)
        engine.execute("INSERT INTO other (id) VALUES (1)")  # not fenced
        assert engine.rows() == [(1, "a", 1)]
    finally:
        ops.unfence("triggers", namespace, ["items"], "wf")
    ops.unfence("triggers", namespace, ["items"], "wf")  # nothing left to undo
    engine.execute("UPDATE items SET qty = 9 WHERE id = 1")
    assert engine.rows() == [(1, "a", 9)]
