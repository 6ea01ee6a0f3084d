"""The PostgreSQL change stream against a real server (wal_level=logical): pgoutput end to end."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import time as dtime
from typing import Any

import pytest

from ferryman.core.change import UNCHANGED, Change, Op, Transaction
from ferryman.core.findings import Level
from ferryman.core.position import LSN
from ferryman.core.url import DatabaseURL, parse_url
from ferryman.engines.postgres.connection import connect
from ferryman.engines.postgres.logical.pgoutput import Relation
from ferryman.engines.postgres.logical.stream import (
    PgOutputStream,
    SlotMissing,
    create_publication,
    create_slot,
    drop_publication,
    drop_slot,
    replica_identity_findings,
)
from ferryman.testing.rows import POSTGRES_COLUMNS, POSTGRES_ROWS
from ferryman.testing.samples import POSTGRES_EVERY_TYPE
from tests.conftest import PostgresDatabase

SLOT = "ferryman_test"
PUB = "ferryman_pub"


@pytest.fixture
def src(pg_db: PostgresDatabase) -> Iterator[tuple[PostgresDatabase, DatabaseURL]]:
    url = parse_url(pg_db.url)
    yield pg_db, url
    drop_slot(url, SLOT)  # also proves drop_slot is idempotent when a test dropped it


def read_all(url: DatabaseURL, **kwargs: Any) -> list[Transaction]:
    with PgOutputStream(url, SLOT, PUB, until_caught_up=True, **kwargs) as stream:
        return list(stream.transactions())


def changes(txns: list[Transaction]) -> list[Change]:
    return [c for t in txns for c in t.changes]


# Columns read plainly; the decoder keeps the others as the server's text, read with
# format('%s', ...) (the type's output function, as pgoutput sends it; ::text differs for inet).
CONVERTED = {
    "id",
    "big_id",
    "ident_always",
    "ident_default",
    "t_small",
    "t_int",
    "t_big",
    "t_num",
    "t_num_ps",
    "t_real",
    "t_double",
    "t_bool",
    "t_date",
    "t_ts",
    "t_ts3",
    "t_tstz",
    "t_tstz3",
    "t_bytea",
    "t_char",  # kept as text, padding included (a ::text cast would strip it)
}


def selected(url: DatabaseURL, columns: tuple[str, ...], where: str) -> tuple[Any, ...]:
    """The row as plain psycopg reads it; text-kept columns (and time, for 24:00) as text."""
    exprs = ", ".join(
        c if c in CONVERTED else f"CASE WHEN {c} IS NOT NULL THEN format('%s', {c}) END"
        for c in columns
    )
    with contextlib.closing(connect(url)) as conn:
        row = conn.execute(f"SELECT {exprs} FROM everything WHERE {where}").fetchone()
    assert row is not None
    return tuple(row)


def normalized(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """time values as PostgreSQL prints them (the SELECT side reads time as text)."""
    return tuple(v.isoformat() if isinstance(v, dtime) else v for v in row)


def test_every_type_decodes_like_a_select(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    db, url = src
    for statement in POSTGRES_EVERY_TYPE:
        db.execute(statement)
    create_publication(url, PUB, [("public", "everything")])
    start = create_slot(url, SLOT)
    for row in POSTGRES_ROWS:
        db.execute(f"INSERT INTO everything ({POSTGRES_COLUMNS}) VALUES {row}")
    txns = read_all(url)
    assert [len(t.changes) for t in txns] == [1, 1, 1]
    assert all(isinstance(t.position, LSN) and t.position > start for t in txns)
    assert [t.position for t in txns] == sorted(t.position for t in txns)
    for change in changes(txns):
        assert change.op is Op.INSERT and change.table == "everything"
        assert change.namespace == "public" and change.after is not None
        assert "t_gen" not in change.columns  # generated columns are not published
        ident = change.after[change.columns.index("id")]
        assert normalized(change.after) == selected(url, change.columns, f"id = {ident}")

    first = txns[-1].position
    assert isinstance(first, LSN)
    db.execute("UPDATE everything SET t_int = 7, t_text = 'changed' WHERE id IN (1, 2)")
    db.execute("UPDATE everything SET id = 30 WHERE id = 3")
    txns = read_all(url, start=first)
    assert [len(t.changes) for t in txns] == [2, 1]
    updates = txns[0].changes + txns[1].changes
    for change in updates:
        assert change.op is Op.UPDATE and change.after is not None
        ident = change.after[0]
        assert normalized(change.after) == selected(url, change.columns, f"id = {ident}")
    assert updates[0].before is None  # key unchanged, REPLICA IDENTITY DEFAULT: no old row
    moved = updates[2]
    assert moved.before_key_only and moved.before is not None
    assert moved.before[0] == 3 and set(moved.before[1:]) == {None}
    last = txns[-1].position
    db.execute("DELETE FROM everything WHERE id = 1")
    ((deleted,),) = [t.changes for t in read_all(url, start=last)]
    assert deleted.op is Op.DELETE and deleted.before_key_only and deleted.after is None
    assert deleted.before is not None and deleted.before[0] == 1


def test_transactions_group_changes_with_truncate_and_messages_in_order(
    src: tuple[PostgresDatabase, DatabaseURL],
) -> None:
    db, url = src
    db.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY)")
    create_publication(url, PUB, [("public", "a"), ("public", "b")])
    create_slot(url, SLOT)
    with contextlib.closing(connect(url)) as conn:
        with conn.transaction():
            conn.execute("INSERT INTO a VALUES (1, 'x'), (2, 'y')")
            conn.execute("SELECT pg_logical_emit_message(true, 'ferryman', 'wm-1')")
            conn.execute("INSERT INTO b VALUES (10)")
            conn.execute("UPDATE a SET v = 'z' WHERE id = 2")
        conn.execute("SELECT pg_logical_emit_message(true, 'ferryman', 'wm-2')")
        conn.execute("TRUNCATE a, b")
    txns = read_all(url)
    assert len(txns) == 3
    first = [(c.op, c.table, c.after, c.sql) for c in txns[0].changes]
    assert first == [
        (Op.INSERT, "a", (1, "x"), None),
        (Op.INSERT, "a", (2, "y"), None),
        (Op.MESSAGE, "", None, "wm-1"),
        (Op.INSERT, "b", (10,), None),
        (Op.UPDATE, "a", (2, "z"), None),
    ]
    assert txns[0].changes[2].prefix == "ferryman"
    assert txns[0].xid is not None and txns[0].commit_time is not None
    assert abs(txns[0].commit_time - time.time()) < 60
    assert [(c.op, c.sql) for c in txns[1].changes] == [(Op.MESSAGE, "wm-2")]
    assert sorted((c.op, c.table) for c in txns[2].changes) == [
        (Op.TRUNCATE, "a"),
        (Op.TRUNCATE, "b"),
    ]


def toast_table(db: PostgresDatabase, url: DatabaseURL, identity: str) -> str:
    db.execute("CREATE TABLE doc (id int PRIMARY KEY, n int, body text)")
    db.execute("ALTER TABLE doc ALTER COLUMN body SET STORAGE EXTERNAL")
    db.execute(f"ALTER TABLE doc REPLICA IDENTITY {identity}")
    create_publication(url, PUB, [("public", "doc")])
    create_slot(url, SLOT)
    big = "".join(f"{i:05d}" for i in range(2000))  # 10 kB, uncompressed: TOASTed
    db.execute(f"INSERT INTO doc VALUES (1, 1, '{big}')")
    db.execute("UPDATE doc SET n = 2 WHERE id = 1")
    return big


def test_unchanged_toast_is_marked_with_replica_identity_default(
    src: tuple[PostgresDatabase, DatabaseURL],
) -> None:
    db, url = src
    big = toast_table(db, url, "DEFAULT")
    inserted, updated = changes(read_all(url))
    assert inserted.after == (1, 1, big)
    assert updated.after == (1, 2, UNCHANGED)
    findings = replica_identity_findings(url, [("public", "doc")])
    assert [(f.level, f.check, f.object) for f in findings] == [
        (Level.WARN, "unchanged_toast", "public.doc")
    ]
    assert findings[0].fix == 'ALTER TABLE "public"."doc" REPLICA IDENTITY FULL'


def test_unchanged_toast_is_present_with_replica_identity_full(
    src: tuple[PostgresDatabase, DatabaseURL],
) -> None:
    db, url = src
    big = toast_table(db, url, "FULL")
    _inserted, updated = changes(read_all(url))
    assert updated.before == (1, 1, big) and not updated.before_key_only
    assert updated.after == (1, 2, big)
    assert replica_identity_findings(url, [("public", "doc")]) == []


def test_table_without_key_is_reported(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    db, url = src
    db.execute("CREATE TABLE nokey (a int)")
    (finding,) = replica_identity_findings(url, [("public", "nokey")])
    assert (finding.level, finding.check) == (Level.FAIL, "replica_identity")
    assert finding.fix is not None and "REPLICA IDENTITY FULL" in finding.fix


def slot_flush(db: PostgresDatabase) -> LSN | None:
    rows = db.execute(
        f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{SLOT}'"
    )
    return LSN.parse(str(rows[0][0])) if rows and rows[0][0] else None


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_confirm_advances_the_slot_and_resume_delivers_exactly_the_rest(
    src: tuple[PostgresDatabase, DatabaseURL],
) -> None:
    db, url = src
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    create_publication(url, PUB, [("public", "t")])
    start = create_slot(url, SLOT)
    for i in range(1, 6):
        db.execute(f"INSERT INTO t VALUES ({i})")
    with PgOutputStream(url, SLOT, PUB, until_caught_up=True) as stream:
        txns = list(stream.transactions())
        assert len(txns) == 5
        # Nothing confirmed yet: the slot has not passed the first transaction (keepalives were
        # answered; psycopg2 may have moved it over the WAL before it, which held nothing).
        flushed = slot_flush(db)
        assert flushed is not None and start <= flushed < txns[0].position
        second = txns[1].position
        assert isinstance(second, LSN)
        stream.confirm(second)
        assert wait_for(lambda: slot_flush(db) == second), slot_flush(db)
    # A new session from the confirmed position: exactly transactions 3, 4, 5.
    later = read_all(url, start=second)
    assert [c.after for c in changes(later)] == [(3,), (4,), (5,)]
    # Without a start position the slot's confirmed position is used: the same three.
    again = read_all(url)
    assert [c.after for c in changes(again)] == [(3,), (4,), (5,)]
    # Reading without confirming never passes an unconfirmed transaction. (psycopg2 may move the
    # flush position over WAL that held nothing for the slot, when all it read is confirmed.)
    flushed = slot_flush(db)
    assert flushed is not None and second <= flushed < txns[2].position


def test_stop_at_stops_after_that_transaction(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    db, url = src
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    create_publication(url, PUB, [("public", "t")])
    create_slot(url, SLOT)
    for i in range(1, 4):
        db.execute(f"INSERT INTO t VALUES ({i})")
    positions = [t.position for t in read_all(url)]
    stop = positions[1]
    assert isinstance(stop, LSN)
    with PgOutputStream(url, SLOT, PUB, stop_at=stop) as stream:
        got = list(stream.transactions())
    assert [t.position for t in got] == positions[:2]


def test_relation_change_is_detected(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    db, url = src
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    create_publication(url, PUB, [("public", "t")])
    create_slot(url, SLOT)
    db.execute("INSERT INTO t VALUES (1)")
    db.execute("ALTER TABLE t ADD COLUMN v text")
    db.execute("INSERT INTO t VALUES (2, 'two')")
    seen: list[tuple[Relation, Relation]] = []
    txns = read_all(url, on_relation_change=lambda old, new: seen.append((old, new)))
    assert [c.after for c in changes(txns)] == [(1,), (2, "two")]
    assert [(old.names, new.names) for old, new in seen] == [(("id",), ("id", "v"))]


def test_missing_slot_raises_naming_it(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    db, url = src
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    create_publication(url, PUB, [("public", "t")])
    with pytest.raises(SlotMissing, match=SLOT) as info:
        read_all(url)
    assert info.value.hint is not None and "move create" in info.value.hint


def test_publication_and_slot_lifecycle(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    db, url = src
    db.execute('CREATE TABLE "Odd ""name""" (id int PRIMARY KEY)')
    create_publication(url, PUB, [("public", 'Odd "name"')])
    assert db.execute(f"SELECT tablename FROM pg_publication_tables WHERE pubname = '{PUB}'") == [
        ('Odd "name"',)
    ]
    drop_publication(url, PUB)
    drop_publication(url, PUB)  # idempotent
    create_slot(url, SLOT)
    drop_slot(url, SLOT)
    drop_slot(url, SLOT)  # idempotent
    assert db.execute(f"SELECT 1 FROM pg_replication_slots WHERE slot_name = '{SLOT}'") == []


