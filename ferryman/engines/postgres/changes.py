"""A live move's change capture on PostgreSQL: publication + permanent slot, and the feed.

``prepare`` creates the publication ``ferryman_<workflow>`` for the moved tables and the
permanent logical slot of the same name; the slot's consistent point is where the move's
changes start. The feed (:class:`PostgresChangeFeed`) reads the slot with pgoutput and confirms
positions only when the target has committed them (see the stream module).

Catching up to a snapshot (``stop_at``): every transaction whose commit lies before the
snapshot's consistent point ends at or before it. To know when all of them were delivered
without waiting for a later transaction, the feed commits a logical message of its own after
the snapshot was taken; it arrives after every transaction committed before it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterator, Sequence

from ferryman.core.change import Op, Transaction
from ferryman.core.errors import ConfigError
from ferryman.core.position import LSN, Position
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import connect
from ferryman.engines.postgres.logical.pgoutput import Relation
from ferryman.engines.postgres.logical.stream import (
    PgOutputStream,
    create_publication,
    create_slot,
    drop_publication,
    drop_slot,
)
from ferryman.engines.postgres.own import OWN_PREFIX

_MARK_PREFIX = "ferryman.mark"
#: the drift guard's running feed (own marks, no end) reads in gulps at most this far apart
#: (PgOutputStream's ``linger``): measured with 400 transactions of 1,000 rows written live, its
#: thread's CPU 1.4-1.65 s → 0.6 s and the walsender's 2.6 → 1.9 s. A switch's bounded look
#: (``stop_at``) does not linger: it runs in the downtime.
GUARD_LINGER = 0.1


def stream_name(workflow: str) -> str:
    """The slot and publication name of ``workflow`` (PostgreSQL: ``[a-z0-9_]``, ≤ 63)."""
    name = "ferryman_" + re.sub(r"[^a-z0-9_]", "_", workflow.lower())
    if len(name) > 63:
        raise ConfigError(
            f"workflow name {workflow!r} is too long for a replication slot",
            hint="use at most 54 characters",
        )
    return name


def prepare(
    url: DatabaseURL, workflow: str, tables: Sequence[tuple[str, str]], *, keys_only: bool = False
) -> LSN:
    name = stream_name(workflow)
    create_publication(url, name, tables, keys_only=keys_only)
    try:
        return create_slot(url, name)
    except BaseException:
        drop_publication(url, name)
        raise


def drop(url: DatabaseURL, workflow: str) -> None:
    name = stream_name(workflow)
    drop_slot(url, name)
    drop_publication(url, name)


def current_position(url: DatabaseURL) -> LSN:
    with contextlib.closing(connect(url)) as conn:
        # the insert position: every commit made so far ends at or before it. (The *written*
        # end, pg_current_wal_lsn(), lags behind commits made with synchronous_commit=off, and
        # a cutover waiting for it would stop before writes that were already acknowledged.)
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert row is not None
    return LSN.parse(str(row[0]))


class PostgresChangeFeed:
    def __init__(
        self,
        url: DatabaseURL,
        workflow: str,
        start: Position,
        *,
        stop_at: Position | None = None,
        on_relation: Callable[[str, str, tuple[str, ...]], None] | None = None,
        piece_changes: int | None = None,
        own_marks: bool = False,
    ) -> None:
        assert isinstance(start, LSN)
        assert stop_at is None or isinstance(stop_at, LSN)
        self.url = url
        self.stop_at = stop_at
        name = stream_name(workflow)

        def relation(rel: Relation) -> None:
            if on_relation is not None:
                on_relation(rel.namespace, rel.name, rel.names)

        self.stream = PgOutputStream(
            url,
            name,
            name,
            start=start,
            on_relation=relation,
            poll_interval=0.2,
            piece_changes=piece_changes,
            own_prefix=OWN_PREFIX if own_marks else None,
            linger=GUARD_LINGER if own_marks and stop_at is None else 0.0,
        )

    def transactions(self) -> Iterator[Transaction]:
        stop_at = self.stop_at
        if stop_at is None:
            yield from self.stream.transactions()
            return
        token = secrets.token_hex(8)
        with contextlib.closing(connect(self.url)) as conn:
            # in a transaction of its own, committed with synchronous_commit local: the commit
            # flushes the WAL at once, and a walsender sends only flushed WAL (a
            # non-transactional message waited for the WAL writer, up to wal_writer_delay, in
            # every switch's catch-up and drift look: 0.2-0.4 s of the downtime, measured).
            # local, not on: with synchronous standbys configured, on would also wait for a
            # standby, and a standby that is down would hold the catch-up forever
            conn.execute("SET synchronous_commit = local")
            conn.execute("SELECT pg_logical_emit_message(true, %s, %s)", (_MARK_PREFIX, token))
        inside = False  # pieces of a transaction were yielded: the rest of it follows whole
        for tx in self.stream.transactions():
            if inside:
                inside = tx.more
                yield tx
                continue
            if tx.more:
                # its commit record at or after stop_at: it ends after stop_at (a position at a
                # record boundary never falls inside a commit record)
                commit = self.stream.current_commit
                if commit is not None and commit >= stop_at:
                    return
                inside = True
                yield tx
                continue
            if tx.position > stop_at:
                return
            if any(
                c.op is Op.MESSAGE and c.prefix == _MARK_PREFIX and c.sql == token
                for c in tx.changes
            ):
                return
            yield tx

    def confirm(self, position: Position) -> None:
        assert isinstance(position, LSN)
        self.stream.confirm(position)

    def stop(self) -> None:
        self.stream.stop()

    def close(self) -> None:
        self.stream.close()
