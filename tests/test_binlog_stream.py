"""BinlogStream against a real MariaDB (binlog ROW, FULL image, FULL metadata, CRC32)."""

from __future__ import annotations

import threading
import time
from datetime import UTC
from typing import Any

import pytest

from ferryman.core.change import Change, Op, Transaction
from ferryman.core.position import BinlogPosition
from ferryman.engines.mysql.binlog.stream import (
    BinlogPositionLost,
    BinlogStream,
    current_position,
)
from ferryman.testing.rows import MYSQL_COLUMNS, MYSQL_ROWS
from ferryman.testing.samples import MYSQL_EVERY_TYPE
from tests.conftest import MySQLDatabase


def _read(db: MySQLDatabase, start: BinlogPosition, **kwargs: Any) -> list[Transaction]:
    """Every transaction from ``start`` to the end of the log that concerns ``db``."""
    out = []
    for tx in BinlogStream(db.server.url(), start, blocking=False, **kwargs):
        if any(c.namespace == db.name for c in tx.changes):
            out.append(tx)
    return out


def _changes(txs: list[Transaction]) -> list[Change]:
    return [c for tx in txs for c in tx.changes]


def _select_every_type(db: MySQLDatabase, columns: tuple[str, ...], key: int) -> tuple[Any, ...]:
    """The row read back with a normal SELECT, in the stream's value conventions."""
    exprs = []
    for name in columns:
        c = f"`{name}`"
        if name == "t_float":
            exprs.append(f"CAST({c} AS DOUBLE)")
        elif name.startswith("t_bit"):
            exprs.append(f"{c} + 0")
        elif name == "t_uuid":
            exprs.append(f"UNHEX(REPLACE({c}, '-', ''))")
        elif name == "t_inet6":
            exprs.append(f"INET6_ATON({c})")
        else:
            exprs.append(c)
    conn = db.server.connect(db.name)
    try:
        cur = conn.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {', '.join(exprs)} FROM everything WHERE id = {key}")
        row = list(cur.fetchone())
    finally:
        conn.close()
    ts = columns.index("t_ts")
    if row[ts] is not None:
        row[ts] = row[ts].replace(tzinfo=UTC)
    return tuple(row)


def test_every_type_is_decoded_exactly_on_insert_update_delete(mysql_db: MySQLDatabase) -> None:
    for stmt in MYSQL_EVERY_TYPE:
        mysql_db.execute(stmt)
    start = current_position(mysql_db.server.url())
    for row in MYSQL_ROWS:
        mysql_db.execute(f"INSERT INTO everything ({MYSQL_COLUMNS}) VALUES {row}")
    inserted = _changes(_read(mysql_db, start))
    assert [c.op for c in inserted] == [Op.INSERT] * len(MYSQL_ROWS)
    columns = inserted[0].columns
    assert columns[:3] == ("id", "t_tiny", "t_tiny_u")
    expected = {}
    for change in inserted:
        assert change.after is not None
        expected[change.after[0]] = _select_every_type(mysql_db, columns, change.after[0])
        assert change.after == expected[change.after[0]], f"row {change.after[0]}"

    middle = current_position(mysql_db.server.url())
    mysql_db.execute("UPDATE everything SET t_int = t_int - 1, t_vc = CONCAT('u', id) WHERE id = 1")
    mysql_db.execute("DELETE FROM everything WHERE id IN (2, 3)")
    update, *deletes = _changes(_read(mysql_db, middle))
    assert update.op is Op.UPDATE
    old = expected[1]
    assert update.before == old
    assert update.after == _select_every_type(mysql_db, columns, 1)
    assert update.after is not None and update.after[columns.index("t_int")] == 2147483646
    assert [(d.op, d.before) for d in deletes] == [
        (Op.DELETE, expected[2]),
        (Op.DELETE, expected[3]),
    ]


