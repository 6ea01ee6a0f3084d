"""Consistent multi-connection snapshots and their positions.

The position tests are pure. The snapshot tests run against real servers while a background
writer commits one row per transaction and records, after each commit, where the log stood. A
snapshot is right when every worker sees the same rows and exactly the rows committed up to its
position are among them (PostgreSQL's exact method is checked against the slot's own change
stream: snapshot + stream = every transaction, once).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ferryman.core.errors import ConfigError, PermissionDenied, PreconditionFailed
from ferryman.core.position import LSN, BinlogPosition, Position
from ferryman.core.url import parse_url
from ferryman.engines.mysql import snapshot as mysnap
from ferryman.engines.postgres import snapshot as pgsnap
from ferryman.testing.servers import MariaDBServer, PostgresServer, start_mariadb
from tests.conftest import MySQLDatabase, PostgresDatabase

# --- positions (pure) ----------------------------------------------------------------------


def test_binlog_positions_order_by_file_number_then_offset() -> None:
    a = BinlogPosition("mysql-bin.9", 900_000)
    b = BinlogPosition("mysql-bin.10", 4)  # "10" < "9" as text: the number decides
    c = BinlogPosition("mysql-bin.10", 120)
    assert a < b < c and c > b > a and a <= a and c >= c
    assert sorted([c, a, b]) == [a, b, c]
    assert max([a, c, b]) is c


def test_binlog_positions_are_equal_by_file_and_offset() -> None:
    p = BinlogPosition("binlog.000003", 1234, "0-1-42")
    assert p == BinlogPosition("binlog.000003", 1234, None)
    assert hash(p) == hash(BinlogPosition("binlog.000003", 1234))
    assert p != BinlogPosition("binlog.000003", 1235, "0-1-42")


def test_positions_of_different_kinds_do_not_compare() -> None:
    binlog, lsn = BinlogPosition("binlog.000001", 4), LSN(4)
    assert binlog != lsn
    with pytest.raises(TypeError):
        assert binlog < lsn  # type: ignore[operator]
    with pytest.raises(TypeError):
        assert lsn >= binlog  # type: ignore[operator]


def test_binlog_position_text() -> None:
    assert str(BinlogPosition("binlog.000003", 1234, "0-1-42")) == "binlog.000003:1234 gtid 0-1-42"
    assert str(BinlogPosition("binlog.000003", 1234)) == "binlog.000003:1234"
    mysql = BinlogPosition("binlog.000007", 157, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,aa:1-3")
    for position in (mysql, BinlogPosition("b.1", 4), BinlogPosition("b.2", 4, "0-1-1,1-2-5")):
        parsed = BinlogPosition.parse(str(position))
        assert (parsed.file, parsed.pos, parsed.gtid) == (
            position.file,
            position.pos,
            position.gtid,
        )
    for bad in ("binlog:12", "binlog.000001", "binlog.000001:x", ""):
        with pytest.raises(ConfigError):
            BinlogPosition.parse(bad)
    with pytest.raises(ValueError):
        BinlogPosition("binlog", 4)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16/B374D848", 0x16_B374D848),
        ("0/0", 0),
        ("0/1943210", 0x1943210),
        ("FFFFFFFF/FFFFFFFF", (1 << 64) - 1),
    ],
)
def test_lsn_parse_and_format(text: str, value: int) -> None:
    lsn = LSN.parse(text)
    assert lsn.value == value
    assert lsn.format() == text
    assert str(lsn) == f"LSN {text}"
    assert LSN.parse(text.lower()) == lsn
    assert LSN.parse(str(lsn)) == lsn


def test_lsn_order_is_numeric_not_textual() -> None:
    assert LSN.parse("9/0") < LSN.parse("A/0") < LSN.parse("10/0") < LSN.parse("10/1")
    assert LSN.parse("0/FFFFFFFF") < LSN.parse("1/0")


@pytest.mark.parametrize("bad", ["16B374D848", "16/", "/1", "G/1", "1/2/3", "123456789/0", ""])
def test_lsn_rejects_malformed_text(bad: str) -> None:
    with pytest.raises(ConfigError):
        LSN.parse(bad)


def test_lsn_range() -> None:
    with pytest.raises(ValueError):
        LSN(-1)
    with pytest.raises(ValueError):
        LSN(1 << 64)


@pytest.mark.parametrize(
    "position",
    [
        BinlogPosition("binlog.000003", 1234, "0-1-42"),
        BinlogPosition("mysql-bin.000001", 4, None),
        LSN.parse("16/B374D848"),
        LSN((1 << 64) - 1),
    ],
)
def test_position_json_round_trip(position: Position) -> None:
    data = json.loads(json.dumps(position.to_json()))
    assert data["kind"] == position.kind
    back = Position.from_json(data)
    assert type(back) is type(position)
    assert back == position and str(back) == str(position)


def test_lsn_json_is_text() -> None:
    assert LSN.parse("16/B374D848").to_json() == {"kind": "lsn", "lsn": "16/B374D848"}


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "gtid", "set": "x"},
        {"file": "binlog.000001", "pos": 4},
        {"kind": "binlog", "file": "binlog.000001"},
        {"kind": "binlog", "file": "binlog.000001", "pos": "4"},
        {"kind": "binlog", "file": "binlog", "pos": 4},
        {"kind": "lsn", "lsn": "nope"},
        {"kind": "lsn", "lsn": None},
        ["lsn", "0/0"],
    ],
)
def test_position_from_json_rejects_what_to_json_never_writes(data: Any) -> None:
    with pytest.raises(ConfigError):
        Position.from_json(data)


# --- background writers --------------------------------------------------------------------


class Writer(threading.Thread):
    """Commits one row per transaction, as fast as it can, and records (id, position) after
    each commit via ``step``. ``finish()`` stops it and re-raises what went wrong in it."""

    def __init__(self, step: Callable[[], tuple[int, Any]], close: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.step = step
        self.close = close
        self.records: list[tuple[int, Any]] = []
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                self.records.append(self.step())
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            if self.error is not None or time.monotonic() > deadline:
                self.finish()
                raise AssertionError(f"writer made {len(self.records)} of {count} rows")
            time.sleep(0.002)

    def more(self, count: int) -> None:
        """Wait until ``count`` more rows than now are committed."""
        self.wait_for(len(self.records) + count)

    def finish(self) -> list[tuple[int, Any]]:
        self._stop_event.set()
        self.join(10)
        self.close()
        if self.error is not None:
            raise self.error
        return self.records


def mysql_writer(server: MariaDBServer, database: str, *, positions: bool = True) -> Writer:
    conn = server.connect(database)
    cur = conn.cursor()

    def step() -> tuple[int, Any]:
        cur.execute("INSERT INTO t (v) VALUES (1)")
        row_id = int(cur.lastrowid)
        if not positions:
            return row_id, None
        cur.execute("SHOW MASTER STATUS")
        file, pos = cur.fetchone()[:2]
        cur.execute("SELECT @@gtid_binlog_pos")
        return row_id, BinlogPosition(file, int(pos), cur.fetchone()[0])

    writer = Writer(step, conn.close)
    writer.start()
    return writer


def pg_writer(server: PostgresServer, database: str) -> Writer:
    conn = server.connect(database)

    def step() -> tuple[int, Any]:
        row = conn.execute(
            "INSERT INTO t (v) VALUES (1) RETURNING id, pg_current_xact_id()::text::bigint"
        ).fetchone()
        lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        # (xid, insert position after the commit, which is past the commit record)
        return int(row[0]), (int(row[1]), LSN.parse(str(lsn)))

    writer = Writer(step, conn.close)
    writer.start()
    return writer


def worker_ids(conn: Any) -> list[int]:
    cur = conn.cursor()
    try:
        cur.execute("SELECT id FROM t ORDER BY id")
        return [int(row[0]) for row in cur.fetchall()]
    finally:
        cur.close()


def all_see_the_same(connections: list[Any]) -> list[int]:
    views = [worker_ids(conn) for conn in connections]
    assert all(view == views[0] for view in views[1:]), [(len(v), v[-1:]) for v in views]
    return views[0]


# --- MariaDB -------------------------------------------------------------------------------


@pytest.fixture
def mysql_user(mysql_db: MySQLDatabase) -> Iterator[str]:
    """A URL of a user with SELECT on the database and the replication rights of a change
    stream (REPLICATION SLAVE, BINLOG MONITOR), but not RELOAD."""
    name = f"snap_{uuid.uuid4().hex[:8]}"
    server = mysql_db.server
    server.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'")
    try:
        server.execute(f"GRANT SELECT ON `{mysql_db.name}`.* TO '{name}'@'%'")
        server.execute(f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{name}'@'%'")
        yield server.url(mysql_db.name, user=name, password="pw")
    finally:
        server.execute(f"DROP USER '{name}'@'%'")


def _sessions_of(server: MariaDBServer, user: str) -> int:
    rows = server.execute(
        f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}'"
    )
    return int(rows[0][0])


@pytest.mark.parametrize(
    ("workers", "force", "limited", "method"),
    [
        (4, None, True, mysnap.SNAPSHOT_SYNC),  # no lock: SELECT is enough
        (1, None, True, mysnap.SNAPSHOT_SYNC),
        (4, mysnap.BLOCK_COMMIT, False, mysnap.BLOCK_COMMIT),
        (3, mysnap.FTWRL, False, mysnap.FTWRL),
    ],
)
def test_mariadb_snapshot_is_exactly_its_binlog_position(
    mysql_db: MySQLDatabase,
    mysql_user: str,
    workers: int,
    force: str | None,
    limited: bool,
    method: str,
) -> None:
    mysql_db.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB")
    url = parse_url(mysql_user if limited else mysql_db.url)
    writer = mysql_writer(mysql_db.server, mysql_db.name)
    try:
        writer.wait_for(30)
        # raw (bytes) worker connections, as the copy uses them, for half of the cases
        snap = mysnap.open_snapshot(url, workers, force_method=force, raw=workers % 2 == 1)
        writer.more(30)  # commits after the snapshot must stay invisible
    finally:
        records = writer.finish()
    with snap:
        assert snap.method == method
        assert len(snap.connections) == workers
        position = snap.position
        assert position is not None
        visible = all_see_the_same(snap.connections)
        expected = [row_id for row_id, after_commit in records if after_commit <= position]
        assert visible == expected
        assert 0 < len(visible) < len(records)
        # nothing but the writer writes: the snapshot ends exactly after its last visible row,
        # and BINLOG_GTID_POS gives the GTID position the writer saw after that commit
        last_visible = records[len(visible) - 1][1]
        assert last_visible == position
        assert position.gtid == last_visible.gtid and position.gtid


def test_mariadb_lock_without_reload_names_the_privilege_and_the_lock_free_way(
    mysql_db: MySQLDatabase, mysql_user: str
) -> None:
    url = parse_url(mysql_user)
    user = url.user or ""
    with pytest.raises(PermissionDenied) as caught:
        mysnap.open_snapshot(url, 4, force_method=mysnap.BLOCK_COMMIT)
    error = caught.value
    assert "RELOAD" in error.message and "BACKUP STAGE" in error.message
    assert error.hint is not None
    assert f"GRANT RELOAD ON *.* TO '{user}'@'%'" in error.hint and "--jobs 1" in error.hint
    deadline = time.monotonic() + 5  # every connection it opened is closed again
    while _sessions_of(mysql_db.server, user) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _sessions_of(mysql_db.server, user) == 0


def test_mariadb_snapshot_rejects_bad_arguments(mysql_db: MySQLDatabase) -> None:
    url = parse_url(mysql_db.url)
    with pytest.raises(ConfigError):
        mysnap.open_snapshot(url, 0)
    with pytest.raises(ConfigError):
        mysnap.open_snapshot(url, 2, force_method="magic")


@pytest.mark.servers  # starts its own MariaDB
def test_mariadb_without_binlog_gives_consistent_snapshots_and_no_position() -> None:
    server = start_mariadb(server_id=104, log_bin=False)
    try:
        server.execute("CREATE DATABASE d")
        server.execute("CREATE TABLE d.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        url = parse_url(server.url("d"))
        writer = mysql_writer(server, "d", positions=False)
        try:
            writer.wait_for(20)
            many = mysnap.open_snapshot(url, 3)
            one = mysnap.open_snapshot(url, 1)
            writer.more(20)
        finally:
            records = writer.finish()
        with many, one:
            assert (many.method, many.position) == ("block-commit, binlog-off", None)
            assert (one.method, one.position) == ("single-snapshot, binlog-off", None)
            seen = all_see_the_same(many.connections)
            assert 0 < len(seen) <= len(worker_ids(one.connections[0])) < len(records)
    finally:
        server.stop()


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_table(pg_db: PostgresDatabase) -> None:
    pg_db.execute("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int)")


def _visible_xids(conn: Any, xids: list[int]) -> set[int]:
    """The xids among ``xids`` that ``conn``'s transaction snapshot counts as committed."""
    rows = conn.execute(
        "SELECT x FROM unnest(%s::bigint[]) AS x "
        "WHERE pg_visible_in_snapshot(x::text::xid8, pg_current_snapshot())",
        [xids],
    ).fetchall()
    return {int(row[0]) for row in rows}