def test_keys_only_publication_lists_what_the_replica_identity_needs(
    src: tuple[PostgresDatabase, DatabaseURL],
) -> None:
    """A key-only publication (the drift guard's) lists the primary key plus every replica
    identity's columns of the table and its partitions, or no column list at all where one is
    FULL or there is no primary key: UPDATE and DELETE of every such table still work."""
    db, url = src
    db.execute(
        'CREATE TABLE "k a" ("the id" int PRIMARY KEY, v text);'
        "CREATE TABLE full_ident (id int PRIMARY KEY, v text);"
        "ALTER TABLE full_ident REPLICA IDENTITY FULL;"
        "CREATE TABLE by_index (id int PRIMARY KEY, code int NOT NULL, v text);"
        "CREATE UNIQUE INDEX by_index_code ON by_index (code);"
        "ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;"
        "CREATE TABLE no_key (id int NOT NULL, v text);"
        "ALTER TABLE no_key REPLICA IDENTITY FULL;"
        "CREATE TABLE parts (id int, at int, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
        "CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (0) TO (10);"
        "CREATE TABLE parts_2 PARTITION OF parts FOR VALUES FROM (10) TO (20);"
        "ALTER TABLE parts_2 REPLICA IDENTITY FULL;"
        "CREATE TABLE parts_ok (id int, at int, v text, PRIMARY KEY (id, at)) "
        "PARTITION BY RANGE (at);"
        "CREATE TABLE parts_ok_1 PARTITION OF parts_ok FOR VALUES FROM (0) TO (10)"
    )
    tables = ["k a", "full_ident", "by_index", "no_key", "parts", "parts_ok"]
    create_publication(url, PUB, [("public", t) for t in tables], keys_only=True)
    try:
        listed = dict(
            db.execute(
                "SELECT tablename, array_to_string(attnames, ',') FROM pg_publication_tables "
                f"WHERE pubname = '{PUB}'"
            )
        )
        assert listed == {
            "k a": "the id",
            "full_ident": "id,v",
            "by_index": "id,code",
            "no_key": "id,v",
            "parts": "id,at,v",
            "parts_ok": "id,at",
        }
        for t in tables:
            quoted = f'"{t}"'
            first = '"the id"' if t == "k a" else "id"
            extra = ", 1" if t == "by_index" else ", 1" if t.startswith("parts") else ""
            db.execute(f"INSERT INTO {quoted} VALUES (1{extra}, 'x')")
            db.execute(f"UPDATE {quoted} SET v = 'y' WHERE {first} = 1")
            db.execute(f"DELETE FROM {quoted} WHERE {first} = 1")
        db.execute(
            "INSERT INTO parts VALUES (1, 15, 'x'); UPDATE parts SET v = 'y'; DELETE FROM parts"
        )
    finally:
        drop_publication(url, PUB)


