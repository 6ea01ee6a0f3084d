"""Reading a MySQL/MariaDB binlog over the replication protocol (the I/O around the decoder).

:class:`BinlogStream` connects with PyMySQL as a replica (COM_REGISTER_SLAVE + COM_BINLOG_DUMP),
feeds every event to the pure :class:`~.decoder.BinlogDecoder` and groups the decoded changes into
:class:`~ferryman.core.change.Transaction` objects:

- GTID (MariaDB, which writes no BEGIN) or ``BEGIN`` … row events … XID or ``COMMIT`` → one
  transaction whose ``position`` is the end of its commit event (where a stream resumes), with
  the GTID position *after* it (MariaDB: one ``domain-server-seq`` per domain).
- any other statement (DDL) → a transaction with one ``Op.DDL`` change (``TRUNCATE t`` →
  ``Op.TRUNCATE``); DDL is not filtered by ``tables``.
- transactions whose rows were all filtered out are still yielded (empty), so a consumer can
  checkpoint their position.
- with ``piece_changes`` N, a transaction of more than N row changes is yielded in pieces of
  about N (``Transaction.more`` on all but the last; see there), so it is never held whole; a
  transaction that starts at or after ``stop_at`` is then not begun at all.

Reconnect: when the connection drops (network error, server restart) the stream reconnects with
exponential backoff (0.5 s doubling to ``max_backoff``, at most ``reconnect_attempts`` tries in a
row) and resumes at the position of the last transaction it yielded — by file:pos, or by GTID when
started with ``use_gtid`` — so a transaction is never yielded twice or half (a reconnect inside a
transaction yielded in pieces goes on after the changes already yielded). Server errors other
than a lost connection are raised as ferryman errors; a purged binlog (error 1236) raises
:class:`BinlogPositionLost`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import struct
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pymysql

from ferryman.core.change import Change, Op, Transaction
from ferryman.core.closing import Closing
from ferryman.core.errors import ConnectError, FerrymanError, PermissionDenied, PositionLost
from ferryman.core.position import BinlogPosition
from ferryman.core.url import DatabaseURL, parse_url
from ferryman.engines.mysql.binlog.decoder import (
    CHECKSUM_CRC32,
    CHECKSUM_OFF,
    LOG_EVENT_ARTIFICIAL_F,
    BinlogDecoder,
    Event,
    EventHeader,
    FormatDescription,
    Gtid,
    GtidList,
    Query,
    Rotate,
    RowsEvent,
    Xid,
)

log = logging.getLogger(__name__)

COM_BINLOG_DUMP = 0x12
COM_REGISTER_SLAVE = 0x15
BINLOG_DUMP_NON_BLOCK = 1
_ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236
_ER_SPECIFIC_ACCESS_DENIED = 1227
_ER_ACCESS_DENIED = 1045
_LOST = (2006, 2013, 2003, 2055, 1927, 1053)  # gone away, lost, can't connect, shutdown
_TRUNCATE = re.compile(
    r"\s*TRUNCATE\s+(?:TABLE\s+)?(?:`((?:[^`]|``)+)`|(\w+))"
    r"(?:\s*\.\s*(?:`((?:[^`]|``)+)`|(\w+)))?\s*;?\s*$",
    re.IGNORECASE,
)


class BinlogPositionLost(PositionLost):
    """The server no longer has the binlog the stream must resume from (purged or rotated away),
    or refuses the position."""


def _is_mariadb(conn: Any) -> bool:
    return "mariadb" in str(conn.get_server_info()).lower()


def _query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _url(url: DatabaseURL | str) -> DatabaseURL:
    return parse_url(url) if isinstance(url, str) else url


def connect(url: DatabaseURL | str, *, read_timeout: float | None = None) -> Any:
    """A PyMySQL autocommit connection for ``url`` (no database selected)."""
    u = _url(url)
    try:
        return pymysql.connect(
            host=u.host,
            port=u.port,
            user=u.user or "root",
            password=u.password or "",
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=int(u.options.get("connect_timeout", "10")),
            read_timeout=read_timeout,
        )
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else None
        if code == _ER_ACCESS_DENIED:
            raise ConnectError(
                f"login refused by {u.host}:{u.port} for user '{u.user or 'root'}' ({u})",
                hint="check the user name and password in the URL",
            ) from None
        raise ConnectError(
            f"cannot reach MySQL/MariaDB at {u.host}:{u.port} ({u}): {exc}",
            hint="check host and port, that the server is running and that no firewall blocks it",
        ) from None


def current_position(url: DatabaseURL | str) -> BinlogPosition:
    """The server's current binlog end (``SHOW MASTER STATUS``) with its GTID position."""
    conn = connect(url)
    try:
        rows = _query(conn, "SHOW MASTER STATUS")
        if not rows:
            raise FerrymanError(
                f"binary logging is off on {_url(url)}", hint="start the server with log_bin"
            )
        file, pos = str(rows[0][0]), int(rows[0][1])
        if _is_mariadb(conn):
            gtid = _query(conn, "SELECT @@gtid_binlog_pos")[0][0]
        else:
            gtid = str(rows[0][4]).replace("\n", "") if len(rows[0]) > 4 else None
        return BinlogPosition(file, pos, gtid or None)
    finally:
        conn.close()