def _slots(pg_db: PostgresDatabase) -> list[str]:
    rows = pg_db.server.execute(
        f"SELECT slot_name FROM pg_replication_slots WHERE database = '{pg_db.name}'"
    )
    return [str(row[0]) for row in rows]


def test_postgres_slot_snapshot_is_shared_and_its_temporary_slot_goes_away(
    pg_db: PostgresDatabase,
) -> None:
    _pg_table(pg_db)
    url = parse_url(pg_db.url)
    writer = pg_writer(pg_db.server, pg_db.name)
    try:
        writer.wait_for(30)
        snap = pgsnap.open_snapshot(url, 4)
        writer.more(30)
    finally:
        records = writer.finish()
    with snap:
        assert (snap.method, snap.slot, snap.note) == (pgsnap.REPLICATION_SLOT, None, "")
        visible = all_see_the_same(snap.connections)
        assert 0 < len(visible) < len(records)
        xid_of = {row_id: xid for row_id, (xid, _) in records}
        for conn in snap.connections:  # PostgreSQL's own visibility agrees with the rows seen
            assert _visible_xids(conn, list(xid_of.values())) == {xid_of[i] for i in visible}
        for row_id, (_, after_commit) in records:  # commit end <= after_commit
            if row_id in visible:
                continue
            assert after_commit >= snap.position, (row_id, after_commit, snap.position)
        assert all(row_id in visible for row_id, (_, a) in records if a < snap.position)
    deadline = time.monotonic() + 5
    while _slots(pg_db) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _slots(pg_db) == []


