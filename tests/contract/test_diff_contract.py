"""Diff reader: hashes computed inside the database — the portable row hash equals the same
MD5 slice on every engine, bucket sums agree between equal tables, and a diff of two databases
finds exactly the rows that differ."""

from __future__ import annotations

import hashlib

from ferryman.core.diff import Domain
from ferryman.core.protocols import DiffReader, Endpoint
from ferryman.core.schema import Column, Kind
from ferryman.pipeline.differ import Differ, DiffRequest
from tests.contract.conftest import Engine

ROWS = [(i, f"n{i}", i * 3) for i in range(1, 41)]


def _reader(ep: Endpoint) -> DiffReader:
    side = ep.diff_source()
    assert side is not None
    return side.open_diff_reader()


def test_row_hash_is_the_engine_neutral_md5_slice(engine: Engine) -> None:
    reader = _reader(engine.endpoint())
    try:
        parts = [reader.literal("abc"), reader.literal("1"), reader.literal("né")]
        (value,) = reader.query(f"SELECT {reader.row_hash(parts)}")[0]
    finally:
        reader.close()
    assert int(value) == int(hashlib.md5("abc|1|né".encode()).hexdigest()[:15], 16)


def test_count_and_hash_sum_agree_between_equal_tables(engine: Engine) -> None:
    engine.items(ROWS)
    other = engine.second()
    engine.items(ROWS, other)
    sums = []
    for ep in (engine.endpoint(), engine.endpoint(other)):
        reader = _reader(ep)
        try:
            columns = ep.introspect(["items"]).table("items").columns
            framed = [reader.framed(reader.canonical(c, _domain(c)), _domain(c)) for c in columns]
            sql = f"SELECT {reader.count_sum(reader.row_hash(framed))} FROM " + reader.table(
                ep.namespace, "items"
            )
            sums.append(tuple(int(v) for v in reader.query(sql)[0]))
        finally:
            reader.close()
    assert sums[0] == sums[1] and sums[0][0] == len(ROWS)


def test_bucket_digest_is_the_md5_of_the_row_texts_in_key_order(engine: Engine) -> None:
    """A bucket digest joins the bucket's row texts by newlines in key order, whatever order
    the rows were written in, and is the same MD5 on every engine."""
    rows = sorted(ROWS, key=lambda r: (r[0] * 7) % 41)  # not in key order
    engine.items(rows)
    ep = engine.endpoint()
    reader = _reader(ep)
    try:
        columns = ep.introspect(["items"]).table("items").columns
        framed = [reader.framed(reader.canonical(c, _domain(c)), _domain(c)) for c in columns]
        bucket = reader.range_bucket(columns[0], 1, 40, 20)  # 1-20 and 21-40
        source = reader.table(ep.namespace, "items")
        sql = reader.bucket_digests(bucket, framed, reader.ident("id"), source)
        got = {int(b): (int(n), str(h)) for b, n, h in reader.query(sql)}
    finally:
        reader.close()

    def digest(part: list[tuple[int, str, int]]) -> str:
        texts = [f"{i}|{len(name)}:{name}|{qty}" for i, name, qty in sorted(part)]
        return hashlib.md5("\n".join(texts).encode()).hexdigest()

    assert got == {
        0: (20, digest([r for r in ROWS if r[0] <= 20])),
        1: (20, digest([r for r in ROWS if r[0] > 20])),
    }


def _domain(col: Column) -> Domain:
    return Domain.INT if col.type.kind is Kind.INTEGER else Domain.TEXT


def test_diff_finds_exactly_the_rows_that_differ(engine: Engine) -> None:
    engine.items(ROWS)
    other = engine.second()
    engine.items(ROWS, other)
    engine.execute("UPDATE items SET name = 'changed' WHERE id = 7", other)
    engine.execute("DELETE FROM items WHERE id = 20", other)
    engine.insert([(99, "extra", 1)], other)
    result = Differ(engine.endpoint(), engine.endpoint(other), DiffRequest()).run()
    (table,) = result.tables
    assert table.rows_compared >= len(ROWS)
    assert (table.mismatched, table.extra_source, table.extra_target) == (1, 1, 1)
    assert sorted((s.kind, s.key["id"]) for s in table.samples) == [
        ("extra_source", "20"),
        ("extra_target", "99"),
        ("mismatched", "7"),
    ]
