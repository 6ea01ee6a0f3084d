"""``ferryman sync``: keep an etcd prefix in sync with MySQL/MariaDB or PostgreSQL tables.

The procedure (:meth:`Sync.run`), resumable at every instant:

1. **Claim** the prefix: its ownership marker ``PREFIX/_ferryman/<name>/owner`` is written once;
   a prefix holding keys ferryman did not write, or another sync's, is refused (``--force``).
2. **Resume or dump.** The stream position lives in etcd (``PREFIX/_ferryman/<name>/position``),
   written in the same etcd transaction as the rows it covers: it is the one source of truth.
   With a position, the change stream resumes from it (no re-dump). Without one (first run, or a
   dump a crash interrupted, or a different table set), the source's change capture is prepared,
   a consistent snapshot with its exact stream position S is dumped in batched transactions,
   keys under the synced tables that the snapshot does not hold are deleted (**reconcile**), and
   only then is S written as the position.
3. **Stream** from the position: the changes of each source transaction are compacted per key
   (``core.apply.Compactor``: a key change is a delete of the old key and a put of the new) and
   written with the new position in one etcd transaction (split when over etcd's limits, see
   ``engines/etcd/sink.py``); the source is told (PostgreSQL slot feedback) only after.
4. **Failures.** The position gone (binlog purged, slot missing after a failover) → log it and
   go to 2 (re-dump + reconcile). A lost source connection → reconnect with backoff and resume
   from the stored position. etcd unreachable → pause, retry, resume from the stored position
   (nothing was confirmed to the source that etcd did not commit). A PostgreSQL in recovery →
   wait with a message until it is promoted.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ferryman.core.apply import Compactor, TableBatch, TableTarget
from ferryman.core.cascade import refuse_unfollowed_cascades
from ferryman.core.change import Transaction
from ferryman.core.convert import source_engine
from ferryman.core.errors import (
    ConfigError,
    ConnectError,
    FerrymanError,
    NotFound,
    PermissionDenied,
    PositionLost,
    PreconditionFailed,
    SchemaError,
)
from ferryman.core.position import Position
from ferryman.core.protocols import Endpoint, RowFilter, need
from ferryman.core.registry import open_endpoint
from ferryman.core.schema import Kind, Table
from ferryman.core.url import DatabaseURL
from ferryman.engines.etcd.keys import (
    Encoder,
    encode_row,
    encoder_for,
    row_key,
    row_text_encoder,
    table_prefix,
    text_encoder_for,
)
from ferryman.engines.etcd.sink import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_OPS,
    Delete,
    EtcdSink,
    EtcdUnavailable,
    Op,
    OversizeRow,
    OwnershipLost,
    Put,
)
from ferryman.pipeline.hooks import pause_point
from ferryman.pipeline.mover import Handoff, drain, pump
from ferryman.workflow.session import stored_url
from ferryman.workflow.state import StateStore, Workflow

log = logging.getLogger("ferryman.sync")

#: PostgreSQL types whose change-stream value is the server's text: the dump reads them as text
_PG_TEXT_KINDS = frozenset(
    {Kind.INTERVAL, Kind.UUID, Kind.INET, Kind.CIDR, Kind.MACADDR, Kind.ARRAY, Kind.BIT, Kind.JSON}
)


@dataclass
class SyncSettings:
    name: str
    tables: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    wheres: dict[str, str] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    max_ops: int = DEFAULT_MAX_OPS
    max_bytes: int = DEFAULT_MAX_BYTES
    oversize: str = "error"  # or "skip"
    force: bool = False
    batch_seconds: float = 0.05  # small source transactions gather this long into one txn
    dump_threads: int = 4  # etcd transactions in flight during the dump
    fetch_rows: int = 5_000
    piece_changes: int = 20_000
    max_backoff: float = 15.0


@dataclass
class _Synced:
    source: Table
    name: str  # the table's name under the prefix (after --rename)
    columns: tuple[str, ...]
    key: tuple[str, ...]
    encoders: tuple[Encoder, ...]
    target: TableTarget
    filter: RowFilter | None = None
    rows: int = 0
    key_index: tuple[int, ...] = ()  # positions of the key columns in ``columns``
    #: the dump's row → JSON bytes (driver values straight to text)
    row_json: Callable[[Sequence[Any]], bytes] = field(default=lambda row: b"")

    def __post_init__(self) -> None:
        self.key_index = tuple(self.columns.index(k) for k in self.key)
        by_name = {c.name: c for c in self.source.columns}
        self.row_json = row_text_encoder(
            self.columns, [text_encoder_for(by_name[c]) for c in self.columns]
        )


def split_members(text: str) -> tuple[str, list[tuple[str, int]]]:
    """``etcd://h1:1,h2:2/p`` → (``etcd://h1:1/p``, [(h1, 1), (h2, 2)])."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text, []
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    auth, at, hosts = netloc.rpartition("@")
    members: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, colon, port = item.rpartition(":")
        if not colon or not port.isdigit():
            host, port = item, "2379"
        if not host:
            raise ConfigError(f"etcd member {item!r} has no host", hint="HOST:PORT[,HOST:PORT…]")
        members.append((host.strip("[]"), int(port)))
    first = hosts.split(",")[0]
    return f"{scheme}://{auth}{at}{first}{tail}", members


