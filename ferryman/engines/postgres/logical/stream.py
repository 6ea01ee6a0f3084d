"""Reading a PostgreSQL logical slot with pgoutput: the I/O around the pure decoder.

psycopg 3 has no replication-protocol streaming (CopyBoth), so :class:`PgOutputStream` uses
psycopg2's ``LogicalReplicationConnection``; everything else (publications, slots, checks) uses
psycopg 3 through :func:`~ferryman.engines.postgres.connection.connect`.

Positions and feedback (the contract the applier relies on):

- A :class:`~ferryman.core.change.Transaction`'s ``position`` is its commit's **end LSN**. Starting
  a stream at that LSN delivers exactly the transactions after it.
- The server learns a flush position only from :meth:`PgOutputStream.confirm`, which the caller
  calls **after** the target committed the rows (and the checkpoint) of that transaction. Until
  then the slot keeps the WAL, and a restart re-delivers everything after the last confirmed LSN.
- Keepalives are answered inside ``read_message()`` (psycopg2 does it) with the confirmed flush
  LSN. psycopg2 moves that LSN forward to the server's ``wal_end`` only when every data message
  read so far has been confirmed (nothing is pending: the WAL in between held nothing for us).
- The replication session runs with ``TimeZone=UTC`` and ``DateStyle=ISO``, which the decoder's
  timestamp parsing relies on.

Non-transactional logical messages (``pg_logical_emit_message(false, ...)``) come outside any
transaction; they are yielded as a transaction of their own whose ``position`` is the last
position already delivered (confirming it is always safe). Transactional ones arrive in order
inside their transaction, which is what watermarks use.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras
from psycopg import errors as pgerrors

from ferryman.core.change import Change, Transaction
from ferryman.core.closing import Closing
from ferryman.core.errors import FerrymanError, PositionLost, PreconditionFailed
from ferryman.core.findings import Finding, Level
from ferryman.core.position import LSN
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import (
    connect,
    conninfo,
    quote_ident,
    slot_exists,
)
from ferryman.engines.postgres.logical.pgoutput import (
    Begin,
    Commit,
    Decoder,
    LogicalMessage,
    Origin,
    Relation,
    Truncate,
)

#: pgoutput messages with rows ('I', 'U', 'D', 'T'): skipped in ferryman's own transactions
_ROW_MESSAGES = frozenset(b"IUDT")

__all__ = [
    "SESSION_OPTIONS",
    "PgOutputStream",
    "SlotMissing",
    "create_publication",
    "create_slot",
    "current_lsn",
    "drop_publication",
    "drop_slot",
    "key_column_list",
    "replica_identity_findings",
]

# Session settings the decoder's parsing relies on (sent as the startup "options").
SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c extra_float_digits=1"


class SlotMissing(PositionLost, PreconditionFailed):
    """The replication slot a stream needs does not exist (dropped, or never created)."""


# --- publications and slots (psycopg 3) --------------------------------------------------------


def create_publication(
    url: DatabaseURL, name: str, tables: Sequence[tuple[str, str]], *, keys_only: bool = False
) -> None:
    """``CREATE PUBLICATION name FOR TABLE schema.table, ... WITH (publish_via_partition_root
    = true)``. ``keys_only`` (the drift guard, which reads the rows itself): publish each
    table's key columns only (a column list, PostgreSQL 15+; see :func:`key_column_list`),
    which spares the server the text of every other column. Not idempotent: raises
    :class:`PreconditionFailed` when a publication of that name exists."""
    if not tables:
        raise PreconditionFailed(
            f"publication {name} would publish no table", hint="name at least one table"
        )
    with contextlib.closing(connect(url)) as conn:
        lists = {}
        if keys_only and conn.info.server_version >= 150000:
            lists = {t: key_column_list(conn, *t) for t in tables}
        listed = ", ".join(
            f"{quote_ident(schema)}.{quote_ident(table)}"
            + (
                f" ({', '.join(map(quote_ident, cols))})"
                if (cols := lists.get((schema, table)))
                else ""
            )
            for schema, table in tables
        )
        # a partitioned table's changes are published under its own name (not its partitions'),
        # including partitions created or attached later (PostgreSQL 13+; older servers cannot
        # publish a partitioned table at all, which `ferryman check` reports)
        via_root = conn.info.server_version >= 130000
        options = " WITH (publish_via_partition_root = true)" if via_root else ""
        try:
            conn.execute(f"CREATE PUBLICATION {quote_ident(name)} FOR TABLE {listed}{options}")
        except pgerrors.DuplicateObject:
            raise PreconditionFailed(
                f'publication "{name}" already exists in {url}',
                hint=f"choose another name, or DROP PUBLICATION {quote_ident(name)}",
                obj=name,
            ) from None


def key_column_list(conn: Any, schema: str, table: str) -> list[str] | None:
    """The columns a key-only publication of ``schema.table`` lists: its primary key and the
    replica identity's columns of the table and of every partition under it (PostgreSQL
    refuses an UPDATE or DELETE of a published table whose replica identity the column list
    does not cover). None (every column) for a table without a primary key or with a
    REPLICA IDENTITY FULL anywhere in its tree. A replica identity changed to FULL or to
    another index later makes UPDATEs of that table fail while the publication exists; the
    publication is the drift guard's, on the side only ferryman writes to."""
    rows = conn.execute(
        """
        WITH tree AS (
            SELECT relid FROM pg_partition_tree(%(t)s::regclass)
            UNION SELECT %(t)s::regclass
        )
        SELECT c.relreplident::text, i.indisprimary AND c.oid = %(t)s::regclass, (
            SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
            WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        )
        FROM tree JOIN pg_class c ON c.oid = tree.relid
        LEFT JOIN pg_index i ON i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident)
        """,
        {"t": f"{quote_ident(schema)}.{quote_ident(table)}"},
    ).fetchall()
    columns: list[str] = []
    has_key = False
    for identity, primary, names in rows:
        if identity == "f":
            return None
        has_key = has_key or bool(primary)
        columns += [n for n in names or () if n not in columns]
    return columns if has_key else None