class BinlogStream(Closing):
    """An iterator of the transactions in a server's binlog from ``start``.

    ``start``: where to begin (a position a previous :class:`Transaction` gave, or
    :func:`current_position`); with ``use_gtid`` (MariaDB) the stream starts and resumes from
    ``start.gtid`` instead of file:pos. ``server_id``: the replica id to register with (default: a
    random id that differs from the server's; two replicas with the same id disconnect each
    other). ``tables``: (namespace, table) pairs whose rows to decode; rows of other tables are
    skipped undecoded. ``stop_at``: stop after the transaction that reaches this position.
    ``blocking``: wait for new events (heartbeats every ``heartbeat`` seconds keep the connection
    checked), or stop at the current end of the log. ``piece_changes``: yield transactions of more
    row changes than this in pieces (``Transaction.more``). ``own_table``: a transaction whose
    rows touch this (namespace, table) — ferryman's own mark, its first write — is yielded
    with ``own`` set and no changes, the rest of it skipped undecoded; the others carry
    ``who`` (server id, thread id when the log has a BEGIN, GTID).

    ``position`` is always where the stream would resume: after the last yielded transaction.
    """

    def __init__(
        self,
        url: DatabaseURL | str,
        start: BinlogPosition,
        *,
        server_id: int | None = None,
        tables: Iterable[tuple[str, str]] | None = None,
        stop_at: BinlogPosition | None = None,
        blocking: bool = True,
        use_gtid: bool = False,
        heartbeat: float = 5.0,
        reconnect_attempts: int = 8,
        max_backoff: float = 30.0,
        verify_checksum: bool = True,
        piece_changes: int | None = None,
        own_table: tuple[str, str] | None = None,
    ) -> None:
        if use_gtid and not start.gtid:
            raise ValueError("use_gtid needs a start position with a gtid")
        self.url = _url(url)
        self.position = start
        self.server_id = server_id
        self.tables = None if tables is None else frozenset(tables)
        self.stop_at = stop_at
        self.blocking = blocking
        self.use_gtid = use_gtid
        self.heartbeat = heartbeat
        self.reconnect_attempts = reconnect_attempts
        self.max_backoff = max_backoff
        self.verify_checksum = verify_checksum
        self.piece_changes = piece_changes
        self.own_table = own_table
        if own_table is not None and self.tables is not None:
            self.tables = self.tables | {own_table}
        # changes of the current transaction already yielded in pieces: a reconnect re-reads
        # the transaction from its start and skips them
        self._yielded_in_tx = 0
        self.reconnects = 0
        self._stopping = False
        self._reached_stop = False
        self._conn: Any = None
        self._mariadb = False
        self._collations: dict[int, str] = {}
        self._checksum = "NONE"

    # -- lifecycle --

    def stop(self) -> None:
        """End the iteration soon (from another thread): the blocked read fails and the
        iterator returns instead of reconnecting."""
        self._stopping = True
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn._sock.shutdown(2)  # wakes a blocked recv; close() happens in __iter__

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, seconds))

    def _reconnect_later(self, failures: int, what: str, gave_up: str) -> None:
        """Close, log ``what`` happened to the stream and wait before reconnecting (0.5 s
        doubling up to ``max_backoff``) after ``failures`` in a row; once they are more than
        ``reconnect_attempts``, ConnectError ``gave_up`` instead."""
        if failures > self.reconnect_attempts:
            raise ConnectError(
                gave_up, hint=f"check the server; resume from {self.position}"
            ) from None
        delay = min(self.max_backoff, 0.5 * 2 ** (failures - 1))
        log.warning(
            "binlog stream from %s %s; reconnecting in %.1fs from %s",
            self.url,
            what,
            delay,
            self.position,
        )
        self.close()
        self.reconnects += 1
        self._sleep(delay)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken socket
                self._conn.close()
            self._conn = None

    def __iter__(self) -> Iterator[Transaction]:
        failures = 0
        while True:
            try:
                self._open()
                for tx in self._read():
                    failures = 0
                    yield tx
                    if self.stop_at is not None and not tx.more and tx.position >= self.stop_at:
                        return
                if not self.blocking or self._stopping or self._reached_stop:
                    return
                # a blocking dump ends only when the server goes away (it sends EOF when it
                # shuts down): reconnect and go on from the last position
                failures += 1
                self._reconnect_later(
                    failures,
                    "ended (server shutting down?)",
                    f"the binlog stream from {self.url} keeps ending; could not resume "
                    f"after {self.reconnect_attempts} tries",
                )
            except pymysql.err.MySQLError as exc:
                self.close()
                if self._stopping:
                    return
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
                if code == _ER_MASTER_FATAL_ERROR_READING_BINLOG:
                    raise self._lost(exc) from None
                if code == _ER_SPECIFIC_ACCESS_DENIED:
                    raise PermissionDenied(
                        f"user '{self.url.user}' may not read the binlog of {self.url}: {exc}",
                        hint=f"GRANT REPLICATION SLAVE ON *.* TO '{self.url.user}'",
                    ) from None
                if code not in _LOST and not isinstance(exc, pymysql.err.InterfaceError):
                    raise ConnectError(
                        f"binlog stream from {self.url} failed: {exc}",
                        hint="check the server's error log",
                    ) from None
                failures += 1
                self._reconnect_later(
                    failures,
                    f"lost ({exc})",
                    f"lost the binlog stream from {self.url} and could not reconnect "
                    f"after {self.reconnect_attempts} tries: {exc}",
                )
            except ConnectError:
                if self._stopping:
                    return
                failures += 1
                if failures > self.reconnect_attempts:
                    raise
                self._sleep(min(self.max_backoff, 0.5 * 2 ** (failures - 1)))
            finally:
                self.close()

    def _lost(self, exc: Exception) -> BinlogPositionLost:
        where = f"GTID {self.position.gtid}" if self.use_gtid else f"{self.position}"
        return BinlogPositionLost(
            f"{self.url} can no longer send its binlog from {where}: {exc}",
            hint="the binlog was purged before the stream read it: restart the move from a new "
            "copy, and raise the source's binlog retention (binlog_expire_logs_seconds / "
            "expire_logs_days) above the longest expected pause",
            obj=str(self.position),
        )

    # -- connecting --

    def _open(self) -> None:
        read_timeout = max(3 * self.heartbeat, 10.0) if self.blocking else 60.0
        conn = self._conn = connect(self.url, read_timeout=read_timeout)
        self._mariadb = _is_mariadb(conn)
        server_id = int(_query(conn, "SELECT @@server_id")[0][0])
        if self.server_id is None:
            while self.server_id is None or self.server_id == server_id:
                self.server_id = random.randrange(1 << 16, 1 << 31)
        if not self._collations:
            rows = _query(
                conn,
                "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS "
                "WHERE ID IS NOT NULL",
            )
            self._collations = {int(i): str(cs) for i, cs in rows}
        self._checksum = str(_query(conn, "SELECT @@global.binlog_checksum")[0][0]).upper()
        _query(conn, "SET @master_binlog_checksum = @@global.binlog_checksum")
        _query(conn, f"SET @master_heartbeat_period = {int(self.heartbeat * 1e9)}")
        if self._mariadb:
            _query(conn, "SET @mariadb_slave_capability = 4")
            if self.use_gtid:
                gtid = (self.position.gtid or "").replace("'", "")
                _query(conn, f"SET @slave_connect_state = '{gtid}'")
                _query(conn, "SET @slave_gtid_strict_mode = 0")
                _query(conn, "SET @slave_gtid_ignore_duplicates = 0")
        self._register(conn)
        flags = 0 if self.blocking else BINLOG_DUMP_NON_BLOCK
        if self.use_gtid:
            file, pos = b"", 4
        else:
            file, pos = self.position.file.encode(), self.position.pos
            if pos >= 1 << 32:
                raise FerrymanError(
                    f"binlog offset {pos} does not fit COM_BINLOG_DUMP",
                    hint="resume by GTID",
                )
        conn._execute_command(
            COM_BINLOG_DUMP, struct.pack("<IHI", pos, flags, self.server_id) + file
        )

    def _register(self, conn: Any) -> None:
        host = b"ferryman"
        user = (self.url.user or "").encode()
        payload = (
            struct.pack("<I", self.server_id)
            + bytes([len(host)])
            + host
            + bytes([len(user)])
            + user
            + b"\x00"  # password
            + struct.pack("<HII", 0, 0, 0)  # port, rank, master id
        )
        conn._execute_command(COM_REGISTER_SLAVE, payload)
        conn._read_packet()  # OK (an error packet raises)

    # -- reading --

    def _initial_gtid_state(self) -> dict[int, str]:
        gtid = self.position.gtid
        if not gtid and self._mariadb and not self.use_gtid:
            p = self.position
            conn = connect(self.url)
            try:
                gtid = _query(conn, f"SELECT BINLOG_GTID_POS('{p.file}', {int(p.pos)})")[0][0]
            finally:
                conn.close()
        return _parse_gtid_state(gtid or "")

    def _read(self) -> Iterator[Transaction]:
        conn = self._conn
        read_packet = conn._read_packet
        decoder = BinlogDecoder(
            tables=self.tables,
            collations=self._collations,
            verify_checksum=self.verify_checksum,
            checksum=CHECKSUM_CRC32 if self._checksum == "CRC32" else CHECKSUM_OFF,
        )
        decode = decoder.decode
        state = self._initial_gtid_state() if self._mariadb else {}
        mysql_gtid: str | None = self.position.gtid if not self._mariadb else None
        file = self.position.file
        tx: list[Change] | None = None
        tx_gtid: Gtid | None = None
        standalone = False
        stop = self.stop_at
        piece = self.piece_changes or 0
        skip = self._yielded_in_tx  # a reconnect inside a transaction yielded in pieces
        own_table = self.own_table
        own = False  # the open transaction began with ferryman's own mark: skip its rows
        who: dict[str, str | int] = {}

        def begins_after_stop(h: EventHeader) -> bool:
            """With pieces, a transaction is not begun past ``stop_at`` (it could not be
            dropped whole once a piece of it was yielded)."""
            if stop is None or not piece or not h.log_pos:
                return False
            if BinlogPosition(file, h.log_pos - h.size) >= stop:
                self._reached_stop = True
                return True
            return False

        def finish(end: int, ts: int, xid: str | None) -> Transaction:
            nonlocal tx, tx_gtid, mysql_gtid, own, who
            if tx_gtid is not None:
                if self._mariadb:
                    state[tx_gtid.domain] = tx_gtid.gtid
                else:
                    mysql_gtid = tx_gtid.gtid
            gtid = ",".join(state[d] for d in sorted(state)) if self._mariadb else mysql_gtid
            position = BinlogPosition(file, end, gtid or None)
            self.position = position
            out = Transaction(position, tx or [], xid or (tx_gtid.gtid if tx_gtid else None))
            out.commit_time = float(ts)
            if own_table is not None:
                out.own = own
                if not own:
                    out.who = {**who, **({"gtid": tx_gtid.gtid} if tx_gtid else {})}
                own, who = False, {}
            tx, tx_gtid = None, None
            self._yielded_in_tx = 0
            return out

        def part() -> Transaction:
            nonlocal tx
            out = Transaction(self.position, tx or [], tx_gtid.gtid if tx_gtid else None, more=True)
            self._yielded_in_tx += len(out.changes)
            tx = []
            return out

        while True:
            data = read_packet().get_all_data()
            if data[0] == 0xFE and len(data) < 9:  # EOF: end of log (non-blocking)
                return
            if own and data[5] in _ROWS_OR_MAP:  # ferryman's own transaction: not decoded
                continue
            ev: Event = decode(data, 1)
            h = ev.header
            if isinstance(ev, RowsEvent):
                if tx is None:
                    tx = []
                if own_table is not None:
                    if not who:
                        who["server_id"] = h.server_id
                    if ev.changes and (ev.changes[0].namespace, ev.changes[0].table) == own_table:
                        own = True
                        tx.clear()
                        continue
                if skip:
                    n = min(skip, len(ev.changes))
                    skip -= n
                    tx.extend(ev.changes[n:])
                else:
                    tx.extend(ev.changes)
                if piece and len(tx) >= piece:
                    yield part()
                continue
            if isinstance(ev, Xid):
                yield finish(h.log_pos, h.timestamp, str(ev.xid))
                continue
            if isinstance(ev, Gtid):
                if tx is None and begins_after_stop(h):
                    return
                tx, tx_gtid, standalone = [], ev, ev.standalone
                if own_table is not None:
                    own, who = False, {"server_id": h.server_id}
                continue
            if isinstance(ev, Query):
                sql = ev.sql.strip()
                upper = sql[:9].upper()
                if upper == "BEGIN":
                    if tx is None and begins_after_stop(h):
                        return
                    tx, standalone = [], False
                    if own_table is not None:
                        own, who = False, {"server_id": h.server_id, "thread_id": ev.thread_id}
                    continue
                if upper in ("COMMIT", "ROLLBACK") and not standalone:
                    yield finish(h.log_pos, h.timestamp, None)
                    continue
                if (
                    tx is not None
                    and not standalone
                    and upper.startswith(("SAVEPOINT", "ROLLBACK"))
                ):
                    continue
                if tx is None:
                    tx = []
                if skip:
                    skip -= 1
                else:
                    tx.append(_statement_change(ev))
                if tx_gtid is None or standalone:
                    yield finish(h.log_pos, h.timestamp, None)
                continue
            if isinstance(ev, Rotate):
                file = ev.next_file
                if not (h.flags & LOG_EVENT_ARTIFICIAL_F or h.log_pos == 0):
                    self.position = BinlogPosition(file, ev.next_pos, self.position.gtid)
                continue
            if isinstance(ev, GtidList) and self._mariadb and tx is None:
                for g in ev.gtids:
                    state[int(g.split("-", 1)[0])] = g
                continue
            if isinstance(ev, FormatDescription):
                continue
            if (
                stop is not None
                and tx is None
                and h.log_pos
                and BinlogPosition(file, h.log_pos) >= stop
            ):
                self._reached_stop = True
                return


#: event types skipped undecoded inside ferryman's own transactions (rows and table maps: every
#: statement's rows events follow table maps of their own, so nothing later needs these)
_ROWS_OR_MAP = frozenset({19, 23, 24, 25, 30, 31, 32})


def _parse_gtid_state(text: str) -> dict[int, str]:
    state: dict[int, str] = {}
    for part in text.replace("\n", "").split(","):
        part = part.strip()
        if part and re.fullmatch(r"\d+-\d+-\d+", part):
            state[int(part.split("-", 1)[0])] = part
    return state


def _statement_change(ev: Query) -> Change:
    m = _TRUNCATE.match(ev.sql)
    if m:
        first = (m.group(1) or "").replace("``", "`") or m.group(2)
        second = (m.group(3) or "").replace("``", "`") or m.group(4)
        ns, table = (first, second) if second else (ev.schema, first)
        return Change(Op.TRUNCATE, ns, table, (), sql=ev.sql)
    return Change(Op.DDL, ev.schema, "", (), sql=ev.sql)