class Sync:
    """Runs sync ``settings.name`` from ``source_url`` into the etcd prefix until ``stop``."""

    def __init__(
        self,
        source_url: DatabaseURL,
        target_url: DatabaseURL,
        members: Sequence[tuple[str, int]],
        settings: SyncSettings,
        *,
        stop: threading.Event | None = None,
        publish: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        if settings.oversize not in ("error", "skip"):
            raise ConfigError(f"--oversize {settings.oversize!r} is unknown", hint="error or skip")
        self.source_url = source_url
        self.target_url = target_url
        self.members = list(members)
        self.s = settings
        self.stop = stop or threading.Event()
        self.publish = publish or (lambda phase, status: None)
        from ferryman.engines.etcd.keys import normalize_prefix

        self.prefix = normalize_prefix(target_url.database or "")
        self.source: Endpoint | None = None
        self.sink: EtcdSink | None = None
        self.tables: list[_Synced] = []
        self.phase = "created"
        self.position: Position | None = None
        self.events = 0
        self.lag: float | None = None
        self.error: str | None = None
        self.dumps = 0
        self.dumped_at: float | None = None
        self.claimed_now = False
        self._published = 0.0

    # -- the procedure --------------------------------------------------------------------------

    def open(self) -> None:
        """Connect to both sides and check everything a bad input could break; writes nothing
        but the ownership marker (after every check passed)."""
        self.claimed_now = self.open_for_reading(wait=True).claim(self.s.force)

    def open_for_reading(self, wait: bool = False) -> EtcdSink:
        """Connect to both sides without claiming the prefix (``diff``, ``verify``); ``wait``:
        wait for a source in recovery rather than failing. Returns the etcd side."""
        sink = self.sink = EtcdSink(
            self.target_url,
            self.members,
            self.prefix,
            self.s.name,
            max_ops=self.s.max_ops,
            max_bytes=self.s.max_bytes,
        )
        self._open_source(wait=wait)
        return sink

    def run(self) -> None:
        """Dump when needed, then stream, until ``stop``; see the module doc."""
        if self.sink is None:
            self.open()
        assert self.sink is not None
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    doc = self._retry_etcd(self.sink.read_position)
                    if doc is None or "position" not in doc or doc.get("tables") != self._names():
                        if doc is not None and "position" in doc:
                            log.warning("the synced tables changed: dumping again (reconcile)")
                        self._dump()
                        continue
                    self.events = int(doc.get("events", 0))
                    self.dumped_at = doc.get("dumped_at")
                    self._stream(Position.from_json(doc["position"]))
                    failures = 0
                except PositionLost as exc:
                    log.warning(
                        "the source no longer has the changes after the stored position (%s): "
                        "dumping again and reconciling the prefix",
                        exc,
                    )
                    self.mark_dumping()
                except EtcdUnavailable as exc:
                    self._pause(f"etcd unavailable: {exc}", failures)
                    failures += 1
                except FerrymanError as exc:
                    if not _transient(exc):
                        raise
                    self._pause(f"source connection lost: {exc}", failures)
                    failures += 1
                    self._reopen_source()
        except FerrymanError as exc:
            self.error = str(exc)
            self.phase = "failed"
            if self.claimed_now and self.position is None and self.dumps <= 1:
                self._undo_first_dump()
            raise
        finally:
            self._publish(force=True, running=False)

    def dump(self) -> None:
        """Only the dump (step 2), once, after :meth:`open` (the benchmark's entry point)."""
        self._dump()

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None
        if self.sink is not None:
            self.sink.close()

    # -- source ---------------------------------------------------------------------------------

    def _open_source(self, wait: bool) -> None:
        while True:
            ep = open_endpoint(self.source_url)
            if not ep.server_info().relational:
                ep.close()
                raise ConfigError(
                    f"{self.source_url} is {ep.server_info().flavor}, not a database a sync "
                    "can read",
                    hint="give a mysql://, mariadb:// or postgresql:// source URL",
                )
            if not self._in_recovery(ep):
                break
            ep.close()
            if not wait:
                break
            log.warning(
                "the source %s is a standby in recovery: waiting until it is promoted",
                self.source_url,
            )
            self.phase = "created"
            self._publish(force=True)
            if self.stop.wait(2.0):
                raise ConnectError("stopped while waiting for the source to leave recovery")
        self.source = ep
        self._select_tables(ep)

    @staticmethod
    def _in_recovery(ep: Endpoint) -> bool:
        if ep.server_info().engine != "postgresql":
            return False
        runner = ep.sql_runner()
        return runner is not None and bool(runner.scalar("SELECT pg_is_in_recovery()"))

    def _reopen_source(self) -> None:
        if self.source is not None:
            try:
                self.source.close()
            except Exception:  # a broken connection may fail to close; it is replaced anyway
                log.debug("closing the old source connection failed", exc_info=True)
            self.source = None
        while not self.stop.is_set():
            try:
                self._open_source(wait=True)
                return
            except ConnectError as exc:
                log.warning("source unreachable (%s); retrying", exc)
                self.stop.wait(2.0)

    def _select_tables(self, ep: Endpoint) -> None:
        s = self.s
        schema = ep.introspect(s.tables)  # NotFound names every unknown --tables name
        known = {t.name for t in schema.tables}
        unknown = sorted((set(s.exclude) | set(s.wheres) | set(s.renames)) - known)
        if unknown:
            raise NotFound(
                f"--exclude/--where/--rename name unknown table(s) {', '.join(unknown)} in "
                f"{schema.namespace!r}",
                hint="check the spelling of the table names",
            )
        tables = [t for t in schema.tables if t.name not in set(s.exclude)]
        if not tables:
            raise ConfigError(
                f"no tables to sync from {schema.namespace!r}", hint="check --tables/--exclude"
            )
        keyless = [t.name for t in tables if t.primary_key is None]
        if keyless:
            raise SchemaError(
                f"table(s) {', '.join(keyless)} have no primary key, so their rows have no etcd "
                "key",
                hint="add a primary key, or leave them out with --exclude",
                obj=keyless[0],
            )
        if schema.server.engine == "mysql":  # etcd keys have no foreign keys to act on
            refuse_unfollowed_cascades(
                tables,
                (),
                lambda child, fk, parent: (
                    f"leave {child} out with --exclude, or change "
                    f"foreign key {fk} to RESTRICT / NO ACTION"
                ),
            )
        names = [s.renames.get(t.name, t.name) for t in tables]
        if "_ferryman" in names or len(set(names)) != len(names):
            raise ConfigError(
                "two synced tables would share one etcd key prefix (or use _ferryman)",
                hint="give them distinct names with --rename",
            )
        engine = schema.server.engine
        out: list[_Synced] = []
        for t in tables:
            generated = (
                {c.name for c in t.columns if c.generated is not None}
                if source_engine(t, engine) == "postgresql"
                else set()
            )
            cols = tuple(c for c in t.columns if c.name not in generated)
            assert t.primary_key is not None
            key = tuple(str(c.name) for c in t.primary_key.columns)
            encoders = tuple(encoder_for(c) for c in cols)
            name = s.renames.get(t.name, t.name)
            target = TableTarget(
                t.namespace, t.name, self.prefix, name, tuple(c.name for c in cols), key, encoders
            )
            where = s.wheres.get(t.name)
            rf = (
                need(ep.change_source(), ep, "a sync source").row_filter(t, where)
                if where
                else None
            )
            out.append(_Synced(t, name, target.columns, key, encoders, target, rf))
        self.tables = out
        self.engine = engine

    def _names(self) -> list[str]:
        return sorted(f"{t.source.name}:{t.name}" for t in self.tables)

    # -- dump -----------------------------------------------------------------------------------

    def mark_dumping(self) -> None:
        """Replace the position by a marker: the next :meth:`run` dumps again and reconciles,
        and so does a run after a crash before that dump ended."""
        assert self.sink is not None
        self._retry_etcd(lambda: self.sink.write([], {"dumping": True}) if self.sink else None)
        self.position = None

    def _dump(self) -> None:
        assert self.source is not None and self.sink is not None
        sink = self.sink
        self.phase = "copying"
        self.dumps += 1
        self._publish(force=True)
        src = need(self.source.change_source(), self.source, "a sync source")
        src.drop_changes(self.s.name)  # a new capture: a re-dump after a failover starts afresh
        src.prepare_changes(self.s.name, [t.source.name for t in self.tables])
        if sink.read_position() is not None:
            self.mark_dumping()
        snap = need(self.source.copy_source(), self.source, "a sync source").open_snapshot(
            1, exact=True
        )
        try:
            position = snap.position
            if position is None:
                raise PreconditionFailed(
                    f"the source {self.source_url} has no change log position (binary log off?)",
                    hint="enable the binary log (log_bin, binlog_format=ROW) and run again",
                )
            conn = snap.readers[0].conn
            log.info("dumping %d table(s) at %s", len(self.tables), position)
            seen: dict[str, set[str] | None] = {}
            with ThreadPoolExecutor(self.s.dump_threads) as pool:
                pending: queue.Queue[Future[int]] = queue.Queue()
                for t in self.tables:
                    empty = sink.count(table_prefix(self.prefix, t.name)) == 0
                    keys: set[str] | None = None if empty else set()
                    seen[t.name] = keys
                    t.rows = 0
                    batch: list[Op] = []
                    for row in self._snapshot_rows(conn, t):
                        op = self._put(t, row)
                        if op is None:
                            continue
                        if keys is not None:
                            keys.add(op.key)
                        batch.append(op)
                        if len(batch) >= sink.max_ops - 1:
                            self._submit(pool, pending, batch)
                            batch = []
                        t.rows += 1
                        if self.stop.is_set():
                            raise ConnectError("the dump was stopped; it starts again next run")
                    self._submit(pool, pending, batch)
                    self._publish()
                while not pending.empty():
                    pending.get().result()
            pause_point("sync_after_dump")
        finally:
            snap.close()
        self._reconcile(seen)
        self.position = position
        self.events = 0
        self.dumped_at = time.time()
        self._retry_etcd(lambda: sink.write([], self._doc(position)))
        log.info("dump done at %s; streaming", position)

    def _submit(
        self, pool: ThreadPoolExecutor, pending: queue.Queue[Future[int]], batch: list[Op]
    ) -> None:
        assert self.sink is not None
        if not batch:
            return
        while pending.qsize() >= 2 * self.s.dump_threads:  # bounded memory: wait for the oldest
            pending.get().result()
        pending.put(pool.submit(self.sink.write, batch, None))

    def _reconcile(self, seen: dict[str, set[str] | None]) -> None:
        """Delete keys under the synced tables that the snapshot does not hold."""
        assert self.sink is not None
        for t in self.tables:
            keys = seen.get(t.name)
            if keys is None:
                continue  # the table's prefix was empty: nothing to reconcile
            gone = [
                Delete(k)
                for k in self.sink.keys(table_prefix(self.prefix, t.name))
                if k not in keys
            ]
            if gone:
                log.warning(
                    "reconcile: deleting %d key(s) of %s gone from the source", len(gone), t.name
                )
                self.sink.write(gone, None)

    def expected(self, t: _Synced, row: Sequence[Any]) -> tuple[str, bytes]:
        """The key and value a source row of ``t`` (driver values) has in etcd."""
        return row_key(self.prefix, t.name, [t.encoders[i](row[i]) for i in t.key_index]), (
            t.row_json(row)
        )

    def _put(self, t: _Synced, row: Sequence[Any]) -> Put | None:
        """The put of one row of the dump (driver values): its JSON text is built directly."""
        key = row_key(self.prefix, t.name, [t.encoders[i](row[i]) for i in t.key_index])
        return self._checked(t, Put(key, t.row_json(row)))

    def _put_encoded(self, t: _Synced, values: Sequence[Any]) -> Put | None:
        """The put of one row of the stream (values already encoded by the compactor)."""
        key = row_key(self.prefix, t.name, [values[i] for i in t.key_index])
        return self._checked(t, Put(key, encode_row(t.columns, values)))

    def _checked(self, t: _Synced, op: Put) -> Put | None:
        assert self.sink is not None
        key = op.key
        if self.sink.check_size(op):
            return op
        if self.s.oversize == "skip":
            log.warning(
                "skipping row %s of table %s: %d bytes, over etcd's limit (--oversize skip)",
                key,
                t.source.name,
                op.size(),
            )
            return None
        raise OversizeRow(
            f"row {key} of table {t.source.name} is {op.size()} bytes as JSON, over the etcd "
            f"request limit of {self.sink.max_value} bytes; nothing more was written",
            hint="raise etcd's --max-request-bytes and --etcd-max-bytes, leave the table out "
            "(--exclude), or skip such rows with --oversize skip",
            obj=t.source.name,
        )

    def snapshot_rows(self, conn: Any, t: _Synced) -> Iterator[Sequence[Any]]:
        """The rows of ``t`` (after its ``--where``) read on ``conn`` (a snapshot reader's)."""
        return self._snapshot_rows(conn, t)

    def _snapshot_rows(self, conn: Any, t: _Synced) -> Iterator[Sequence[Any]]:
        """The rows of ``t`` inside the dump's snapshot, as driver values."""
        where = self.s.wheres.get(t.source.name)
        if self.engine == "postgresql":
            from psycopg import sql

            cols = [
                sql.SQL("{}::text").format(sql.Identifier(c.name))
                if c.type.kind in _PG_TEXT_KINDS
                or c.type.kind is Kind.UNSUPPORTED
                or (c.type.kind is Kind.TIME and "with time zone" in c.native)
                else sql.Identifier(c.name)
                for c in t.source.columns
                if c.name in t.columns
            ]
            query = sql.SQL("SELECT {} FROM {}.{}{}").format(
                sql.SQL(", ").join(cols),
                sql.Identifier(t.source.namespace),
                sql.Identifier(t.source.name),
                sql.SQL(f" WHERE ({where})") if where else sql.SQL(""),
            )
            with conn.cursor(name=f"ferryman_sync_{t.source.name[:40]}") as cur:
                cur.itersize = self.s.fetch_rows
                cur.execute(query)
                yield from cur
            return
        import MySQLdb.cursors

        from ferryman.engines.mysql.connection import quote_ident

        text = "SELECT {} FROM {}.{}{}".format(
            ", ".join(quote_ident(c) for c in t.columns),
            quote_ident(t.source.namespace),
            quote_ident(t.source.name),
            f" WHERE ({where})" if where else "",
        )
        cur = conn.cursor(MySQLdb.cursors.SSCursor)
        try:
            cur.execute(text)
            while True:
                rows = cur.fetchmany(self.s.fetch_rows)
                if not rows:
                    return
                yield from rows
        finally:
            cur.close()

    def _undo_first_dump(self) -> None:
        """A first run that failed (bad input found while dumping) leaves the prefix as it
        found it: empty."""
        assert self.sink is not None
        try:
            self.sink.write([Delete(self.prefix + "/", prefix=True)], None)
        except FerrymanError:
            log.warning("could not empty etcd prefix %s after the failed dump", self.prefix)

    # -- stream ---------------------------------------------------------------------------------

    def _stream(self, start: Position) -> None:
        assert self.source is not None and self.sink is not None
        self.position = start
        self.phase = "replicating"
        self._publish(force=True)
        src = need(self.source.change_source(), self.source, "a sync source")
        feed = src.open_changes(
            self.s.name,
            start,
            [t.source.name for t in self.tables],
            piece_changes=self.s.piece_changes,
        )
        handoff = Handoff(2 * self.s.piece_changes)
        reader = threading.Thread(target=pump, args=(feed, handoff, self.stop), daemon=True)
        reader.start()
        compactor = Compactor([t.target for t in self.tables])
        for t in self.tables:
            if t.filter is not None:
                compactor.row_filters[(t.source.namespace, t.source.name)] = t.filter.matches
        by_target = {t.name: t for t in self.tables}
        pending = 0
        last: Transaction | None = None
        started = time.monotonic()

        def flush(final: Transaction | None) -> None:
            nonlocal pending, last, started
            assert self.sink is not None
            tables, changes = compactor.take()
            ops = self._ops(tables, by_target)
            if final is None:  # a piece of a big source transaction: no position yet
                self.sink.write(ops, None)
                return
            self.events += changes
            self.position = final.position
            self.sink.write(ops, self._doc(final.position))
            pause_point("sync_after_commit")
            feed.confirm(final.position)
            if final.commit_time:
                self.lag = max(0.0, time.time() - final.commit_time)
            pending, last = 0, None
            started = time.monotonic()
            self._publish()

        try:
            # transactions in commit order; None when the stream pauses (flush what we have)
            for tx in drain(handoff, self.stop, idle=self._idle):
                if tx is None:
                    if pending:
                        flush(last)
                    continue
                if tx.more:
                    if pending:
                        flush(last)
                    compactor.add(tx.changes)
                    flush(None)
                    continue
                if pending and compactor.pending_rows + len(tx.changes) > self.sink.max_ops - 1:
                    flush(last)  # this transaction gets its own etcd transaction
                compactor.add(tx.changes)
                pending += 1
                last = tx
                if (
                    compactor.pending_rows >= self.sink.max_ops - 1
                    or time.monotonic() - started >= self.s.batch_seconds
                ):
                    flush(last)
            if pending and not self.stop.is_set():
                flush(last)
        finally:
            feed.stop()
            reader.join(10)
            feed.close()

    def _idle(self) -> None:
        self.lag = 0.0
        self._publish()

    def _ops(self, tables: list[TableBatch], by_target: dict[str, _Synced]) -> list[Op]:
        ops: list[Op] = []
        for tb in tables:
            t = by_target[tb.target.table]
            if tb.truncate:
                ops.append(Delete(table_prefix(self.prefix, t.name), prefix=True))
            for key in tb.deletes:
                ops.append(Delete(row_key(self.prefix, t.name, key)))
            for row in tb.upserts:
                op = self._put_encoded(t, row)
                if op is None:  # too large: etcd keeps no stale copy of the row
                    ops.append(Delete(row_key(self.prefix, t.name, [row[i] for i in t.key_index])))
                else:
                    ops.append(op)
        return ops

    # -- helpers --------------------------------------------------------------------------------

    def _doc(self, position: Position) -> dict[str, Any]:
        return {
            "position": position.to_json(),
            "tables": self._names(),
            "events": self.events,
            "dumped_at": self.dumped_at,
            "at": time.time(),
        }

    def _retry_etcd(self, fn: Callable[[], Any]) -> Any:
        failures = 0
        while True:
            try:
                return fn()
            except EtcdUnavailable as exc:
                if self.stop.is_set():
                    raise
                self._pause(f"etcd unavailable: {exc}", failures)
                failures += 1

    def _pause(self, why: str, failures: int) -> None:
        delay = min(self.s.max_backoff, 0.5 * 2**failures)
        log.warning("%s; retrying in %.1fs", why, delay)
        self.error = why
        self._publish(force=True)
        self.stop.wait(delay)
        self.error = None

    def status(self, running: bool = True) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "running": running,
            "tables": [
                {
                    "source": f"{t.source.namespace}.{t.source.name}",
                    "target": table_prefix(self.prefix, t.name),
                    "rows_copied": t.rows,
                    "rows_estimated": t.source.estimated_rows,
                    "copy_done": self.phase == "replicating" or self.position is not None,
                }
                for t in self.tables
            ],
            "lag_seconds": round(self.lag, 3) if self.lag is not None else None,
            "position": str(self.position) if self.position is not None else None,
            "events_applied": self.events,
            "error": self.error,
        }

    def _publish(self, force: bool = False, running: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._published < 1.0:
            return
        self._published = now
        try:
            self.publish(self.phase, self.status(running))
        except Exception:  # status is advisory; never stop the sync for it
            log.debug("publishing the status failed", exc_info=True)


def _transient(exc: FerrymanError) -> bool:
    """Worth a reconnect and another try: a lost connection or a restarting server."""
    return not isinstance(
        exc,
        (SchemaError, ConfigError, PermissionDenied, PreconditionFailed, PositionLost, NotFound),
    ) and not isinstance(exc, OwnershipLost)


# -- the workflow in the state store (``move status/list/cancel`` work on it) ----------------

SYNC_KIND = "sync"


def is_sync(spec: dict[str, Any]) -> bool:
    return spec.get("kind") == SYNC_KIND


def run(
    store: StateStore,
    source: str,
    target: str,
    settings: SyncSettings,
    *,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Create (first run) or resume the sync workflow ``settings.name`` and run it in the
    foreground until ``stop``; returns the last status. Bad input raises before anything is
    written (state store or etcd)."""
    from ferryman.core.registry import resolve

    name = settings.name
    first, members = split_members(target)
    src_u, dst_u = resolve(source), resolve(first)
    if dst_u.scheme != "etcd":
        raise ConfigError(
            f"the sync target {dst_u} is not etcd",
            hint="ferryman sync SRC_URL etcd://HOST:PORT/PREFIX (between databases: move/copy)",
        )
    spec = {
        "kind": SYNC_KIND,
        "source": stored_url(src_u),
        "target": stored_url(dst_u)
        + (
            ""
            if len(members) < 2
            else " (members " + ",".join(f"{h}:{p}" for h, p in members) + ")"
        ),
        "tables": settings.tables,
        "exclude": settings.exclude,
        "wheres": settings.wheres,
        "renames": settings.renames,
    }
    existing: Workflow | None
    try:
        existing = store.get(name)
    except NotFound:
        existing = None
    if existing is not None and (
        not is_sync(existing.spec) or existing.spec.get("target") != spec["target"]
    ):
        raise ConfigError(
            f"workflow {name!r} exists and is not a sync from {spec['source']} into "
            f"{spec['target']}",
            hint=f"choose another --name, or remove it: ferryman move cancel {name}",
            obj=name,
        )
    stop = stop or threading.Event()
    with store.runner_lock(name):

        def publish(phase: str, status: dict[str, Any]) -> None:
            store.update(name, phase=phase, status=status, error=status.get("error"))

        sync = Sync(src_u, dst_u, members, settings, stop=stop, publish=publish)
        try:
            sync.open()
            if existing is not None and existing.spec.get("source") != spec["source"]:
                # Another server (a promoted standby, a restored primary): the stored position
                # names the old server's log, which means nothing here. Mark the prefix as
                # dumping before the spec names the new source, so a crash in between dumps.
                log.warning(
                    "sync %s: the source changed from %s to %s: dumping again and reconciling "
                    "the prefix",
                    name,
                    existing.spec.get("source"),
                    spec["source"],
                )
                sync.mark_dumping()
            if existing is None:
                store.create(Workflow(name, spec))
            else:
                store.update(name, spec=spec)
            store.record(name, "start", f"pid {os.getpid()}")
            try:
                sync.run()
            except FerrymanError as exc:
                if existing is None and sync.position is None and not _transient(exc):
                    store.delete(name)  # a first run that found bad input leaves no trace
                else:
                    store.update(name, phase="failed", error=str(exc), status=sync.status(False))
                raise
            store.update(name, phase="stopped", status=sync.status(False), error=None)
            store.record(name, "stopped")
            return sync.status(False)
        finally:
            sync.close()


def status(store: StateStore, name: str) -> dict[str, Any]:
    """``move status`` of a sync workflow (the same fields as a move's)."""
    wf = store.get(name)
    st = wf.status or {}
    running = bool(st.get("running")) and store.runner_alive(name)
    return {
        "name": wf.name,
        "kind": SYNC_KIND,
        "phase": wf.phase,
        "running": running,
        "source": wf.spec.get("source"),
        "target": wf.spec.get("target"),
        "tables": st.get("tables") or [],
        "lag_seconds": st.get("lag_seconds") if running else None,
        "position": st.get("position"),
        "events_applied": st.get("events_applied", 0),
        "events_per_second": 0.0,
        "throttled": False,
        "on_ddl": "ignore",
        "direction": "forward",
        "new_primary": None,
        "fences": {},
        "switches": 0,
        "cutover": None,
        "error": wf.error,
        "updated_at": wf.updated_at,
        "created_at": wf.created_at,
    }


def cancel(
    store: StateStore,
    name: str,
    *,
    source: str | None = None,
    target: str | None = None,
    keep_data: bool = False,
    say: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Remove a sync: the source's change capture (PostgreSQL slot and publication), its control
    keys under the prefix, its rows (unless ``keep_data``) and the workflow. Idempotent. The
    stored URLs carry no password: give ``source``/``target`` again when they need one."""
    from ferryman.core.registry import resolve

    wf = store.get(name)
    src_text = source or str(wf.spec["source"])
    dst_text = target or str(wf.spec["target"]).split(" (members ")[0]
    first, members = split_members(dst_text)
    with store.runner_lock(name):
        src = open_endpoint(resolve(src_text))
        try:
            say("removing change capture on the source")
            need(src.change_source(), src, "a sync source").drop_changes(name)
        finally:
            src.close()
        dst_u = resolve(first)
        from ferryman.engines.etcd.keys import normalize_prefix

        prefix = normalize_prefix(dst_u.database or "")
        sink = EtcdSink(dst_u, members, prefix, name)
        try:
            tables = [t["target"] for t in (wf.status or {}).get("tables", [])]
            if not keep_data:
                for tp in tables:
                    say(f"deleting the keys under {tp}")
                    sink.token = sink.owners().get(name)
                    if sink.token is not None:
                        sink.write([Delete(tp, prefix=True)], None)
            sink.release()
        finally:
            sink.close()
        store.record(name, "cancel", "keep-data" if keep_data else "")
        store.delete(name)
    return {
        "name": name,
        "cancelled": True,
        "deleted_prefixes": [] if keep_data else tables,
        "kept_data": keep_data,
    }