def drop_publication(url: DatabaseURL, name: str) -> None:
    """Drop the publication; idempotent (a missing one is fine)."""
    with contextlib.closing(connect(url)) as conn:
        conn.execute(f"DROP PUBLICATION IF EXISTS {quote_ident(name)}")


def create_slot(url: DatabaseURL, slot: str) -> LSN:
    """Create the permanent logical slot ``slot`` (pgoutput); return its consistent point: a
    stream from the slot delivers exactly the transactions committed after it. Raises
    :class:`PreconditionFailed` when it exists or the server cannot create it. (For a copy that
    must match the slot exactly, create it with ``snapshot.open_snapshot(url, n, slot=...)``.)"""
    with contextlib.closing(connect(url)) as conn:
        try:
            row = conn.execute(
                "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')",
                (slot,),
            ).fetchone()
        except pgerrors.DuplicateObject:
            raise slot_exists(url, slot) from None
        except (pgerrors.ObjectNotInPrerequisiteState, pgerrors.ConfigurationLimitExceeded) as exc:
            raise PreconditionFailed(
                f"cannot create logical replication slot {slot} on {url}: {exc}",
                hint="set wal_level = logical and enough max_replication_slots (restart "
                "needed), or drop unused slots",
                obj=slot,
            ) from None
    assert row is not None
    return LSN.parse(str(row[0]))