def test_postgres_permanent_slot_streams_exactly_what_the_snapshot_lacks(
    pg_db: PostgresDatabase,
) -> None:
    _pg_table(pg_db)
    pg_db.execute("CREATE PUBLICATION pub FOR TABLE t")
    slot = f"ferryman_test_{uuid.uuid4().hex[:8]}"
    writer = pg_writer(pg_db.server, pg_db.name)
    try:
        writer.wait_for(30)
        snap = pgsnap.open_snapshot(parse_url(pg_db.url), 2, slot=slot)
        writer.more(30)
    finally:
        records = writer.finish()
    with snap:
        assert (snap.method, snap.slot) == (pgsnap.REPLICATION_SLOT, slot)
        visible = set(all_see_the_same(snap.connections))
        in_snapshot = {xid for row_id, (xid, _) in records if row_id in visible}
    assert _slots(pg_db) == [slot]  # kept for the live move
    confirmed = pg_db.execute(
        f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{slot}'"
    )
    assert LSN.parse(str(confirmed[0][0])) == snap.position
    with pg_db.server.connect(pg_db.name) as conn:  # the peek reads flushed WAL only
        conn.execute("SET synchronous_commit = on")
        conn.execute("CREATE TABLE flush_the_wal (x int)")  # its commit flushes all before it
    streamed = {
        int(row[0])
        for row in pg_db.execute(
            "SELECT DISTINCT xid::text::bigint FROM pg_logical_slot_peek_binary_changes("
            f"'{slot}', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub') "
            "WHERE get_byte(data, 0) = ascii('I')"
        )
    }
    every = {xid for _, (xid, _) in records}
    assert 0 < len(in_snapshot) < len(every)
    assert in_snapshot.isdisjoint(streamed)
    assert in_snapshot | streamed == every


