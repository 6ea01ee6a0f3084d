"""Copy source (snapshot, chunks in key order, row filter) and copy target (create, load,
truncate, drop), within one engine: what ``ferryman copy`` needs from each side."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from ferryman.core.copy import Chunk, TableCopy
from ferryman.core.plan import Phase, TranslateOptions
from ferryman.core.protocols import CopySource, CopyTarget, Endpoint
from ferryman.pipeline.copier import Copier, CopyRequest
from tests.contract.conftest import Engine

ROWS = [(i, f"n{i}", i % 7) for i in range(1, 26)]


def _sides(engine: Engine) -> tuple[Endpoint, Endpoint, Any]:
    """Source endpoint (``items`` with :data:`ROWS`), target endpoint on another database
    holding an ``items`` created through the target's own translate + apply."""
    engine.items(ROWS)
    other = engine.second()
    src, dst = engine.endpoint(), engine.endpoint(other)
    schema = src.introspect(["items"])
    plan = dst.translate(schema, TranslateOptions(target_namespace=dst.namespace))
    dst.apply(plan, [p.value for p in Phase])
    return src, dst, other


def _table_copy(src: Endpoint, dst: Endpoint, where: str | None = None) -> TableCopy:
    request = CopyRequest(tables=["items"], wheres={"items": where} if where else {})
    copier = Copier(src, dst, request)
    copier.namespace = dst.namespace
    (tc,) = copier.table_copies(src.introspect(["items"]))
    return replace(tc, key_order=True)


def _read_all(source: CopySource, tc: TableCopy, chunk_rows: int, late: Any) -> list[Chunk]:
    """Every range read inside one snapshot on two workers; ``late()`` writes after it opened."""
    ranges = list(source.key_ranges(tc, chunk_rows))
    snapshot = source.open_snapshot(2)
    try:
        late()
        return [snapshot.readers[i % 2].read(tc, rng) for i, rng in enumerate(ranges)]
    finally:
        snapshot.close()


def _load(target: CopyTarget, chunks: list[Chunk]) -> None:
    writer = target.open_writer()
    try:
        for chunk in chunks:
            if chunk.rows:
                writer.write(chunk)
    finally:
        writer.close()


def test_snapshot_chunks_in_key_order_load_exactly_the_snapshot(engine: Engine) -> None:
    src, dst, other = _sides(engine)
    source, target = src.copy_source(), dst.copy_target()
    assert source is not None and target is not None
    tc = _table_copy(src, dst)
    ranges = list(source.key_ranges(tc, 10))
    # about 10 rows each where the engine knows the table's size (one range is fine unknown)
    assert ranges[0].low is None and ranges[-1].high is None
    for before, after in itertools.pairwise(ranges):
        assert before.high == after.low, "ranges tile the key space in key order"

    def late() -> None:
        engine.insert([(100, "late", 1)])
        engine.execute("UPDATE items SET name = 'changed' WHERE id = 1")

    chunks = _read_all(source, tc, 10, late)
    assert sum(c.rows for c in chunks) == len(ROWS)
    lasts = [c.last_key for c in chunks if c.last_key is not None]
    assert lasts == sorted(lasts), "each chunk's last key follows the previous one's"
    assert not target.has_rows(dst.namespace, "items")
    _load(target, chunks)
    assert engine.rows(other) == sorted(ROWS), "the snapshot: no late insert, no late update"
    assert target.has_rows(dst.namespace, "items")


def test_row_filter_selects_rows_in_the_chunk_read(engine: Engine) -> None:
    src, dst, other = _sides(engine)
    source, target = src.copy_source(), dst.copy_target()
    assert source is not None and target is not None
    chunks = _read_all(source, _table_copy(src, dst, "qty > 3"), 10, lambda: None)
    _load(target, chunks)
    assert engine.rows(other) == sorted(r for r in ROWS if r[2] > 3)


def test_truncate_and_drop_objects_undo_a_copy(engine: Engine) -> None:
    src, dst, other = _sides(engine)
    source, target = src.copy_source(), dst.copy_target()
    assert source is not None and target is not None
    _load(target, _read_all(source, _table_copy(src, dst), 100, lambda: None))
    assert engine.rows(other) == sorted(ROWS)
    target.truncate(dst.namespace, ["items"])
    assert not target.has_rows(dst.namespace, "items")
    target.drop_objects(dst.namespace, ["table:items"])
    target.drop_objects(dst.namespace, ["table:items"])  # idempotent
    assert "items" not in dst.existing_tables(dst.namespace)
