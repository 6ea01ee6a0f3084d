"""N connections that all read one exported PostgreSQL snapshot, and the LSN that goes with it.

:func:`open_snapshot` returns a :class:`Snapshot`: ``workers`` connections, each inside
``BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`` + ``SET TRANSACTION SNAPSHOT '<name>'``, so
all see exactly the same committed transactions. How the snapshot and its LSN are obtained
(:attr:`Snapshot.method`):

``replication-slot`` — exact (needs the REPLICATION attribute or superuser, ``wal_level=logical``)
    A replication connection (``replication=database``) runs
    ``CREATE_REPLICATION_SLOT <name> TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')``
    (``… EXPORT_SNAPSHOT`` before PostgreSQL 15). PostgreSQL returns the slot's
    ``consistent_point`` and a snapshot that contains exactly the transactions committed before
    it: decoding from the slot delivers exactly the transactions the snapshot does not contain.
    The replication connection stays open, untouched, until every worker has imported the
    snapshot (the export dies with the next command on it), then closes; the temporary slot goes
    with it. With ``slot=NAME`` the slot is permanent instead and stays for a later live move:
    its changes start exactly at :attr:`Snapshot.position`.

``export-snapshot`` — fallback (any role that may connect)
    On a coordinator connection, ``pg_current_wal_lsn()`` is read FIRST, then
    ``BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_export_snapshot()``; the workers import
    that snapshot. The LSN is therefore at or before the snapshot: replaying changes from it
    repeats some that the copy already contains, which an idempotent apply (upserts, key
    deletes) tolerates. Caveat: a transaction whose commit record was already written when the
    LSN was read but which had not yet become visible (microseconds; longer while it waits for
    a synchronous standby) is neither in the snapshot nor after the LSN. Use the exact method
    for a live move; this one suits a one-off copy.

The fallback is taken when the role may not open a replication connection, the server has no
free WAL sender or slot, or ``wal_level`` is not ``logical`` — unless ``slot`` was asked for,
which needs the exact method and raises instead. ``force_method`` picks one method (tests).

Creating a logical slot waits until every transaction that was writing when it started has
ended: a session left idle in a writing transaction delays it (its wait shows in
``pg_stat_activity``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors

from ferryman.core.closing import CloseOnce
from ferryman.core.errors import (
    ConfigError,
    FerrymanError,
    PermissionDenied,
    PreconditionFailed,
)
from ferryman.core.position import LSN
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import (
    connect,
    connect_error,
    conninfo,
    quote_ident,
    quote_literal,
    slot_exists,
)

__all__ = ["EXPORT_SNAPSHOT", "METHODS", "REPLICATION_SLOT", "Snapshot", "open_snapshot"]

REPLICATION_SLOT = "replication-slot"
EXPORT_SNAPSHOT = "export-snapshot"
#: values ``force_method`` accepts
METHODS = (REPLICATION_SLOT, EXPORT_SNAPSHOT)

_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")
# What a refused replication connection says (PostgreSQL ≤ 15, ≥ 16, pg_hba, no WAL sender).
_NO_REPLICATION = (
    "must be superuser or replication role",
    "permission denied to start wal sender",
    "no pg_hba.conf entry for replication connection",
    "max_wal_senders",
)


@dataclass
class Snapshot(CloseOnce):
    """``connections`` all read the snapshot ``snapshot_name``, which matches ``position``.

    Each connection is inside an open read-only REPEATABLE READ transaction; do not commit or
    roll it back while copying. ``slot`` is the permanent slot created for a later live move
    (None otherwise). ``note`` says why the fallback was taken. ``close()`` rolls back and
    closes every connection (a permanent slot stays); idempotent. Also a context manager.
    """

    connections: list[psycopg.Connection[Any]]
    position: LSN
    method: str
    snapshot_name: str
    slot: str | None = None
    note: str = ""

    def release(self) -> None:
        _close_all(self.connections)


def open_snapshot(
    url: DatabaseURL,
    workers: int,
    *,
    slot: str | None = None,
    force_method: str | None = None,
) -> Snapshot:
    """Open ``workers`` connections to ``url`` that read one snapshot; see the module docstring.

    ``slot``: create this permanent logical slot (pgoutput) at the snapshot's position and keep
    it. Raises :class:`ConfigError` (bad arguments), :class:`ConnectError`,
    :class:`PermissionDenied` (``slot`` asked for by a role without REPLICATION) or
    :class:`PreconditionFailed` (``slot`` exists already, ``wal_level`` is not logical, no free
    WAL sender or slot). Nothing stays open when it raises, and no slot is left behind.
    """
    if workers < 1:
        raise ConfigError(f"need at least one worker connection, not {workers}", hint="--jobs 1")
    if force_method is not None and force_method not in METHODS:
        raise ConfigError(
            f"unknown snapshot method '{force_method}'", hint=f"use one of {', '.join(METHODS)}"
        )
    if slot is not None and not _SLOT_NAME.fullmatch(slot):
        raise ConfigError(
            f"'{slot}' is not a valid replication slot name",
            hint="use 1 to 63 lower-case letters, digits and underscores",
        )
    if slot is not None and force_method == EXPORT_SNAPSHOT:
        raise ConfigError(
            f"a slot can only be created with the {REPLICATION_SLOT} method",
            hint=f"drop the slot or the {EXPORT_SNAPSHOT} method",
        )
    conns: list[psycopg.Connection[Any]] = []
    try:
        for _ in range(workers):
            conns.append(connect(url))
        note = ""
        if force_method != EXPORT_SNAPSHOT:
            try:
                return _with_slot(url, conns, slot)
            except _NoSlot as why:
                if slot is not None or force_method == REPLICATION_SLOT:
                    raise why.error from None
                note = why.error.message
        return _with_export(url, conns, note)
    except psycopg.Error as exc:
        _close_all(conns)
        raise FerrymanError(
            f"opening a consistent snapshot on {url} failed: {_detail(exc)}",
            hint="check the server log and that the role may read the database",
        ) from None
    except BaseException:
        _close_all(conns)
        raise


class _NoSlot(Exception):
    """The exact method is not available here; ``error`` says why (raised if a slot was asked
    for, else the reason for the fallback)."""

    def __init__(self, error: FerrymanError) -> None:
        super().__init__(error.message)
        self.error = error


def _with_slot(
    url: DatabaseURL, conns: list[psycopg.Connection[Any]], slot: str | None
) -> Snapshot:
    """The exact method: a slot's exported snapshot and its consistent point."""
    try:
        replication = psycopg.connect(conninfo(url, replication=True), autocommit=True)
    except psycopg.OperationalError as exc:
        text = str(exc).lower()
        if not any(marker in text for marker in _NO_REPLICATION):
            raise connect_error(url, exc, url.database or "postgres") from None
        if "max_wal_senders" in text:
            raise _NoSlot(
                PreconditionFailed(
                    f"{url.host}:{url.port} has no free WAL sender: {_detail(exc)}",
                    hint="raise max_wal_senders (restart needed) or stop an idle WAL sender",
                )
            ) from None
        role = url.user or "the role"
        raise _NoSlot(
            PermissionDenied(
                f"role {role} may not open a replication connection to {url}: {_detail(exc)}",
                hint=f"ALTER ROLE {quote_ident(role)} REPLICATION (and allow 'replication' "
                "connections in pg_hba.conf)",
                obj="REPLICATION",
            )
        ) from None
    created = False
    try:
        name = slot or f"ferryman_snapshot_{os.getpid()}_{secrets.token_hex(4)}"
        if replication.info.server_version >= 150000:
            export = "(SNAPSHOT 'export')"
        else:
            export = "EXPORT_SNAPSHOT"
        temporary = "" if slot else " TEMPORARY"
        # Simple query protocol (no parameters): walsenders accept nothing else.
        command = (
            f"CREATE_REPLICATION_SLOT {quote_ident(name)}{temporary} LOGICAL pgoutput {export}"
        )
        try:
            row = replication.execute(command).fetchone()
        except pgerrors.DuplicateObject:
            raise slot_exists(url, name) from None
        except (pgerrors.ObjectNotInPrerequisiteState, pgerrors.ConfigurationLimitExceeded) as exc:
            raise _NoSlot(
                PreconditionFailed(
                    f"cannot create a logical replication slot on {url}: {_detail(exc)}",
                    hint="set wal_level = logical and enough max_replication_slots "
                    "(restart needed), or drop unused slots",
                )
            ) from None
        created = True
        assert row is not None
        _slot_name, consistent_point, snapshot_name, _plugin = row
        _import(conns, str(snapshot_name))
    except BaseException:
        if slot and created:  # an error after creation must not leave the slot behind
            _drop_slot(replication, slot)
        _close_quietly(replication)
        raise
    # Every worker has imported the snapshot: the export may end now (a temporary slot goes too).
    _close_quietly(replication)
    return Snapshot(
        list(conns), LSN.parse(str(consistent_point)), REPLICATION_SLOT, str(snapshot_name), slot
    )