def drop_slot(url: DatabaseURL, slot: str, *, timeout: float = 10.0) -> None:
    """Drop the slot; idempotent. A slot still in use by a stream is waited for up to
    ``timeout`` seconds, then raises :class:`PreconditionFailed` naming the process."""
    deadline = time.monotonic() + timeout
    with contextlib.closing(connect(url)) as conn:
        while True:
            row = conn.execute(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is None:
                return
            if row[0] is None:
                try:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                    return
                except pgerrors.UndefinedObject:
                    return
                except pgerrors.ObjectInUse:
                    pass
            if time.monotonic() > deadline:
                raise PreconditionFailed(
                    f"replication slot {slot} is in use by process {row[0]} on {url}",
                    hint=f"stop that stream (SELECT pg_terminate_backend({row[0]})), then retry",
                    obj=slot,
                )
            time.sleep(0.05)


def replica_identity_findings(url: DatabaseURL, tables: Sequence[tuple[str, str]]) -> list[Finding]:
    """What the stream cannot deliver in full for ``tables``, one :class:`Finding` each:

    - FAIL ``replica_identity``: no primary key and REPLICA IDENTITY DEFAULT (or NOTHING): the
      server sends no old row, so UPDATE/DELETE cannot be applied (PostgreSQL even refuses them
      on a published table).
    - WARN ``unchanged_toast``: TOASTable columns with an identity other than FULL: an UPDATE that
      leaves such a value unchanged does not carry it (the applier stops on it).
    """
    findings: list[Finding] = []
    with contextlib.closing(connect(url)) as conn:
        for schema, table in tables:
            obj = f"{schema}.{table}"
            row = conn.execute(
                "SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i"
                "  WHERE i.indrelid = c.oid AND i.indisprimary),"
                " ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid"
                "  AND a.attnum > 0 AND NOT a.attisdropped AND a.attlen = -1"
                "  AND a.attstorage <> 'p' ORDER BY a.attnum)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s",
                (schema, table),
            ).fetchone()
            if row is None:
                continue
            identity, has_pk, toastable = str(row[0]), bool(row[1]), list(row[2])
            alter = f"ALTER TABLE {quote_ident(schema)}.{quote_ident(table)} REPLICA IDENTITY"
            if identity == "n" or (identity == "d" and not has_pk):
                findings.append(
                    Finding(
                        Level.FAIL,
                        "replica_identity",
                        obj,
                        f"{obj} has no primary key and REPLICA IDENTITY "
                        f"{'NOTHING' if identity == 'n' else 'DEFAULT'}: its updates and deletes "
                        "cannot be replicated",
                        f"add a primary key, or {alter} FULL (or USING INDEX a unique index)",
                    )
                )
            elif identity != "f" and toastable:
                findings.append(
                    Finding(
                        Level.WARN,
                        "unchanged_toast",
                        obj,
                        f"{obj} has TOASTable columns ({', '.join(toastable)}) and REPLICA "
                        "IDENTITY is not FULL: an UPDATE that leaves a large value unchanged "
                        "does not carry it, and the move stops there",
                        f"{alter} FULL",
                    )
                )
    return findings


def current_lsn(url: DatabaseURL) -> LSN:
    """The end of the WAL inserted so far: every committed transaction ends at or before it.
    (Not ``pg_current_wal_lsn()``, the *written* end, which lags behind commits made with
    ``synchronous_commit = off``.)"""
    with contextlib.closing(connect(url)) as conn:
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert row is not None
    return LSN.parse(str(row[0]))


# --- the stream (psycopg2) ---------------------------------------------------------------------


@dataclass
class _Pending:
    begin: Begin
    changes: list[Change]
    own: bool = False  # began with ferryman's own mark (``own_prefix``)
    origin: str | None = None


class PgOutputStream(Closing):
    """Transactions from logical slot ``slot`` for publication ``publication``.

    ``start``: the position of the last transaction the target holds (its commit end LSN), or
    None for the slot's confirmed position. ``stop_at``: stop after the first transaction that
    ends at or after it. ``until_caught_up``: stop once everything committed before the iteration
    began (``pg_current_wal_insert_lsn()`` then) has been delivered. ``stop()`` (from a callback or
    another thread) ends the iteration at the next message or poll. ``on_relation_change`` is
    called with (old, new) when a table's definition changes; raise from it to stop.
    ``on_relation`` is called with every Relation message (each session announces every table
    before its first change, and again after a change of definition). ``piece_changes``: yield a
    transaction of more changes than this in pieces (``Transaction.more``; the position of a piece
    but the last is the previous transaction's end, and ``current_commit`` the LSN of the commit
    record of the transaction in progress). ``linger``: when the server had nothing more, wait
    this long before reading again, so that a reader that need not see each transaction at once
    (the drift guard) reads what came meanwhile in one gulp instead of waking for every message.

    Raises :class:`SlotMissing` when the slot does not exist, :class:`FerrymanError` for other
    replication errors. Use as a context manager or call ``close()``.
    """

    def __init__(
        self,
        url: DatabaseURL,
        slot: str,
        publication: str,
        *,
        start: LSN | None = None,
        stop_at: LSN | None = None,
        until_caught_up: bool = False,
        poll_interval: float = 1.0,
        status_interval: float = 10.0,
        on_relation_change: Callable[[Relation, Relation], None] | None = None,
        on_relation: Callable[[Relation], None] | None = None,
        piece_changes: int | None = None,
        own_prefix: str | None = None,
        linger: float = 0.0,
    ) -> None:
        self.url = url
        self.linger = linger
        self.piece_changes = piece_changes
        self.own_prefix = own_prefix
        self.current_commit: LSN | None = None
        self.on_relation = on_relation
        self.slot = slot
        self.publication = publication
        self.start = start
        self.stop_at = stop_at
        self.until_caught_up = until_caught_up
        self.poll_interval = poll_interval
        self.status_interval = status_interval
        self.decoder = Decoder(on_relation_change)
        self.confirmed: LSN | None = None
        self._stopping = False
        self._iterating = False
        self._sent: LSN | None = None
        self._conn: Any = None
        self._cursor: Any = None

    # --- control -------------------------------------------------------------------------------

    def confirm(self, lsn: LSN) -> None:
        """Tell the server everything up to ``lsn`` is durable on the target (the slot may free
        its WAL). Call only after the target commit. Never moves backwards."""
        if self.confirmed is not None and lsn <= self.confirmed:
            return
        self.confirmed = lsn
        if self._cursor is not None and not self._iterating:
            self._cursor.send_feedback(write_lsn=lsn.value, flush_lsn=lsn.value, force=True)
        # while transactions() runs (maybe in another thread) it sends the feedback itself:
        # psycopg2's replication cursor must not be used from two threads at once

    def stop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
        self._conn = self._cursor = None

    # --- reading -------------------------------------------------------------------------------

    def _open(self) -> Any:
        try:
            conn = psycopg2.connect(
                conninfo(self.url),
                connection_factory=psycopg2.extras.LogicalReplicationConnection,
                options=SESSION_OPTIONS,
            )
        except psycopg2.OperationalError as exc:
            raise FerrymanError(
                f"cannot open a replication connection to {self.url}: {_first_line(exc)}",
                hint="the role needs REPLICATION (ALTER ROLE ... REPLICATION) and pg_hba.conf "
                "must allow it",
            ) from None
        self._conn = conn
        cursor: Any = conn.cursor()
        options = {
            "proto_version": "1",
            "publication_names": quote_ident(self.publication),
            "messages": "true",
        }
        try:
            cursor.start_replication(
                slot_name=self.slot,
                decode=False,
                start_lsn=self.start.value if self.start is not None else 0,
                options=options,
            )
        except psycopg2.Error as exc:
            self.close()
            raise self._replication_error(exc) from None
        self._cursor = cursor
        if self.confirmed is not None:
            cursor.send_feedback(flush_lsn=self.confirmed.value, force=True)
        return cursor

    def _replication_error(self, exc: psycopg2.Error) -> FerrymanError:
        text = _first_line(exc)
        if "replication slot" in text and "does not exist" in text:
            return SlotMissing(
                f'replication slot "{self.slot}" does not exist on {self.url.host}:{self.url.port}',
                hint="the move's slot was dropped (or never created): its position is lost; "
                "cancel the move and create it again (ferryman move create) to copy afresh",
                obj=self.slot,
            )
        if "publication" in text and "does not exist" in text:
            return PreconditionFailed(
                f'publication "{self.publication}" does not exist in {self.url}',
                hint="create the move again (ferryman move create), which creates it",
                obj=self.publication,
            )
        return FerrymanError(
            f"logical replication from slot {self.slot} on {self.url} failed: {text}",
            hint="check the server log; restart the move to resume from its checkpoint",
            obj=self.slot,
        )

    def transactions(self) -> Iterator[Transaction]:
        """Yield one :class:`Transaction` per source transaction, in commit order."""
        self._iterating = True
        try:
            yield from self._transactions()
        finally:
            self._iterating = False

    def _send_confirmed(self, cursor: Any) -> None:
        confirmed = self.confirmed
        if confirmed is not None and confirmed != self._sent:
            cursor.send_feedback(write_lsn=confirmed.value, flush_lsn=confirmed.value, force=True)
            self._sent = confirmed

    def _transactions(self) -> Iterator[Transaction]:
        target = current_lsn(self.url).value if self.until_caught_up else None
        cursor = self._cursor or self._open()
        decoder = self.decoder
        pending: _Pending | None = None
        delivered = self.start.value if self.start is not None else 0
        last_status = time.monotonic()
        piece = self.piece_changes or 0
        own_prefix = self.own_prefix
        while not self._stopping:
            try:
                self._send_confirmed(cursor)
                message = cursor.read_message()
            except psycopg2.Error as exc:
                raise self._replication_error(exc) from None
            if message is None:
                timeout = self.poll_interval
                if target is not None and pending is None:
                    if max(cursor.wal_end, delivered) >= target:
                        return
                    cursor.send_feedback(reply=True)  # ask for a keepalive: it carries wal_end
                    timeout = min(timeout, 0.1)
                now = time.monotonic()
                if now - last_status >= self.status_interval:
                    cursor.send_feedback(force=True)
                    last_status = now
                if self.linger:
                    time.sleep(self.linger)  # let more arrive: one gulp instead of many sips
                with contextlib.suppress(InterruptedError):
                    select.select([cursor], [], [], timeout)
                continue
            payload = message.payload
            if pending is not None and pending.own and payload[0] in _ROW_MESSAGES:
                continue  # ferryman's own transaction: its rows are not decoded
            event = decoder.decode(payload)
            if isinstance(event, Change):
                if pending is None:
                    raise FerrymanError(f"pgoutput {event.op} outside a transaction")
                pending.changes.append(event)
                if piece and len(pending.changes) >= piece:
                    yield self._part(pending, delivered)
            elif isinstance(event, Begin):
                pending = _Pending(event, [])
                self.current_commit = LSN(event.final_lsn)
            elif isinstance(event, Commit):
                if pending is None:
                    raise FerrymanError("pgoutput COMMIT without BEGIN")
                delivered = event.end_lsn
                out = Transaction(
                    LSN(event.end_lsn),
                    pending.changes,
                    xid=str(pending.begin.xid),
                    commit_time=event.commit_time,
                )
                if own_prefix is not None:
                    out.own = pending.own
                    if not pending.own:
                        out.who = {"xid": pending.begin.xid}
                        if pending.origin:
                            out.who["origin"] = pending.origin
                yield out
                pending = None
                self.current_commit = None
                if self.stop_at is not None and event.end_lsn >= self.stop_at.value:
                    return
                if target is not None and event.end_lsn >= target:
                    return
            elif isinstance(event, Truncate):
                if pending is None:
                    raise FerrymanError("pgoutput TRUNCATE outside a transaction")
                pending.changes.extend(event.changes)
                if piece and len(pending.changes) >= piece:
                    yield self._part(pending, delivered)
            elif isinstance(event, LogicalMessage):
                if event.transactional and pending is not None:
                    if own_prefix is not None and event.prefix == own_prefix:
                        pending.own = True
                        pending.changes = []
                        continue
                    pending.changes.append(event.change())
                else:
                    yield Transaction(LSN(delivered), [event.change()])
            elif isinstance(event, Relation) and self.on_relation is not None:
                self.on_relation(event)
            elif isinstance(event, Origin) and pending is not None:
                pending.origin = event.name
            # Origin, TypeInfo, Relation: the decoder keeps what it needs.

    @staticmethod
    def _part(pending: _Pending, delivered: int) -> Transaction:
        """A piece of the transaction in progress (more of it follows)."""
        out = Transaction(LSN(delivered), pending.changes, xid=str(pending.begin.xid), more=True)
        pending.changes = []
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
