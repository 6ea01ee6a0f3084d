"""Change source: a stream opened at a position delivers each committed transaction once, in
commit order, with its inserts, updates and deletes carrying after and before images; a stream
opened again at a delivered transaction's position goes on with exactly the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferryman.core.change import Op, Transaction
from ferryman.core.position import Position
from ferryman.core.protocols import ChangeSource
from tests.contract.conftest import Engine, workflow_name

ROW_OPS = (Op.INSERT, Op.UPDATE, Op.DELETE)


@pytest.fixture
def stream(engine: Engine, request: pytest.FixtureRequest) -> Iterator[tuple[ChangeSource, str]]:
    """``items`` (whole old rows in the stream) and a change source prepared for it."""
    engine.items()
    for sql in engine.kit.full_images("items"):
        engine.execute(sql)
    source = engine.endpoint().change_source()
    assert source is not None
    name = workflow_name(request)
    yield source, name
    source.drop_changes(name)
    source.drop_changes(name)  # idempotent


def _read(source: ChangeSource, name: str, start: Position, stop: Position) -> list[Transaction]:
    """The transactions touching ``items`` after ``start`` up to ``stop``."""
    feed = source.open_changes(name, start, ["items"], stop_at=stop)
    try:
        txs = [
            Transaction(
                tx.position,
                [c for c in tx.changes if c.op in ROW_OPS and c.table == "items"],
                tx.xid,
            )
            for tx in feed.transactions()
        ]
    finally:
        feed.close()
    return [tx for tx in txs if tx.changes]


def _write(engine: Engine) -> None:
    engine.insert([(1, "a", 1), (2, "b", 2)])  # one statement: one transaction, two rows
    engine.execute("UPDATE items SET name = 'c', qty = 10 WHERE id = 1")
    engine.execute("DELETE FROM items WHERE id = 2")


def test_stream_delivers_transactions_with_before_and_after_images(
    engine: Engine, stream: tuple[ChangeSource, str]
) -> None:
    source, name = stream
    start = source.prepare_changes(name, ["items"])
    _write(engine)
    txs = _read(source, name, start, source.current_position())
    assert [[c.op for c in tx.changes] for tx in txs] == [
        [Op.INSERT, Op.INSERT],
        [Op.UPDATE],
        [Op.DELETE],
    ]
    positions = [tx.position for tx in txs]
    assert positions == sorted(positions) and start <= positions[0]
    insert, update, delete = txs[0].changes[0], txs[1].changes[0], txs[2].changes[0]
    columns = list(insert.columns)
    assert columns == ["id", "name", "qty"]
    assert insert.after == (1, "a", 1) and insert.before is None
    assert update.before == (1, "a", 1) and update.after == (1, "c", 10)
    assert delete.before == (2, "b", 2) and delete.after is None


def test_stream_opened_at_a_delivered_position_goes_on_with_the_rest(
    engine: Engine, stream: tuple[ChangeSource, str]
) -> None:
    source, name = stream
    start = source.prepare_changes(name, ["items"])
    _write(engine)
    stop = source.current_position()
    first, *rest = _read(source, name, start, stop)
    again = _read(source, name, first.position, stop)
    assert [tx.position for tx in again] == [tx.position for tx in rest]
    assert [[c.op for c in tx.changes] for tx in again] == [[Op.UPDATE], [Op.DELETE]]


def test_source_reconnect_keeps_the_stream_position(
    engine: Engine, stream: tuple[ChangeSource, str]
) -> None:
    source, name = stream
    start = source.prepare_changes(name, ["items"])
    engine.insert([(5, "e", 5)])
    engine.endpoint().reconnect()
    ep = engine.endpoint()
    ep.reconnect()
    changes = ep.change_source()
    assert changes is not None
    txs = _read(changes, name, start, changes.current_position())
    assert [[c.after for c in tx.changes] for tx in txs] == [[(5, "e", 5)]]


def test_row_filter_evaluates_the_source_predicate(engine: Engine) -> None:
    engine.items()
    ep = engine.endpoint()
    source = ep.change_source()
    assert source is not None
    table = ep.introspect(["items"]).table("items")
    rf = source.row_filter(table, "qty > 3 AND name <> 'x'")
    try:
        rows = [(1, "a", 5), (2, "x", 9), (3, "b", 1), (4, "c", None)]
        assert rf.matches(("id", "name", "qty"), rows) == [True, False, False, False]
    finally:
        rf.close()


def test_keys_only_capture_delivers_every_change_with_its_key(
    engine: Engine, stream: tuple[ChangeSource, str]
) -> None:
    """The drift guard's capture (``keys_only``): every change comes, each with its key columns
    (an engine may leave the others out)."""
    source, name = stream
    start = source.prepare_changes(name, ["items"], keys_only=True)
    _write(engine)
    txs = _read(source, name, start, source.current_position())
    got = [
        [
            (c.op, *(img[c.columns.index("id")] for img in (c.before, c.after) if img is not None))
            for c in tx.changes
        ]
        for tx in txs
    ]
    assert got == [
        [(Op.INSERT, 1), (Op.INSERT, 2)],
        [(Op.UPDATE, 1, 1)],
        [(Op.DELETE, 2)],
    ]
