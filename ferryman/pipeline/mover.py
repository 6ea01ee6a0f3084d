"""The live move: copy while the source keeps writing, then replicate, all resumable.

How copy and change stream are interleaved (Vitess VReplication's copy / catch-up cycle, built on
the copy pipeline's consistent snapshots):

1. The change stream's start position P0 is fixed at ``move create`` (PostgreSQL: the permanent
   slot's consistent point; MySQL/MariaDB: the binlog position), before any row is read.
2. A *copy round* opens an exact snapshot at position S (MariaDB's consistent snapshot with its
   binlog position; PostgreSQL's temporary-slot snapshot with its consistent point).
3. *Catch-up*: the stream is read from the checkpoint position up to S. A change is applied only
   to keys the target already holds a copy of: whole tables whose copy is done, and keys at or
   below a table's copy cursor. Changes to keys not yet copied are skipped: the snapshot has them.
   After catch-up, every copied key on the target is as of S.
4. The round copies the rest of each unfinished table from the snapshot at S, in key order and in
   parallel chunks (the ``ferryman copy`` pipeline), for at most ``round_seconds``; the cursor of
   a table advances over the contiguous prefix of committed chunks.
5. The round's checkpoint (position S, cursors) is committed in the target. The next round (or
   the replication phase) resumes the stream from S.

A crash anywhere resumes from the last checkpoint: rows a crashed round copied above a cursor are
deleted first (they may predate changes that were skipped), then the stream and copy go on. Per
chunk resume needs keys that compare in Python as in the database (integer keys); other tables
resume per table.

Replication: one ordered stream, batches of whole source transactions compacted per key and
committed together with the checkpoint; the source is told (PostgreSQL slot feedback) only after
the target commit. A source transaction is never split across target commits.

A big source transaction is never held whole either: the stream hands it over in pieces of
``PIECE_BATCHES * batch_rows`` changes (``Transaction.more``), the reader thread passes at most
two pieces' worth of changes ahead (``Handoff``), and each piece is compacted and written into
one open target transaction as it comes (``Applier.apply_part``); its last piece commits them all
with the checkpoint. A crash, a stop or a failure in between rolls the target transaction back,
and the stream resumes before the source transaction, so memory stays bounded whatever its size
and the target holds all of it or none.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ferryman.core.apply import ApplyBatch, Checkpoint, Compactor, Key, TableTarget
from ferryman.core.cascade import CascadeGraph, cascade_links
from ferryman.core.change import Change, Op, Transaction
from ferryman.core.control import Controls
from ferryman.core.copy import KeyRange, TableCopy, TableProgress, ValuePolicy
from ferryman.core.errors import (
    ConfigError,
    ConnectError,
    FerrymanError,
    PermissionDenied,
    PositionLost,
    PreconditionFailed,
    SchemaError,
)
from ferryman.core.position import Position
from ferryman.core.protocols import (
    Applier,
    ChangeFeed,
    ChangeSource,
    Endpoint,
    MoveTarget,
    RowFilter,
    need,
)
from ferryman.core.schema import Kind, Table
from ferryman.pipeline.copier import Copier, CopyObserver, CopyRequest, NullObserver
from ferryman.pipeline.guard import DriftGuard, DriftHalted, GuardedTable, GuardRequest
from ferryman.pipeline.hooks import pause_point
from ferryman.pipeline.movestate import MoveState, TableState

log = logging.getLogger("ferryman.move")


class DdlSeen(FerrymanError):
    """The source changed the definition of a moved table; the move pauses (``--on-ddl stop``)."""

    exit_code = 1


@dataclass
class MoveSettings:
    workflow: str
    tables: list[str]
    checkpoint_key: str = ""  # unique per created move (default: the workflow name)
    stream: str = ""  # the change capture's name (PostgreSQL slot), default: the workflow name
    wheres: dict[str, str] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    target_namespace: str | None = None
    start_position: dict[str, Any] | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)  # table -> expected columns
    on_ddl: str = "stop"
    skip_ddl: bool = False
    jobs: int = 2
    chunk_rows: int = 10_000
    batch_rows: int = 5_000
    batch_seconds: float = 0.05
    round_seconds: float = 600.0
    max_rows_per_second: float | None = None
    lag_query: str | None = None
    max_source_lag: float = 5.0
    status_interval: float = 1.0
    copy: bool = True  # False: a stream with nothing to copy (reverse)
    values: ValuePolicy = field(default_factory=ValuePolicy)  # values the target cannot hold
    reconnect_attempts: int = 8
    max_backoff: float = 15.0
    on_drift: str | None = None  # the drift guard: halt | repair | log (None: no guard)
    guard_stream: str = ""  # the target's change capture the guard reads
    guard_start: dict[str, Any] | None = None  # where this direction's guard starts


class MoveObserver(CopyObserver, Protocol):
    def status(self, status: dict[str, Any]) -> None: ...


class _NullMoveObserver(NullObserver):
    def status(self, status: dict[str, Any]) -> None:
        pass


@dataclass
class _Table:
    source: Table
    copy: TableCopy
    target: TableTarget
    cursor_ok: bool
    filter: RowFilter | None = None


class _Throttle:
    """``max_rows_per_second`` (a token bucket holding at most one second's worth) and the
    user's lag query on the source. :meth:`configure` changes both while the move runs (the
    operator's ``move throttle``); a wait ends early when the limit changes, the move stops or
    it is paused (``held``: the pause holds it instead)."""

    def __init__(
        self,
        settings: MoveSettings,
        lag: Callable[[], float | None] | None,
        stop: threading.Event,
        waiting: Callable[[], None] = lambda: None,
        held: Callable[[], bool] = lambda: False,
    ) -> None:
        self.waiting = waiting  # called while held back (status shows throttled: true)
        self.held = held
        self.rate = settings.max_rows_per_second or None
        self.max_lag: float | None = settings.max_source_lag
        self.lag = lag
        self.stop = stop
        self.lock = threading.Lock()
        self.allowance = 0.0
        self.last = time.monotonic()
        self.checked = 0.0
        self.throttled = False
        self.error: str | None = None  # the lag query's last failure

    def configure(
        self,
        rate: float | None,
        max_lag: float | None,
        lag: Callable[[], float | None] | None,
    ) -> None:
        """New limits, in force from the next row or check on (any thread)."""
        with self.lock:
            rate = rate or None
            if rate != self.rate:
                self._refill()
                self.rate = rate
                # a debt run up under the old limit is paid at the new one, at most a second
                self.allowance = max(min(self.allowance, rate), -rate) if rate else 0.0
            self.max_lag = max_lag
            if lag is not self.lag:
                self.lag = lag
                self.checked = 0.0
            if lag is None or max_lag is None:
                self.throttled = False
                self.error = None

    def _refill(self) -> None:
        now = time.monotonic()
        if self.rate:
            self.allowance = min(self.rate, self.allowance + (now - self.last) * self.rate)
        self.last = now

    def rows(self, n: int) -> None:
        """Account ``n`` rows; wait while they are more than the limit allows."""
        with self.lock:
            if not self.rate:
                return
            self._refill()
            self.allowance -= n
        while not self.stop.is_set() and not self.held():
            with self.lock:
                if not self.rate:
                    return
                self._refill()
                if self.allowance >= 0:
                    return
                wait = -self.allowance / self.rate
            self.stop.wait(min(wait, 0.1))

    def source_lag(self) -> None:
        """Wait while the user's lag query reports more than ``max_source_lag`` (a failing
        query holds too, naming its error in the status: the lag is unknown)."""
        while not self.stop.is_set() and not self.held():
            with self.lock:
                lag, max_lag = self.lag, self.max_lag
            if lag is None or max_lag is None:
                return
            now = time.monotonic()
            if now - self.checked < 1.0 and not self.throttled:
                return
            self.checked = now
            try:
                value = lag()
            except FerrymanError as exc:
                if self.error != exc.message:
                    log.warning("%s; holding the move until it works", exc.message)
                self.error = exc.message
                self.throttled = True
            else:
                self.error = None
                self.throttled = value is not None and value > max_lag
                if not self.throttled:
                    return
                log.info("source lag %.1fs above %.1fs: throttling", value, max_lag)
            self.waiting()
            for _ in range(10):
                if self.stop.wait(0.1) or self.held() or self.lag is not lag:
                    break


class Mover:
    """Runs one live move until ``stop`` is set (or a failure / DDL pause raises)."""

    def __init__(
        self,
        source: Endpoint,
        target: Endpoint,
        settings: MoveSettings,
        *,
        stop: threading.Event | None = None,
        observer: MoveObserver | None = None,
        publish: Callable[[str, dict[str, Any]], None] | None = None,
        lag_probe: Callable[[], float | None] | None = None,
        record_drift: Callable[[list[dict[str, Any]]], list[bool]] | None = None,
        note: Callable[[str, str], None] | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.src: ChangeSource = need(source.change_source(), source, "a change source")
        self.dst: MoveTarget = need(target.move_target(), target, "a live move's target")
        self.s = settings
        self.stop = stop or threading.Event()
        self.observer: MoveObserver = observer or _NullMoveObserver()
        self.publish = publish or (lambda phase, status: None)
        self.resumed = threading.Event()  # cleared while the operator pauses the move
        self.resumed.set()
        self.throttle = _Throttle(
            settings, lag_probe, self.stop, lambda: self._publish(), lambda: self.paused
        )
        self.copier = Copier(
            source,
            target,
            CopyRequest(
                tables=settings.tables,
                wheres=settings.wheres,
                renames=settings.renames,
                target_namespace=settings.target_namespace,
                jobs=settings.jobs,
                chunk_rows=settings.chunk_rows,
                create=False,
                values=settings.values,
            ),
        )
        self.tables: list[_Table] = []
        self.by_source: dict[str, _Table] = {}
        self.cascades: CascadeGraph | None = None
        self.applier: Applier | None = None
        self.position: Position | None = None
        self.state = MoveState()
        self.progress: list[TableProgress] = []
        self.phase = "copying"
        self.events = 0
        self.last_commit_time: float | None = None
        self.lag = 0.0
        self._rate: deque[tuple[float, int]] = deque()
        self._published = 0.0
        self._skip_ddl = settings.skip_ddl
        self._first_round = True
        self.key = settings.checkpoint_key or settings.workflow
        self.record_drift = record_drift
        self.note = note or (lambda kind, detail: None)
        self.guard: DriftGuard | None = None

    # -- runtime controls (``move pause`` / ``resume`` / ``throttle``) -------------------------

    def control(self, controls: Controls, lag: Callable[[], float | None] | None = None) -> None:
        """Follow the operator's runtime controls (from any thread): a pause takes effect at
        the next batch boundary (replication) or chunk boundary (copy); limits apply from the
        next batch on. ``lag``: the probe running ``controls.lag_query`` on the source (None:
        no lag check)."""
        self.throttle.configure(
            controls.max_rows_per_second, controls.lag_limit, lag if controls.lag_limit else None
        )
        if controls.paused:
            self.resumed.clear()
        else:
            self.resumed.set()

    @property
    def paused(self) -> bool:
        return not self.resumed.is_set()

    def _hold_while_paused(self) -> None:
        """Between batches or copy rounds: while paused, apply nothing and keep the
        connections (phase ``paused``) until resumed or stopped."""
        if not self.paused or self.stop.is_set():
            return
        before = self.phase
        self.phase = "paused"
        log.info("move %s paused by the operator", self.s.workflow)
        self._publish(force=True)
        try:
            while self.paused and not self.stop.is_set():
                self.stop.wait(0.05)
                self._publish()
        finally:
            self.phase = before
        if not self.stop.is_set():
            log.info("move %s resumed", self.s.workflow)
            self._publish(force=True)

    # -- setup ----------------------------------------------------------------------------------

    def _open(self) -> None:
        schema = self.source.introspect(self.s.tables)
        namespace = self.copier.namespace = self.s.target_namespace or self.target.namespace
        copies = {tc.name: tc for tc in self.copier.table_copies(schema)}
        targets = {
            t.name: t
            for t in self.target.introspect(
                [self.s.renames.get(n, n) for n in self.s.tables], namespace=namespace
            ).tables
        }
        for old in self.tables:  # again after --on-ddl exec: close the old filters
            if old.filter is not None:
                old.filter.close()
        self.tables = []
        for table in schema.tables:
            tc = replace(copies[table.name], key_order=True)
            target_table = targets[tc.target_name]
            columns = tc.target_columns
            if not self.source.capabilities().streams_generated_columns:
                # a target's plain copy of a generated column keeps what the copy wrote (a
                # known gap; the other columns are replicated)
                generated = {c.name for c in table.columns if c.generated is not None}
                columns = tuple(c for c in columns if c not in generated)
            tt = TableTarget(
                table.namespace,
                table.name,
                namespace,
                tc.target_name,
                columns,
                tc.key,
                self.dst.apply_converters(table, target_table, columns, values=self.s.values),
            )
            cursor_ok = all(table.column(k).type.kind is Kind.INTEGER for k in tc.key)
            where = self.s.wheres.get(table.name)
            rf = self.src.row_filter(table, where) if where else None
            self.tables.append(_Table(table, tc, tt, cursor_ok, rf))
        self.by_source = {t.source.name: t for t in self.tables}
        self.cascades = None
        if not self.source.capabilities().fk_actions_logged:  # repeat them on the target
            self.cascades = (
                cascade_links(
                    schema,
                    {
                        t.source.name: (
                            t.target.namespace,
                            t.target.table,
                            t.target.columns,
                            t.target.convert or (None,) * len(t.target.columns),
                        )
                        for t in self.tables
                    },
                    self.s.wheres,
                )
                or None
            )
        self.progress = [
            TableProgress(t.source.name, t.copy.target_label, t.source.estimated_rows or 0)
            for t in self.tables
        ]

    def _load_checkpoint(self) -> None:
        assert self.applier is not None
        ckpt = self.applier.read_checkpoint(self.key)
        if ckpt is None or ckpt.position is None:
            if self.s.start_position is None:
                raise PreconditionFailed(
                    f"workflow {self.s.workflow} has no start position",
                    hint="create it again with ferryman move create",
                )
            self.position = Position.from_json(self.s.start_position)
            self.state = MoveState()
            if not self.s.copy:  # the rows are there already (a reverse stream after cutover)
                self.state = MoveState.copied(t.source.name for t in self.tables)
        else:
            self.position = Position.from_json(ckpt.position)
            self.state = MoveState.load(ckpt.state, self.key)
        for t in self.tables:
            self.state.table(t.source.name)
        self.events = self.state.events
        for tp, t in zip(self.progress, self.tables, strict=True):
            st = self.state.tables[t.source.name]
            tp.rows = st.rows
            tp.done = st.done

    def _table_state(self, name: str) -> TableState:
        return self.state.tables[name]

    def _accept(self, tt: TableTarget, key: Key) -> bool:
        st = self.state.tables[tt.source_table]
        if st.done:
            return True
        return st.cursor is not None and tuple(key) <= tuple(st.cursor)

    # -- the procedure --------------------------------------------------------------------------

    def run(self) -> None:
        self._open()
        self.applier = self.dst.open_applier()
        try:
            self._load_checkpoint()
            self._start_guard()
            self._first_round = True
            while not self._all_copied() and not self.stop.is_set():
                self._hold_while_paused()
                if self.stop.is_set():
                    break
                self.phase = "copying"
                self._retrying("copy round", self._copy_round)
            if self.stop.is_set():
                return
            if not self.state.identity_synced:
                self._sync_identities()
            self.phase = "replicating"
            self._publish(force=True)
            self._replicate()
        finally:
            self._publish(force=True, running=False)
            self.close()

    def prepare(self) -> None:
        """Open what a final catch-up needs (tables, applier, checkpoint); stream nothing."""
        self._open()
        self.applier = self.dst.open_applier()
        self._load_checkpoint()

    def finish_at(self, until: Position, timeout: float) -> None:
        """A cutover's last step on this stream: apply every change up to ``until`` (the fenced
        source's final position) within ``timeout`` seconds, then record ``until`` as the
        checkpoint. Raises PreconditionFailed on timeout, leaving the checkpoint where the
        applied changes took it."""
        assert self.position is not None and self.applier is not None
        if not self._all_copied():
            raise PreconditionFailed(
                f"move {self.s.workflow} has not finished copying",
                hint="let `ferryman move start` finish the copy, then switch",
            )
        failure: list[BaseException] = []
        feed = self._open_feed(until) if self.position < until else None

        def work() -> None:
            try:
                if feed is not None:
                    self._consume(feed, feed.transactions(), until=until)
            except BaseException as exc:  # handed to the caller
                failure.append(exc)

        worker = threading.Thread(target=work, name="ferryman-catch-up", daemon=True)
        try:
            worker.start()
            worker.join(timeout)
            if worker.is_alive():
                if feed is not None:
                    feed.stop()
                worker.join(10.0)
                raise PreconditionFailed(
                    f"the target did not apply the source's changes up to {until} within "
                    f"{timeout:g}s (applied up to {self.position})",
                    hint="switch when `ferryman move status` shows a small lag, or give a "
                    "longer --timeout",
                )
            if failure:
                raise failure[0]
        finally:
            if feed is not None:
                feed.close()
        if self.position < until:
            self.position = until
        self._commit(ApplyBatch([], self._checkpoint()))

    def sync_identities(self) -> None:
        """Move the target's identity/serial sequences past its rows (before it takes writes)."""
        self._sync_identities()

    def sweep_drift(self, timeout: float) -> None:
        """A switch's last look for drift, after its final catch-up and before the target
        takes the applications' writes: the guard reads the target's log from where the
        runner's guard got to up to now, then acts on what it found as at a batch boundary
        (``halt``: :class:`DriftHalted`; ``repair``: the keys re-copied; ``log``). A log it
        cannot read within ``timeout`` is a warning, as for the runner's guard."""
        guard = self._new_guard()
        if guard is None:
            return
        try:
            detail = None
            try:
                until = guard.changes.current_position()
                if not guard.sweep(self.state.guard, until, timeout):
                    detail = f"the switch did not read the target's log up to {until} in time"
            except FerrymanError as exc:
                detail = f"the switch could not read the target's log: {exc.message}"
            if detail is not None:
                log.warning("drift guard: %s", detail)
                self.note("drift guard off", detail)
            guard.check()
        finally:
            guard.close()

    def _start_guard(self) -> None:
        """Watch the target for writes ferryman does not make (``on_drift``); a target whose
        log cannot be read moves on unguarded, with a warning."""
        guard = self._new_guard()
        if guard is None:
            return
        try:
            guard.start(self.state.guard)
        except FerrymanError as exc:
            guard.close()
            log.warning("drift guard off: %s", exc.message)
            self.note("drift guard off", exc.message)
            return
        self.guard = guard

    def _new_guard(self) -> DriftGuard | None:
        """The drift guard of this stream (None: none is asked for, or it cannot open)."""
        if self.s.on_drift in (None, "off") or self.record_drift is None or not self.s.guard_stream:
            return None
        request = GuardRequest(
            workflow=self.s.workflow,
            mode=self.s.on_drift,
            stream=self.s.guard_stream,
            start=self.s.guard_start,
            tables=tuple(
                GuardedTable(t.source.name, t.target.namespace, t.target.table, t.target.key)
                for t in self.tables
            ),
            target_namespace=self.s.target_namespace or self.target.namespace,
            wheres=self.s.wheres,
            renames=self.s.renames,
        )
        try:
            return DriftGuard(self.source, self.target, request, self.record_drift, self.note)
        except FerrymanError as exc:
            log.warning("drift guard off: %s", exc.message)
            self.note("drift guard off", exc.message)
            return None

    def _guard_check(self) -> None:
        if self.guard is not None:
            self.guard.check()

    def close(self) -> None:
        if self.guard is not None:
            self.guard.close()
            self.guard = None
        for t in self.tables:
            if t.filter is not None:
                t.filter.close()
        if self.applier is not None:
            self.applier.close()
            self.applier = None

    def _all_copied(self) -> bool:
        return all(self._table_state(t.source.name).done for t in self.tables)

    def _retrying(self, what: str, fn: Callable[[], None]) -> None:
        """Run ``fn``; on a lost connection reconnect with backoff and run it again."""
        failures = 0
        while True:
            try:
                fn()
                return
            except FerrymanError as exc:
                if self.stop.is_set():
                    return
                failures += 1
                if failures > self.s.reconnect_attempts or not _transient(exc):
                    raise
                delay = min(self.s.max_backoff, 0.5 * 2 ** (failures - 1))
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                self.stop.wait(delay)
                self._reconnect()

    def _reconnect(self) -> None:
        if self.applier is not None:
            with contextlib.suppress(Exception):
                self.applier.close()
        self.applier = None
        while self.applier is None:
            try:
                self.applier = self.dst.open_applier()
                self.target.reconnect()
                self.source.reconnect()
            except FerrymanError as exc:
                log.warning("target unreachable (%s); retrying", exc)
                self.applier = None
                if self.stop.wait(2.0):
                    raise
        ckpt = self.applier.read_checkpoint(self.key)
        if ckpt is not None and ckpt.position is not None:
            self.position = Position.from_json(ckpt.position)
            self.state = MoveState.load(ckpt.state, self.key)
            self.events = self.state.events

    # -- copy -----------------------------------------------------------------------------------

    def _copy_round(self) -> None:
        assert self.applier is not None
        pending = [t for t in self.tables if not self._table_state(t.source.name).done]
        for t in pending:
            st = self._table_state(t.source.name)
            cursor = tuple(st.cursor) if st.cursor is not None else ()
            removed = self.applier.delete_above(
                t.target.namespace, t.target.table, t.target.key, cursor
            )
            if removed:
                log.info("removed %d rows above the copy cursor of %s", removed, t.copy.name)
        snapshot = self.copier.src.open_snapshot(max(1, self.s.jobs), exact=True)
        try:
            s_pos = snapshot.position
            if s_pos is None:
                raise PreconditionFailed(
                    f"{self.source.url} gave no log position for the copy snapshot",
                    hint="turn the binary log on (log_bin) and restart the server",
                )
            pause_point("snapshot_open")
            self._catch_up(s_pos)
            if self.paused:
                # the catch-up stopped at a batch (its checkpoint is committed): no copy and no
                # checkpoint at the snapshot; the next round opens a new one
                return
            if self._first_round:
                self._first_round = False
                self.observer.started(self.progress, s_pos, snapshot.method)
            self._copy_from(snapshot, pending)
        finally:
            snapshot.close()
        self._round_checkpoint(s_pos)

    def _round_checkpoint(self, s_pos: Position) -> None:
        """The round's rows are written: its checkpoint at the snapshot's position."""
        pause_point("before_checkpoint")
        self.position = s_pos
        self._commit(ApplyBatch([], self._checkpoint()))
        self._guard_check()

    def _copy_from(self, snapshot: Any, pending: list[_Table]) -> None:
        copies = [t.copy for t in pending]
        progress = [self.progress[self.tables.index(t)] for t in pending]
        issued: list[list[KeyRange]] = [[] for _ in pending]
        slot: list[dict[KeyRange, int]] = [{} for _ in pending]  # range -> its issue order
        finished: list[dict[int, int]] = [{} for _ in pending]
        lock = threading.Lock()
        deadline = time.monotonic() + self.s.round_seconds

        def ranges(tc: TableCopy) -> Iterator[KeyRange]:
            i = copies.index(tc)
            t = pending[i]
            st = self._table_state(t.source.name)
            cursor = tuple(st.cursor) if st.cursor is not None else None
            for rng in self.copier.src.key_ranges(tc, self.s.chunk_rows):
                if cursor is not None:
                    if rng.high is not None and tuple(rng.high) <= cursor:
                        continue
                    if rng.low is None or tuple(rng.low) < cursor:
                        rng = KeyRange(cursor, rng.high)
                with lock:
                    slot[i][rng] = len(issued[i])
                    issued[i].append(rng)
                yield rng

        def chunk_done(i: int, rng: KeyRange, rows: int) -> None:
            self.throttle.rows(rows)
            with lock:
                finished[i][slot[i][rng]] = rows

        def keep_issuing() -> bool:
            self.throttle.source_lag()
            self._publish()
            self._guard_check()
            return time.monotonic() < deadline and not self.stop.is_set() and not self.paused

        self.copier.copy_rows(
            copies,
            progress,
            snapshot,
            ranges=ranges,
            chunk_done=chunk_done,
            keep_issuing=keep_issuing,
        )
        for i, t in enumerate(pending):
            st = self._table_state(t.source.name)
            n = 0
            while n in finished[i]:
                st.rows += finished[i][n]
                high = issued[i][n].high
                if high is None:
                    st.done = True
                elif t.cursor_ok:
                    st.cursor = list(high)
                n += 1
            if not st.done and not t.cursor_ok:
                st.rows = 0  # restarts from scratch next round
            progress[i].rows = st.rows

    def _sync_identities(self) -> None:
        names = [t.target.table for t in self.tables]
        namespace = self.tables[0].target.namespace if self.tables else ""
        for table in self.target.introspect(names, namespace=namespace).tables:
            self.copier.dst.sync_identity(table)
        # PostgreSQL → PostgreSQL: sequences follow the source's (also those only an
        # expression default uses), so no value the source handed out is issued again
        self.copier.dst.follow_sequences(self.source, self.s.tables, namespace)
        self.state.identity_synced = True

    # -- the stream -----------------------------------------------------------------------------

    def _open_feed(self, stop_at: Position | None) -> ChangeFeed:
        assert self.position is not None
        return self.src.open_changes(
            self.s.stream or self.s.workflow,
            self.position,
            [t.source.name for t in self.tables],
            stop_at=stop_at,
            on_relation=self._on_relation,
            piece_changes=self._piece_changes(),
        )

    def _on_relation(self, namespace: str, table: str, columns: tuple[str, ...]) -> None:
        t = self.by_source.get(table)
        if t is None or t.source.namespace != namespace:
            return
        expected = tuple(self.s.columns.get(table, [c.name for c in t.source.columns]))
        # pgoutput leaves generated columns out of its relations (the binlog has them): compare
        # the other columns only, or every table with one would pause at its first change
        generated = {c.name for c in t.source.columns if c.generated is not None}
        if _without(columns, generated) == _without(expected, generated):
            return
        if self.s.on_ddl == "ignore" or self._skip_ddl:
            self._skip_ddl = False
            self.s.columns[table] = list(columns)
            return
        raise DdlSeen(
            f"the definition of {namespace}.{table} changed on the source: columns "
            f"({', '.join(expected)}) became ({', '.join(columns)})",
            hint=f"change {t.target.namespace}.{t.target.table} on the target to match, then "
            f"`ferryman move start {self.s.workflow} --skip-ddl` (or start with --on-ddl ignore "
            "to go on without changing the target)",
            obj=f"{namespace}.{table}",
        )

    def _catch_up(self, until: Position) -> None:
        """Apply the stream from the checkpoint up to ``until`` (copied keys only)."""
        assert self.position is not None
        if self.position >= until:
            return
        feed = self._open_feed(until)
        try:
            self._consume(feed, feed.transactions(), until=until)
        finally:
            feed.close()

    def _piece_changes(self) -> int:
        return max(1, PIECE_BATCHES * self.s.batch_rows)

    def _replicate(self) -> None:
        """Stream, apply and checkpoint until stopped. A pause stops at a batch boundary and
        closes the change stream (a server times out a stream nobody reads: MySQL
        ``net_write_timeout``, PostgreSQL ``wal_sender_timeout``); resume opens it again at the
        checkpoint, with the same source and target sessions."""
        failures = 0
        while not self.stop.is_set():
            self._hold_while_paused()
            if self.stop.is_set():
                return
            feed = self._open_feed(None)
            items = Handoff(HANDOFF_PIECES * self._piece_changes())
            halt = threading.Event()
            reader = threading.Thread(
                target=pump, args=(feed, items, halt), name="ferryman-stream", daemon=True
            )
            reader.start()
            try:
                self._consume(feed, drain(items, self.stop, self._idle), until=None)
                if self.stop.is_set():
                    return
                if self.paused:
                    continue  # the stream closes below; the pause holds at the loop's top
                raise ConnectError(
                    f"the change stream from {self.source.url} ended unexpectedly",
                    hint="ferryman reconnects and resumes from its checkpoint",
                )
            except FerrymanError as exc:
                failures += 1
                if failures > self.s.reconnect_attempts or not _transient(exc):
                    raise
                delay = min(self.s.max_backoff, 0.5 * 2 ** (failures - 1))
                log.warning("replication interrupted (%s); resuming in %.1fs", exc, delay)
                self.stop.wait(delay)
                self._reconnect()
            finally:
                halt.set()
                feed.stop()
                reader.join(5.0)
                feed.close()

    def _idle(self) -> None:
        """Called when the stream has nothing for a while: caught up."""
        self.lag = 0.0
        self.throttle.source_lag()
        self._publish()
        self._guard_check()

    def _consume(
        self,
        feed: ChangeFeed,
        transactions: Iterator[Transaction | None],
        *,
        until: Position | None,
    ) -> None:
        assert self.applier is not None
        try:
            self._consume_stream(feed, transactions, until=until)
        finally:
            if self.applier is not None:
                self.applier.abort()  # the parts of a source transaction cut off: none of it

    def _consume_stream(
        self,
        feed: ChangeFeed,
        transactions: Iterator[Transaction | None],
        *,
        until: Position | None,
    ) -> None:
        compactor = self._compactor()
        pending_tx = 0
        last: Transaction | None = None
        started = time.monotonic()
        # a source transaction arrives in pieces: they go into one open target transaction
        # (apply_part) that the flush of its last piece commits with the checkpoint
        in_pieces = False
        part_events = 0  # source changes already written by apply_part, not yet committed

        def flush() -> None:
            nonlocal pending_tx, last, started, part_events
            if last is None:
                return
            self.position = last.position
            self.last_commit_time = last.commit_time
            self.events += compactor.changes + part_events
            part_events = 0
            batch = compactor.batch(self._checkpoint())
            self.throttle.rows(batch.changes)  # a limit counts source row changes
            self.throttle.source_lag()  # checks the user's lag query at most once a second
            self._commit(batch)
            pause_point("after_apply_commit")
            feed.confirm(last.position)
            if last.commit_time:
                self.lag = max(0.0, time.time() - last.commit_time)
            self._count(batch.changes)
            pending_tx, last = 0, None
            started = time.monotonic()
            self._publish()
            self._guard_check()  # a batch boundary: halt or repair here

        def write_part() -> None:
            """The pieces so far of the open source transaction, into the open target
            transaction: no checkpoint, no commit."""
            nonlocal part_events
            assert self.applier is not None
            tables, changes = compactor.take()
            part_events += changes
            self.throttle.rows(changes)
            self.applier.apply_part(tables)
            pause_point("after_apply_part")
            self._count(changes)
            self._publish()

        it = iter(transactions)
        while True:
            try:
                tx = next(it)
            except StopIteration:
                break
            except FerrymanError:
                if not in_pieces:
                    flush()  # everything before the stream's failure is whole: keep it
                raise
            if tx is None:  # a pause in the stream: flush what we have
                if not in_pieces:
                    flush()
                    if self.paused:
                        return  # the operator's pause, at a batch boundary
                continue
            ddl = self._ddl_in(tx)
            if ddl is not None and (in_pieces or tx.more):
                self._ddl_in_pieces(ddl, tx)
            elif ddl is not None:
                flush()
                self._handle_ddl(ddl, tx)
                compactor = self._compactor()  # --on-ddl exec re-read the tables' shapes
                self.position = tx.position
                self._commit(ApplyBatch([], self._checkpoint()))
                feed.confirm(tx.position)
                continue
            if tx.more and not in_pieces:
                flush()  # the transactions before it commit on their own
                in_pieces = True
            compactor.add(tx.changes)
            if in_pieces:
                if tx.more:
                    if compactor.pending_rows >= self.s.batch_rows:
                        write_part()
                    if self.stop.is_set() and until is None:
                        return  # the open target transaction is rolled back
                    continue
                in_pieces = False  # its last piece: commit it all with the checkpoint now
                pending_tx, last = 1, tx
                flush()
            else:
                pending_tx += 1
                last = tx
                if (
                    compactor.pending_rows >= self.s.batch_rows
                    or compactor.changes >= self._batch_limit()
                    or time.monotonic() - started >= self.s.batch_seconds
                ):
                    flush()
            if (self.stop.is_set() and until is None) or self.paused:
                break  # the operator's pause: after this batch
        if in_pieces:
            raise ConnectError(
                f"the change stream from {self.source.url} ended inside a transaction",
                hint="nothing of it was applied; ferryman resumes from its checkpoint",
            )
        flush()

    def _batch_limit(self) -> int:
        """Source changes per batch: ``batch_rows``, or under a rate limit a quarter second's
        worth, so that the applied rate follows the limit smoothly (not in big steps)."""
        rate = self.throttle.rate
        if not rate:
            return self.s.batch_rows
        return max(1, min(self.s.batch_rows, int(rate / 4)))

    def _compactor(self) -> Compactor:
        compactor = Compactor(
            [t.target for t in self.tables], accept=self._accept, cascades=self.cascades
        )
        for t in self.tables:
            if t.filter is not None:
                compactor.row_filters[(t.source.namespace, t.source.name)] = t.filter.matches
        return compactor

    def _commit(self, batch: ApplyBatch) -> None:
        assert self.applier is not None
        self.applier.apply(batch, before_commit=lambda: pause_point("before_apply_commit"))

    def _checkpoint(self) -> Checkpoint:
        assert self.position is not None
        self.state.events = self.events
        if self.guard is not None:
            self.state.guard = self.guard.state()
        return Checkpoint(self.key, self.position.to_json(), self.state.to_json())

    # -- DDL ------------------------------------------------------------------------------------

    def _ddl_in_pieces(self, change: Change, tx: Transaction) -> None:
        """A statement on a moved table inside a source transaction too big to hold: it cannot
        be handled between transactions, so it is ignored when asked to, or the move pauses
        (the open target transaction rolls back)."""
        statement = " ".join((change.sql or "").split())
        if self.s.on_ddl == "ignore" or self._skip_ddl:
            self._skip_ddl = False
            log.warning("ignoring a statement inside a large source transaction: %s", statement)
            return
        raise DdlSeen(
            f"the source ran a statement on a moved table inside a transaction of more than "
            f"{self.s.batch_rows} changes (before {tx.position}): {statement[:300]}",
            hint="apply the equivalent change to the target, then `ferryman move start "
            f"{self.s.workflow} --skip-ddl`, or start with `--on-ddl ignore`",
            obj=statement[:80],
        )

    def _ddl_in(self, tx: Transaction) -> Change | None:
        for change in tx.changes:
            if (
                change.op is Op.DDL
                and change.sql
                and not _TRIGGER_DDL.match(change.sql)  # leaves the table's shape as it was
                and self._touches(change)
            ):
                return change
        return None

    def _touches(self, change: Change) -> bool:
        assert change.sql is not None
        names = _identifiers(change.sql)
        for t in self.tables:
            ns, name = t.source.namespace, t.source.name
            for qualifier, ident in names:
                if ident == name and (
                    qualifier == ns or (qualifier is None and change.namespace == ns)
                ):
                    return True
        return False

    def _handle_ddl(self, change: Change, tx: Transaction) -> None:
        statement = " ".join((change.sql or "").split())
        if self.s.on_ddl == "ignore":
            log.warning("ignoring DDL on the source: %s", statement)
            return
        if self._skip_ddl:
            self._skip_ddl = False
            log.warning("skipping DDL as asked (--skip-ddl): %s", statement)
            return
        if self.s.on_ddl == "exec":
            self._exec_ddl(change, statement)
            return
        raise DdlSeen(
            f"the source ran DDL on a moved table at {tx.position}: {statement[:300]}",
            hint="apply the equivalent change to the target, then `ferryman move start "
            f"{self.s.workflow} --skip-ddl`; or `--on-ddl exec` to run it on the target (same "
            "engine), or `--on-ddl ignore`",
            obj=statement[:80],
        )

    def _exec_ddl(self, change: Change, statement: str) -> None:
        if self.source.server_info().engine != self.target.server_info().engine:
            raise DdlSeen(
                f"--on-ddl exec cannot run MySQL DDL on a {self.target.server_info().engine} "
                f"target: {statement[:300]}",
                hint=f"apply it by hand, then `ferryman move start {self.s.workflow} --skip-ddl`",
            )
        if any(self.s.renames.get(t.source.name) for t in self.tables if self._touches(change)):
            raise DdlSeen(
                f"--on-ddl exec cannot run DDL for a renamed table: {statement[:300]}",
                hint=f"apply it by hand, then `ferryman move start {self.s.workflow} --skip-ddl`",
            )
        runner = self.target.sql_runner()
        if runner is None:
            raise DdlSeen(f"the target cannot run DDL: {statement[:300]}")
        assert change.sql is not None  # a DDL change carries its statement
        runner.execute_in(self.tables[0].target.namespace, change.sql)
        log.warning("ran the source's DDL on the target: %s", statement)
        self._open()  # the tables' shapes changed

    # -- status ---------------------------------------------------------------------------------

    def _count(self, changes: int) -> None:
        now = time.monotonic()
        self._rate.append((now, changes))
        while self._rate and now - self._rate[0][0] > 10.0:
            self._rate.popleft()

    def events_per_second(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        span = self._rate[-1][0] - self._rate[0][0]
        return (sum(n for _, n in self._rate) - self._rate[0][1]) / span if span > 0 else 0.0

    def status(self, running: bool = True) -> dict[str, Any]:
        tables = []
        for t, tp in zip(self.tables, self.progress, strict=True):
            st = self.state.tables.get(t.source.name) or TableState()
            tables.append(
                {
                    "source": f"{t.source.namespace}.{t.source.name}",
                    "target": t.copy.target_label,
                    "rows_copied": max(tp.rows, st.rows),
                    "rows_estimated": tp.rows_estimated,
                    "copy_done": st.done,
                }
            )
        return {
            "phase": self.phase,
            "running": running,
            "tables": tables,
            "lag_seconds": round(self.lag, 3) if self.phase == "replicating" else None,
            "position": str(self.position) if self.position is not None else None,
            "events_applied": self.events,
            "events_per_second": 0.0
            if self.phase == "paused"
            else round(self.events_per_second(), 1),
            "throttled": self.throttle.throttled,
            "throttle_error": self.throttle.error,
            "drift_guard": self.s.on_drift if self.guard is not None else None,
        }

    def _publish(self, force: bool = False, running: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._published < self.s.status_interval:
            return
        self._published = now
        status = self.status(running)
        self.observer.status(status)
        with contextlib.suppress(Exception):  # status is advisory; never stop the move for it
            self.publish(self.phase, status)


def _without(columns: tuple[str, ...], names: set[str]) -> tuple[str, ...]:
    return tuple(c for c in columns if c not in names)


def _transient(exc: FerrymanError) -> bool:
    """Worth a reconnect and another try: anything but a logic or configuration error (a lost
    connection, a restarting server, a replication protocol error after a restart)."""
    return not isinstance(
        exc,
        (
            SchemaError,
            ConfigError,
            PermissionDenied,
            PreconditionFailed,
            PositionLost,
            DdlSeen,
            DriftHalted,
        ),
    )


#: a source transaction of more than this many batches' worth of changes (``batch_rows``) comes
#: in pieces of that size: ordinary transactions, even of thousands of rows, are applied whole as
#: before (a piece costs the target an extra round of statements)
PIECE_BATCHES = 4
#: the reader thread runs ahead of the applier by at most this many pieces' worth of changes
HANDOFF_PIECES = 2
#: ... and at most this many transactions
HANDOFF_ITEMS = 4096

_Item = Transaction | BaseException | None


class Handoff:
    """The reader thread's transactions to the applier thread, in order, bounded by the row
    changes they hold (``budget``) and by their number: many small transactions or a few pieces
    of a big one, never an unbounded amount of memory. An item larger than the budget still
    passes alone."""

    def __init__(self, budget: int, max_items: int = HANDOFF_ITEMS) -> None:
        self.budget = budget
        self.max_items = max_items
        self.items: deque[tuple[_Item, int]] = deque()
        self.used = 0
        self.cond = threading.Condition()

    def put(self, item: _Item, timeout: float | None = None) -> None:
        """Raises queue.Full when there was no room within ``timeout``."""
        cost = len(item.changes) if isinstance(item, Transaction) else 0
        with self.cond:
            if not self.cond.wait_for(
                lambda: (
                    not self.items
                    or (self.used + cost <= self.budget and len(self.items) < self.max_items)
                ),
                timeout,
            ):
                raise queue.Full
            self.items.append((item, cost))
            self.used += cost
            self.cond.notify_all()

    def get(self, timeout: float) -> _Item:
        """Raises queue.Empty when nothing came within ``timeout``."""
        with self.cond:
            if not self.cond.wait_for(lambda: bool(self.items), timeout):
                raise queue.Empty
            item, cost = self.items.popleft()
            self.used -= cost
            self.cond.notify_all()
            return item


def pump(feed: ChangeFeed, out: Handoff, stop: threading.Event) -> None:
    """The reader thread: ``feed``'s transactions into ``out``, then None (the end) or the
    exception that ended it; gives up as soon as ``stop`` is set, even with ``out`` full."""

    def put(item: _Item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    try:
        for tx in feed.transactions():
            if not put(tx):
                return
        put(None)
    except BaseException as exc:  # handed to the applier thread, in order
        put(exc)


def drain(
    items: Handoff,
    stop: threading.Event,
    idle: Callable[[], None],
) -> Iterator[Transaction | None]:
    """Transactions from the reader thread; None when none arrived for a moment (flush), and
    again every quarter second while none arrive (``idle`` called first), so the consumer can
    stop between transactions on an idle stream too (an operator's pause)."""
    waiting = False
    while not stop.is_set():
        try:
            item = items.get(timeout=0.02 if not waiting else 0.25)
        except queue.Empty:
            if waiting:
                idle()
            waiting = True
            yield None
            continue
        waiting = False
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


_TRIGGER_DDL = re.compile(
    r"\s*(?:/\*.*?\*/\s*)*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?TRIGGER"
    r"|DROP\s+TRIGGER)\b",
    re.IGNORECASE | re.DOTALL,
)

_IDENT = re.compile(
    r"(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))(?:\s*\.\s*(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+)))?"
)


def _identifiers(statement: str) -> list[tuple[str | None, str]]:
    """Every (qualifier, name) a MySQL statement mentions, unquoted."""
    out: list[tuple[str | None, str]] = []
    for m in _IDENT.finditer(statement):
        first = (m.group(1) or "").replace("``", "`") or m.group(2)
        second = (m.group(3) or "").replace("``", "`") or m.group(4)
        if second:
            out.append((first, second))
            out.append((None, first))
        else:
            out.append((None, first))
    return out