def test_big_transaction_comes_in_pieces(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    """``piece_changes``: a transaction of 250 changes comes as pieces (``more`` on all but the
    last, each with the position before it; ``current_commit`` is its commit LSN meanwhile)."""
    db, url = src
    db.execute("CREATE TABLE p (id integer PRIMARY KEY)")
    create_publication(url, PUB, [("public", "p")])
    start = create_slot(url, SLOT)
    db.execute("INSERT INTO p SELECT generate_series(1, 250)")
    db.execute("INSERT INTO p VALUES (1000)")
    commits = []
    with PgOutputStream(
        url, SLOT, PUB, start=start, until_caught_up=True, piece_changes=100
    ) as stream:
        txns = []
        for tx in stream.transactions():
            txns.append(tx)
            commits.append(stream.current_commit)
    assert [t.more for t in txns] == [True, True, False, False]
    assert [len(t.changes) for t in txns] == [100, 100, 50, 1]
    assert txns[0].position == txns[1].position == start
    assert [c.after for c in changes(txns[:3])] == [(i,) for i in range(1, 251)]
    assert commits[0] is not None and commits[0] < txns[2].position


def test_feed_stop_at_with_pieces(src: tuple[PostgresDatabase, DatabaseURL]) -> None:
    """The move's feed with ``stop_at`` and pieces: a big transaction ending at ``stop_at``
    comes whole; the next big one (its commit after ``stop_at``) is not begun."""
    from ferryman.engines.postgres.changes import PostgresChangeFeed, prepare, stream_name

    db, url = src
    db.execute("CREATE TABLE p (id integer PRIMARY KEY)")
    start = prepare(url, "piecefeed", [("public", "p")])
    try:
        db.execute("INSERT INTO p SELECT generate_series(1, 250)")
        with PgOutputStream(
            url,
            stream_name("piecefeed"),
            stream_name("piecefeed"),
            start=start,
            until_caught_up=True,
        ) as stream:
            (first,) = list(stream.transactions())
        db.execute("INSERT INTO p SELECT generate_series(251, 500)")
        feed = PostgresChangeFeed(
            url, "piecefeed", start, stop_at=first.position, piece_changes=100
        )
        try:
            got = list(feed.transactions())
        finally:
            feed.close()
        assert [t.more for t in got] == [True, True, False]
        assert [c.after for c in changes(got)] == [(i,) for i in range(1, 251)]
    finally:
        drop_slot(url, stream_name("piecefeed"))
        drop_publication(url, stream_name("piecefeed"))
