"""N connections that all read one consistent MySQL/MariaDB snapshot, and its binlog position.

:func:`open_snapshot` returns a :class:`Snapshot`: ``workers`` connections, each inside an open
``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` at REPEATABLE READ, all seeing exactly
the transactions up to :attr:`Snapshot.position` and none after it. A change stream started at
that position therefore delivers exactly what the snapshot does not contain.

How consistency is obtained (:attr:`Snapshot.method`), tried in this order:

``mariadb-snapshot-sync`` (MariaDB with the binlog on; needs no privilege beyond SELECT)
    Start the N snapshots in quick succession, then read ``binlog_snapshot_file`` /
    ``binlog_snapshot_position`` in each. MariaDB takes a consistent snapshot atomically with
    respect to its binlog commit order and reports the binlog position that matches it, so
    snapshots reporting the same position see the same binlogged transactions. When they
    differ (a commit landed in between) all roll back and try again, up to ``attempts`` times.
    With one worker the first attempt always agrees: ``--jobs 1`` never needs a lock.
``block-commit`` (MariaDB ≥ 10.4; needs RELOAD)
    When the snapshots never agree (heavy write load): a control connection runs
    ``BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT``, the N snapshots start, the position is
    read, and ``BACKUP STAGE END`` releases commits at once (milliseconds). Reads and
    uncommitted writes go on meanwhile; only commits wait.
``ftwrl`` (MySQL, and MariaDB < 10.4; needs RELOAD, on MySQL also REPLICATION CLIENT)
    The same with ``FLUSH TABLES WITH READ LOCK`` … ``UNLOCK TABLES``; the position comes from
    ``SHOW MASTER STATUS`` (``SHOW BINARY LOG STATUS`` on MySQL ≥ 8.2) read under the lock. MySQL
    has no snapshot-matched position, so it needs the lock even for one worker.

Waiting for a lock is bounded by ``lock_timeout`` seconds (``lock_wait_timeout``): a long query or
DDL that keeps FTWRL/BACKUP STAGE waiting would otherwise hold every writer of the server behind
it. A missing privilege raises :class:`PermissionDenied` naming it, with the GRANT as the fix.

GTID: on MariaDB ``@@gtid_binlog_pos`` is not snapshot-exact, so the GTID position is computed
from the snapshot's own file/offset with ``BINLOG_GTID_POS(file, pos)``. On MySQL it is the
``Executed_Gtid_Set`` read under the lock.

With the binlog off (``log_bin=OFF``) there is no position: :attr:`Snapshot.position` is None and
the method name ends in ``binlog-off``; N > 1 snapshots then need the lock (nothing else tells
whether they agree), one snapshot needs nothing (``single-snapshot, binlog-off``).

Caveat of the sync method: transactions that bypass the binlog (``sql_log_bin=0``,
non-transactional tables) do not move the binlog position and cannot be told apart.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import MySQLdb

from ferryman.core.closing import CloseOnce
from ferryman.core.errors import (
    ConfigError,
    FerrymanError,
    PermissionDenied,
    PreconditionFailed,
)
from ferryman.core.position import BinlogPosition
from ferryman.core.schema import ServerInfo
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql.connection import Session, connect, quote_literal

__all__ = [
    "BLOCK_COMMIT",
    "FTWRL",
    "METHODS",
    "SNAPSHOT_SYNC",
    "Snapshot",
    "open_snapshot",
]

SNAPSHOT_SYNC = "mariadb-snapshot-sync"
BLOCK_COMMIT = "block-commit"
FTWRL = "ftwrl"
#: values ``force_method`` accepts (tests use it to take a fallback path on purpose)
METHODS = (SNAPSHOT_SYNC, BLOCK_COMMIT, FTWRL)
_BINLOG_OFF = "binlog-off"
_SINGLE = "single-snapshot"

_ER_SPECIFIC_ACCESS_DENIED = 1227
_ER_ACCESS_DENIED_ERROR = 1045
_ER_LOCK_WAIT_TIMEOUT = 1205

_START = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"


@dataclass
class Snapshot(CloseOnce):
    """``connections`` all read the same consistent snapshot, matching ``position``.

    Each connection is inside an open read-only REPEATABLE READ transaction; do not commit or
    roll it back while copying (that ends the snapshot). ``position`` is None when the server
    writes no binlog. ``close()`` rolls back and closes every connection; idempotent. Also a
    context manager.
    """

    connections: list[MySQLdb.connections.Connection]
    position: BinlogPosition | None
    method: str
    server: ServerInfo
    attempts: int = 1

    def release(self) -> None:
        _close_all(self.connections)


def open_snapshot(
    url: DatabaseURL,
    workers: int,
    *,
    force_method: str | None = None,
    attempts: int = 20,
    lock_timeout: int = 10,
    raw: bool = False,
) -> Snapshot:
    """Open ``workers`` connections to ``url`` that read one consistent snapshot; see the module
    docstring for the methods. ``force_method`` (one of :data:`METHODS`) skips the others;
    ``raw``: the worker connections return strings as bytes (see ``connect``).

    Raises :class:`ConfigError` (bad arguments), :class:`ConnectError` (connecting),
    :class:`PermissionDenied` (a lock or status the account may not take/read; the hint names
    the GRANT and, on MariaDB, ``--jobs 1``) or :class:`PreconditionFailed` (a lock not granted
    within ``lock_timeout`` seconds). Nothing stays open when it raises.
    """
    if workers < 1:
        raise ConfigError(f"need at least one worker connection, not {workers}", hint="--jobs 1")
    if force_method is not None and force_method not in METHODS:
        raise ConfigError(
            f"unknown snapshot method '{force_method}'", hint=f"use one of {', '.join(METHODS)}"
        )
    conns: list[MySQLdb.connections.Connection] = []
    # The control connection reads server facts and holds the lock, outside any snapshot.
    control = connect(url)
    try:
        for _ in range(workers):
            conns.append(connect(url, raw=raw))
        opener = _Opener(url, control, conns, attempts=attempts, lock_timeout=lock_timeout)
        return opener.open(force_method)
    except MySQLdb.Error as exc:
        _close_all(conns)
        detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        raise FerrymanError(
            f"opening a consistent snapshot on {url} failed: {detail}",
            hint="check the server log and that the account may read the database",
        ) from None
    except BaseException:
        _close_all(conns)
        raise
    finally:
        with contextlib.suppress(MySQLdb.Error):
            control.close()


class _Opener:
    def __init__(
        self,
        url: DatabaseURL,
        control: MySQLdb.connections.Connection,
        conns: list[MySQLdb.connections.Connection],
        *,
        attempts: int,
        lock_timeout: int,
    ) -> None:
        self.url = url
        self.control = control
        self.conns = conns
        self.attempts = max(1, attempts)
        self.lock_timeout = max(1, lock_timeout)
        self.info = Session(url, control).server_info()
        self.mariadb = self.info.flavor == "mariadb"
        self.log_bin = str(self._query(control, "SELECT @@log_bin")[0][0]) in ("1", "ON")

    def open(self, force: str | None) -> Snapshot:
        for conn in self.conns:
            self._query(conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        lock = FTWRL if not self.mariadb or self.info.version_tuple < (10, 4) else BLOCK_COMMIT
        if force == SNAPSHOT_SYNC and not (self.mariadb and self.log_bin):
            raise ConfigError(
                f"{SNAPSHOT_SYNC} needs MariaDB with the binlog on; {self.url} is "
                f"{self.info.version} with log_bin {'ON' if self.log_bin else 'OFF'}",
                hint=f"use {lock}",
            )
        if force in (BLOCK_COMMIT, FTWRL):
            return self._locked(force, reason=f"{force} was asked for")
        if not self.log_bin:
            if len(self.conns) == 1:
                self._start_all()
                return self._snapshot(None, f"{_SINGLE}, {_BINLOG_OFF}")
            return self._locked(
                lock,
                reason="the binlog is off, so nothing else can tell whether the snapshots agree",
            )
        if self.mariadb:
            position, tries = self._sync()
            if position is not None:
                return self._snapshot(position, SNAPSHOT_SYNC, tries)
            if force == SNAPSHOT_SYNC:
                raise PreconditionFailed(
                    f"the {len(self.conns)} snapshots of {self.url} never agreed on a binlog "
                    f"position in {tries} attempts (heavy write load)",
                    hint=f"retry, allow a lock ({BLOCK_COMMIT}), or use --jobs 1",
                )
            return self._locked(
                lock,
                reason=f"the {len(self.conns)} snapshots never agreed on a binlog position in "
                f"{tries} attempts (heavy write load)",
            )
        return self._locked(lock, reason="MySQL reports no binlog position matching a snapshot")

    # --- methods ------------------------------------------------------------------------------

    def _sync(self) -> tuple[BinlogPosition | None, int]:
        """Start all snapshots until they report one binlog position; (position, attempts)."""
        for attempt in range(1, self.attempts + 1):
            self._start_all()
            found = {self._snapshot_status(conn) for conn in self.conns}
            if len(found) == 1:
                file, pos = found.pop()
                return BinlogPosition(file, pos, self._mariadb_gtid(file, pos)), attempt
            _rollback_all(self.conns)
            time.sleep(min(0.001 * attempt, 0.01))
        return None, self.attempts

    def _locked(self, method: str, *, reason: str) -> Snapshot:
        """Block commits on the control connection, start the snapshots, read the position,
        release; all within milliseconds."""
        control = self.control
        self._query(control, f"SET SESSION lock_wait_timeout = {int(self.lock_timeout)}")
        if method == BLOCK_COMMIT:
            acquire = ["BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT"]
            release = "BACKUP STAGE END"
        else:
            acquire, release = ["FLUSH TABLES WITH READ LOCK"], "UNLOCK TABLES"
        status: tuple[str, int] | None = None
        position: BinlogPosition | None = None
        try:
            for statement in acquire:
                self._lock_statement(control, statement, method, reason)
            self._start_all()
            if self.log_bin and self.mariadb:
                status = self._agreed_snapshot_status()
            elif self.log_bin:
                position = self._master_status(control)
        finally:
            with contextlib.suppress(MySQLdb.Error):
                self._query(control, release)
        if status is not None:  # the GTID lookup may read the binlog: outside the lock
            position = BinlogPosition(status[0], status[1], self._mariadb_gtid(*status))
        if position is None:
            method = f"{method}, {_BINLOG_OFF}"
        return self._snapshot(position, method)

    def _snapshot(self, position: BinlogPosition | None, method: str, tries: int = 1) -> Snapshot:
        return Snapshot(list(self.conns), position, method, self.info, tries)

    # --- pieces -------------------------------------------------------------------------------

    def _start_all(self) -> None:
        """Start a consistent snapshot on every connection, as close together as possible: all
        statements are sent before any reply is read, so the server starts them in parallel
        and few commits can land in between."""
        for conn in self.conns:
            conn.send_query(_START.encode())
        for conn in self.conns:
            conn.read_query_result()

    def _snapshot_status(self, conn: MySQLdb.connections.Connection) -> tuple[str, int]:
        """MariaDB: the binlog (file, offset) matching ``conn``'s consistent snapshot."""
        rows = self._query(
            conn,
            "SHOW SESSION STATUS WHERE Variable_name IN "
            "('Binlog_snapshot_file', 'Binlog_snapshot_position')",
        )
        status = {_text(name).lower(): _text(value) for name, value in rows}
        return status.get("binlog_snapshot_file", ""), int(
            status.get("binlog_snapshot_position", "0") or 0
        )

    def _agreed_snapshot_status(self) -> tuple[str, int]:
        found = {self._snapshot_status(conn) for conn in self.conns}
        if len(found) != 1:  # commits are blocked: cannot happen unless the lock did not hold
            raise FerrymanError(
                f"snapshots started while commits were blocked on {self.url} report different "
                f"binlog positions: {sorted(found)}",
                hint="report this as a bug, with the server version " + self.info.version,
            )
        return found.pop()

    def _mariadb_gtid(self, file: str, pos: int) -> str | None:
        """The GTID position exactly at ``file``:``pos`` (MariaDB ``BINLOG_GTID_POS``)."""
        if not self.mariadb:
            return None
        rows = self._query(
            self.control, f"SELECT BINLOG_GTID_POS({quote_literal(file)}, {int(pos)})"
        )
        value = rows[0][0] if rows else None
        return None if value is None else str(value)

    def _master_status(self, control: MySQLdb.connections.Connection) -> BinlogPosition | None:
        """MySQL: binlog file, offset and executed GTID set, read under the lock."""
        statement = (
            "SHOW BINARY LOG STATUS" if self.info.version_tuple >= (8, 2) else "SHOW MASTER STATUS"
        )
        cur = control.cursor()
        try:
            try:
                cur.execute(statement)
            except MySQLdb.OperationalError as exc:
                raise self._denied(
                    exc,
                    "REPLICATION CLIENT",
                    f"read the binlog position ({statement})",
                    jobs_hint=False,
                ) from None
            row = cur.fetchone()
            names = [str(d[0]).lower() for d in cur.description or ()]
        finally:
            cur.close()
        if not row:
            return None
        values = dict(zip(names, row, strict=False))
        gtid = str(values.get("executed_gtid_set") or "").replace("\n", "") or None
        return BinlogPosition(str(values["file"]), int(values["position"]), gtid)

    def _lock_statement(
        self, control: MySQLdb.connections.Connection, statement: str, method: str, reason: str
    ) -> None:
        try:
            self._query(control, statement)
        except MySQLdb.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code == _ER_LOCK_WAIT_TIMEOUT:
                raise PreconditionFailed(
                    f"{statement} on {self.url} was not granted within {self.lock_timeout}s "
                    "(a long-running query or DDL holds it up)",
                    hint="retry when the long query has finished (SHOW PROCESSLIST shows it)"
                    + (", or use --jobs 1, which needs no lock on MariaDB" if self.mariadb else ""),
                ) from None
            raise self._denied(
                exc,
                "RELOAD",
                f"block commits for a moment ({statement}) because {reason}",
                jobs_hint=self.mariadb,
            ) from None

    def _denied(
        self, exc: MySQLdb.OperationalError, default: str, why: str, *, jobs_hint: bool
    ) -> Exception:
        """PermissionDenied naming the privilege the server asked for, with the GRANT."""
        code = exc.args[0] if exc.args else None
        detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code not in (_ER_SPECIFIC_ACCESS_DENIED, _ER_ACCESS_DENIED_ERROR):
            return FerrymanError(f"{why} failed on {self.url}: {detail}", hint="see the message")
        named = re.search(r"the (.+?) privilege", detail)
        privilege = named.group(1).split(",")[0].strip() if named else default
        grantee = self._grantee()
        hint = f"GRANT {privilege} ON *.* TO {grantee}"
        if jobs_hint:
            hint += "; or copy with --jobs 1, which needs no lock on MariaDB"
        return PermissionDenied(
            f"user {grantee} lacks the {privilege} privilege on {self.url}: ferryman needs it "
            f"to {why} ({detail})",
            hint=hint,
            obj=privilege,
        )

    def _grantee(self) -> str:
        with contextlib.suppress(MySQLdb.Error, IndexError):
            user, _, host = str(
                self._query(self.control, "SELECT CURRENT_USER()")[0][0]
            ).rpartition("@")
            return f"{quote_literal(user)}@{quote_literal(host)}"
        return quote_literal(self.url.user or "root")

    @staticmethod
    def _query(
        conn: MySQLdb.connections.Connection, sql: str, args: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        try:
            cur.execute(sql, args)
            rows = cur.fetchall() if cur.description else ()
            return [tuple(row) for row in rows]
        finally:
            cur.close()


def _text(value: Any) -> str:
    """A status value as text (raw connections return bytes)."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _rollback_all(conns: Sequence[MySQLdb.connections.Connection]) -> None:
    for conn in conns:
        cur = conn.cursor()
        try:
            cur.execute("ROLLBACK")
        finally:
            cur.close()


def _close_all(conns: Sequence[MySQLdb.connections.Connection]) -> None:
    for conn in conns:
        with contextlib.suppress(MySQLdb.Error):
            _rollback_all([conn])
        with contextlib.suppress(MySQLdb.Error):
            conn.close()