def test_multi_statement_transactions_are_grouped_in_order(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))")
    mysql_db.execute("CREATE TABLE b (id INT PRIMARY KEY)")
    start = current_position(mysql_db.server.url())
    mysql_db.execute(
        "BEGIN NOT ATOMIC START TRANSACTION; INSERT INTO a VALUES (1, 'x'), (2, 'y'); "
        "UPDATE a SET v = 'z' WHERE id = 1; INSERT INTO b VALUES (9); COMMIT; END"
    )
    mysql_db.execute("INSERT INTO b VALUES (10)")
    txs = _read(mysql_db, start)
    assert len(txs) == 2
    first = [(c.op, c.table, c.before, c.after) for c in txs[0].changes]
    assert first == [
        (Op.INSERT, "a", None, (1, "x")),
        (Op.INSERT, "a", None, (2, "y")),
        (Op.UPDATE, "a", (1, "x"), (1, "z")),
        (Op.INSERT, "b", None, (9,)),
    ]
    assert [c.after for c in txs[1].changes] == [(10,)]
    assert txs[0].position < txs[1].position
    assert txs[0].xid and txs[0].commit_time and txs[0].commit_time > 1e9
    assert isinstance(txs[0].position, BinlogPosition) and txs[0].position.gtid


def test_ddl_and_truncate_are_surfaced(mysql_db: MySQLDatabase) -> None:
    start = current_position(mysql_db.server.url())
    mysql_db.execute("CREATE TABLE d (id INT PRIMARY KEY)")
    mysql_db.execute("ALTER TABLE d ADD COLUMN x INT")
    mysql_db.execute("INSERT INTO d VALUES (1, 2)")
    mysql_db.execute("TRUNCATE TABLE d")
    changes = _changes(_read(mysql_db, start))
    assert [c.op for c in changes] == [Op.DDL, Op.DDL, Op.INSERT, Op.TRUNCATE]
    assert changes[0].sql is not None and "CREATE TABLE d" in changes[0].sql
    assert changes[1].sql is not None and "ADD COLUMN x" in changes[1].sql
    assert changes[2].columns == ("id", "x") and changes[2].after == (1, 2)
    assert (changes[3].namespace, changes[3].table) == (mysql_db.name, "d")