def test_postgres_without_replication_falls_back_to_an_exported_snapshot(
    pg_db: PostgresDatabase,
) -> None:
    _pg_table(pg_db)
    role = f"snap_{uuid.uuid4().hex[:8]}"
    server = pg_db.server
    server.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    try:
        pg_db.execute(f"GRANT SELECT ON t TO {role}")
        url = parse_url(server.url(pg_db.name, user=role, password="pw"))
        writer = pg_writer(server, pg_db.name)
        try:
            writer.wait_for(30)
            snap = pgsnap.open_snapshot(url, 4)
            writer.more(30)
        finally:
            records = writer.finish()
        with snap:
            assert (snap.method, snap.slot) == (pgsnap.EXPORT_SNAPSHOT, None)
            assert "REPLICATION" in snap.note or "replication" in snap.note
            visible = set(all_see_the_same(snap.connections))
            assert 0 < len(visible) < len(records)
            # the LSN was read before the snapshot: all committed before it are visible
            before = {
                row_id for row_id, (_, after_commit) in records if after_commit < snap.position
            }
            assert before and before <= visible
        with pytest.raises(PermissionDenied) as caught:
            pgsnap.open_snapshot(url, 1, slot="ferryman_nope")
        assert caught.value.hint is not None and "REPLICATION" in caught.value.hint
        assert _slots(pg_db) == []
    finally:
        pg_db.execute(f"DROP OWNED BY {role}")
        server.execute(f"DROP ROLE {role}")


def test_postgres_existing_slot_is_refused_and_left_alone(pg_db: PostgresDatabase) -> None:
    url = parse_url(pg_db.url)
    slot = f"ferryman_test_{uuid.uuid4().hex[:8]}"
    with pgsnap.open_snapshot(url, 1, slot=slot) as snap:
        assert snap.slot == slot
    with pytest.raises(PreconditionFailed, match="already exists"):
        pgsnap.open_snapshot(url, 1, slot=slot)
    assert _slots(pg_db) == [slot]
    with pytest.raises(ConfigError):
        pgsnap.open_snapshot(url, 1, slot="Bad-Name")