def _with_export(url: DatabaseURL, conns: list[psycopg.Connection[Any]], note: str) -> Snapshot:
    """The fallback: LSN first, then an exported snapshot; the LSN is at or before it."""
    coordinator = connect(url)
    try:
        lsn = LSN.parse(str(_scalar(coordinator, "SELECT pg_current_wal_lsn()")))
        coordinator.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        name = str(_scalar(coordinator, "SELECT pg_export_snapshot()"))
        _import(conns, name)
        coordinator.execute("COMMIT")
    finally:
        _close_quietly(coordinator)
    return Snapshot(list(conns), lsn, EXPORT_SNAPSHOT, name, None, note)


def _import(conns: Sequence[psycopg.Connection[Any]], snapshot_name: str) -> None:
    for conn in conns:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute(f"SET TRANSACTION SNAPSHOT {quote_literal(snapshot_name)}")


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    if row is None:
        raise FerrymanError(f"{query} returned no row", hint="report this as a bug")
    return row[0]


def _drop_slot(replication: psycopg.Connection[Any], slot: str) -> None:
    with contextlib.suppress(psycopg.Error):
        replication.execute(f"DROP_REPLICATION_SLOT {quote_ident(slot)}")


def _detail(exc: Exception) -> str:
    """The server's words: the first line, without libpq's "connection to server … failed"."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    fatal = re.search(r"(?:FATAL|ERROR):\s+(.*)", line)
    return fatal.group(1) if fatal else line


def _close_quietly(conn: psycopg.Connection[Any]) -> None:
    with contextlib.suppress(psycopg.Error):
        conn.close()


def _close_all(conns: Sequence[psycopg.Connection[Any]]) -> None:
    for conn in conns:  # closing ends the transaction
        _close_quietly(conn)