def test_rotate_and_resume_from_a_returned_position(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE r (id INT PRIMARY KEY)")
    start = current_position(mysql_db.server.url())
    mysql_db.execute("INSERT INTO r VALUES (1)")
    mysql_db.execute("FLUSH BINARY LOGS")
    for i in range(2, 6):
        mysql_db.execute(f"INSERT INTO r VALUES ({i})")
    txs = _read(mysql_db, start)
    assert [c.after for c in _changes(txs)] == [(i,) for i in range(1, 6)]
    assert txs[1].position.file != txs[0].position.file  # type: ignore[attr-defined]
    # resume from each returned position: exactly the following transactions
    for k, tx in enumerate(txs):
        assert isinstance(tx.position, BinlogPosition)
        rest = _read(mysql_db, tx.position)
        assert [c.after for c in _changes(rest)] == [(i,) for i in range(k + 2, 6)]
    # resume by GTID gives the same
    third = txs[2].position
    assert isinstance(third, BinlogPosition)
    by_gtid = _read(mysql_db, third, use_gtid=True)
    assert [c.after for c in _changes(by_gtid)] == [(4,), (5,)]
    assert [t.position for t in by_gtid] == [t.position for t in txs[3:]]


def test_tables_filter_skips_other_tables(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE keep (id INT PRIMARY KEY)")
    mysql_db.execute("CREATE TABLE skip (id INT PRIMARY KEY)")
    start = current_position(mysql_db.server.url())
    mysql_db.execute("INSERT INTO keep VALUES (1)")
    mysql_db.execute("INSERT INTO skip VALUES (2)")
    mysql_db.execute("INSERT INTO keep VALUES (3)")
    stream = BinlogStream(
        mysql_db.server.url(), start, blocking=False, tables={(mysql_db.name, "keep")}
    )
    txs = list(stream)
    rows = [(c.table, c.after) for c in _changes(txs)]
    assert rows == [("keep", (1,)), ("keep", (3,))]
    assert len(txs) == 3  # the filtered transaction still comes, empty, for its position
    assert stream.position == txs[-1].position


def test_stop_at_stops_after_that_transaction(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE s (id INT PRIMARY KEY)")
    start = current_position(mysql_db.server.url())
    mysql_db.execute("INSERT INTO s VALUES (1)")
    stop = current_position(mysql_db.server.url())
    mysql_db.execute("INSERT INTO s VALUES (2)")
    txs = list(BinlogStream(mysql_db.server.url(), start, stop_at=stop))  # blocking
    assert [c.after for c in _changes(txs)] == [(1,)]
    assert txs[-1].position == stop


def test_purged_binlog_raises_with_position_and_fix(mysql_db: MySQLDatabase) -> None:
    here = current_position(mysql_db.server.url())
    gone = BinlogPosition(here.file.rsplit(".", 1)[0] + ".999999", 4)
    with pytest.raises(BinlogPositionLost) as info:
        list(BinlogStream(mysql_db.server.url(), gone, blocking=False))
    assert str(gone) in info.value.message
    assert "retention" in (info.value.hint or "")


def test_blocking_stream_reconnects_and_resumes(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE k (id INT PRIMARY KEY)")
    start = current_position(mysql_db.server.url())
    stream = BinlogStream(mysql_db.server.url(), start, heartbeat=1.0, server_id=777001)
    seen: list[tuple[Any, ...]] = []

    def writer() -> None:
        mysql_db.execute("INSERT INTO k VALUES (1)")
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        for (pid,) in mysql_db.server.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'"
        ):
            mysql_db.server.execute(f"KILL {int(pid)}")
        mysql_db.execute("INSERT INTO k VALUES (2)")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for tx in stream:
            seen.extend(c.after for c in tx.changes if c.table == "k" and c.after)
            if len(seen) >= 2:
                break
    finally:
        stream.close()
        thread.join()
    assert seen == [(1,), (2,)]
    assert stream.reconnects >= 1


def test_big_transaction_comes_in_pieces_and_a_reconnect_inside_it_goes_on(
    mysql_db: MySQLDatabase,
) -> None:
    """``piece_changes``: a transaction of 40,000 row changes comes as pieces (``more`` on all
    but the last, each with the position before the transaction); a connection killed after the
    first piece resumes after the changes already yielded: none twice, none lost, in order. A
    transaction that begins at or after ``stop_at`` is not begun."""
    rows = 40_000
    mysql_db.execute("CREATE TABLE p (id INT PRIMARY KEY, v VARCHAR(300))")
    start = current_position(mysql_db.server.url())
    conn = mysql_db.server.connect(mysql_db.name)
    try:
        cur = conn.cursor()
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO p SELECT seq, REPEAT('x', 250) FROM seq_1_to_{rows}")
        cur.execute("COMMIT")
        cur.execute("INSERT INTO p VALUES (0, 'after')")
        stream = BinlogStream(
            mysql_db.server.url(), start, blocking=False, piece_changes=5000, server_id=777002
        )
        pieces: list[Transaction] = []
        for tx in stream:
            pieces.append(tx)
            if len(pieces) == 1:  # the connection dies inside the transaction
                cur.execute(f"KILL {stream._conn.thread_id()}")
    finally:
        conn.close()
    first = next(i for i, t in enumerate(pieces) if t.more)
    end = next(i for i, t in enumerate(pieces) if i > first and not t.more)
    big = pieces[first : end + 1]  # (the last piece may hold no change: the commit)
    assert [t.more for t in big] == [True] * (len(big) - 1) + [False]
    assert len(big) >= 8
    assert all(t.position == start for t in big[:-1])
    assert [c.after[0] for t in big for c in t.changes] == list(range(1, rows + 1))
    assert stream.reconnects >= 1
    assert pieces[-1].changes[0].after == (0, "after") and not pieces[-1].more
    # stop_at at the end of the big transaction: the next one is not begun
    stop = big[-1].position
    got = list(
        BinlogStream(mysql_db.server.url(), start, stop_at=stop, piece_changes=5000, blocking=False)
    )
    assert [c.after[0] for t in got for c in t.changes] == list(range(1, rows + 1))
