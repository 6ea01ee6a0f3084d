"""The drift guard: every write to a move's target that ferryman did not make is seen.

While a stream applies source → target, the guard reads the *target's own* change stream (the
same change capture a reverse stream uses: the binlog, or a logical slot of its own) in a thread
of its own. Every transaction ferryman writes to a target begins with the engine's own mark
(``engines/*/own.py``: applier batches, copy chunk loads, ``delete_above``, repairs; cascades
run inside the applier's transaction), so the feed, opened with ``own_marks``, flags those
transactions ``own`` after their first event and skips the rest undecoded: the guard costs one
extra read of the target's log, not a second decode of everything ferryman wrote.

A transaction that is not ferryman's and changes a moved table is *drift*. For each key it
changed the guard reads the row on both sides (the diff's canonical text, so the rows compare
across engines) and hands the events to ``record`` (the workflow stores them once each, by
the transaction's position, table and key, so a restart re-reading the stream records nothing
twice). Then, by ``on_drift``:

- ``halt``: the applier stops at its next batch boundary (:class:`DriftHalted`);
- ``repair``: the applier, between two batches, re-copies those keys from the source (the
  repair of ``move verify --repair``; done in the applier's thread so that no older change of
  the stream can land after the re-copied row without a newer one following it);
- ``log``: recorded only.

Where it reads from is part of the stream's resumable state (``MoveState.guard``): the position
it got to, committed with the applier's checkpoint; ``from`` names where the guard of this
direction started (a switch starts it again at the fenced side's final position).

``expected`` is the source's row when the guard looks (not exactly at the stream position: a
hot row may have changed since).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferryman.core.change import Op, Transaction
from ferryman.core.errors import FerrymanError
from ferryman.core.position import Position
from ferryman.core.protocols import ChangeFeed, ChangeSource, Endpoint, need
from ferryman.core.registry import open_endpoint
from ferryman.core.url import DatabaseURL
from ferryman.pipeline.differ import Differ, DiffRequest, DiffResult, KeyVerdict
from ferryman.pipeline.repair import repair_result

log = logging.getLogger("ferryman.guard")

#: ``off``: no guard (benchmarks, a target whose log is not kept)
ON_DRIFT = ("halt", "repair", "log", "off")
#: a halt waits at most this long for the guard to read the rest of the target's log
HALT_DRAIN_SECONDS = 1.0
#: at most this many keys of one transaction are looked up and recorded (the rest counted)
MAX_KEYS_PER_TX = 200


class DriftHalted(FerrymanError):
    """Someone else wrote to the move's target (``--on-drift halt``): the move stops."""

    exit_code = 1


@dataclass(frozen=True)
class GuardedTable:
    """A moved table as the guard sees it: the source's name, the target's names and key."""

    source: str
    namespace: str
    table: str
    key: tuple[str, ...]


@dataclass(frozen=True)
class GuardRequest:
    workflow: str
    mode: str  # halt | repair | log
    stream: str  # the target's change capture the guard reads
    start: dict[str, Any] | None  # where this direction's guard starts (None: now)
    tables: tuple[GuardedTable, ...]
    target_namespace: str
    wheres: dict[str, str]
    renames: dict[str, str]


def url_in(ep: Endpoint, namespace: str) -> DatabaseURL:
    """``ep``'s URL with ``namespace`` as its default namespace (schema option or database)."""
    option = ep.capabilities().namespace_option
    if option:
        return ep.url.with_options(**{option: namespace})
    return ep.url.with_database(namespace)


class _Quiet:
    def print(self, *objects: Any, **kwargs: Any) -> None:
        log.info(" ".join(str(o) for o in objects))


class DriftGuard:
    """One direction's guard (see the module docstring). :meth:`start` opens it, the applier
    thread calls :meth:`check` at batch boundaries, :meth:`close` ends it."""

    def __init__(
        self,
        source: Endpoint,
        target: Endpoint,
        request: GuardRequest,
        record: Callable[[list[dict[str, Any]]], list[bool]],
        note: Callable[[str, str], None] = lambda kind, detail: None,
    ) -> None:
        self.r = request
        self.record = record
        self.note = note
        self.by_target = {(t.namespace, t.table): t for t in request.tables}
        self.lock = threading.Lock()  # the guard's endpoints: its thread and the applier's
        self.stopping = threading.Event()
        self.src = open_endpoint(source.url)
        try:
            self.dst = open_endpoint(url_in(target, request.target_namespace))
        except BaseException:
            self.src.close()
            raise
        self.changes: ChangeSource = need(
            self.dst.change_source(), self.dst, "watched for drift (a change source)"
        )
        self.position: Position | None = None
        self.halted: list[dict[str, Any]] = []
        self.repairs: dict[str, set[tuple[Any, ...]]] = {}
        self.seen = 0
        self._feed: ChangeFeed | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, resume: dict[str, Any] | None) -> None:
        """Begin reading: where ``resume`` (the stream's ``MoveState.guard``) got to when it
        belongs to this direction's start, else at the start (a new capture when none)."""
        self._begin(resume)
        self._thread = threading.Thread(target=self._run, name="ferryman-guard", daemon=True)
        self._thread.start()

    def sweep(self, resume: dict[str, Any] | None, until: Position, timeout: float) -> bool:
        """Read the target's log from where ``resume`` got to (as :meth:`start`) up to
        ``until`` and no further, within ``timeout`` seconds: a switch's look at the target
        after its final catch-up, when the runner's guard has stopped. Retries as the guard
        does (the runner's guard may still be letting go of a PostgreSQL slot). False when
        it did not get there (a warning, as a guard that cannot read)."""
        self._begin(resume)
        deadline = time.monotonic() + timeout
        done = threading.Event()

        def work() -> None:
            while not self.stopping.is_set():
                try:
                    self._read(until)
                    done.set()
                    return
                except Exception as exc:
                    if self.stopping.is_set() or time.monotonic() > deadline:
                        return
                    log.info("drift guard: %s; retrying", exc)
                    self.stopping.wait(0.2)

        self._thread = threading.Thread(target=work, name="ferryman-guard-sweep", daemon=True)
        self._thread.start()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self.stopping.set()
            feed = self._feed
            if feed is not None:
                with contextlib.suppress(Exception):
                    feed.stop()
            self._thread.join(10.0)
        return done.is_set()

    def _begin(self, resume: dict[str, Any] | None) -> None:
        if resume and resume.get("from") == self.r.start and resume.get("at"):
            self.position = Position.from_json(resume["at"])
        elif self.r.start is not None:
            self.position = Position.from_json(self.r.start)
        else:
            tables = [t.table for t in self.r.tables]
            self.changes.drop_changes(self.r.stream)
            self.position = self.changes.prepare_changes(self.r.stream, tables, keys_only=True)
        log.info("drift guard (%s) reads %s from %s", self.r.mode, self.dst.url, self.position)

    def state(self) -> dict[str, Any] | None:
        """What ``MoveState.guard`` keeps: where to resume."""
        if self.position is None:
            return None
        return {"from": self.r.start, "at": self.position.to_json()}

    def close(self) -> None:
        self.stopping.set()
        feed = self._feed
        if feed is not None:
            with contextlib.suppress(Exception):
                feed.stop()
        if self._thread is not None:
            self._thread.join(10.0)
        for ep in (self.src, self.dst):
            with contextlib.suppress(Exception):
                ep.close()

    # -- the applier's side ---------------------------------------------------------------------

    def check(self) -> None:
        """At a batch boundary (the applier's thread): raise :class:`DriftHalted` when a
        drift halts the move; re-copy the keys queued for repair."""
        if self.halted:
            self._drain(HALT_DRAIN_SECONDS)
            first = self.halted[0]
            raise DriftHalted(
                f"someone else wrote to the target: {len(self.halted)} change(s) ferryman did "
                f"not make, first a {first['kind']} of {first['table']} key "
                f"{json.dumps(first['key'], default=str)}",
                hint=f"see `ferryman move status {self.r.workflow}`; fix the target with "
                f"`ferryman move verify {self.r.workflow} --repair`, then "
                f"`ferryman move start {self.r.workflow} --accept-drift`",
                obj=first["table"],
            )
        with self.lock:
            pending, self.repairs = self.repairs, {}
        for table, natives in pending.items():
            self._repair(table, sorted(natives, key=repr))

    def _drain(self, timeout: float) -> None:
        """Before halting: let the guard read the target's log up to its end now (briefly), so
        that the drift written together with the first is recorded too."""
        try:
            with self.lock:
                end = self.changes.current_position()
        except FerrymanError:
            return
        deadline = time.monotonic() + timeout
        last, still = self.position, time.monotonic()
        while time.monotonic() < deadline:
            position = self.position
            if position is not None and not position < end:
                return
            if position != last:
                last, still = position, time.monotonic()
            elif time.monotonic() - still > 0.3:
                return  # nothing more came (the end may be WAL of no transaction)
            time.sleep(0.02)

    def _repair(self, table: str, natives: list[tuple[Any, ...]]) -> None:
        with self.lock:
            differ = self._differ(table)
            result, _ = differ.compare_keys(table, natives)
            if not result.differing:
                return
            repair_result(
                differ,
                DiffResult([result], 0.0, str(self.src.url), str(self.dst.url), ""),
                dry_run=False,
                log=_Quiet(),
            )
        self.note("drift repaired", f"{table}: {result.differing} key(s) re-copied from the source")

    def _differ(self, table: str) -> Differ:
        return Differ(
            self.src,
            self.dst,
            DiffRequest(
                tables=[table],
                wheres={k: v for k, v in self.r.wheres.items() if k == table},
                renames={k: v for k, v in self.r.renames.items() if k == table},
                target_namespace=self.r.target_namespace,
            ),
        )

    # -- the guard's thread ---------------------------------------------------------------------

    def _read(self, until: Position | None) -> None:
        """Inspect the target's transactions from :attr:`position` on (up to ``until``)."""
        assert self.position is not None
        feed = self._feed = self.changes.open_changes(
            self.r.stream,
            self.position,
            [t.table for t in self.r.tables],
            stop_at=until,
            own_marks=True,
        )
        try:
            for tx in feed.transactions():
                if self.stopping.is_set():
                    return
                if not tx.own and tx.changes:
                    self._inspect(tx)
                self.position = tx.position
                feed.confirm(tx.position)
        finally:
            self._feed = None
            feed.close()

    def _run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            before = self.position
            try:
                self._read(None)
            except Exception as exc:  # the guard never stops the move; it retries
                if self.stopping.is_set():
                    return
                failures = 1 if self.position != before else failures + 1
                delay = min(15.0, 0.5 * 2 ** min(failures, 5))
                log.warning("drift guard: %s; retrying in %.1fs", exc, delay)
                self.stopping.wait(delay)

    def _inspect(self, tx: Transaction) -> None:
        """Record the drift in a transaction ferryman did not write."""
        touched: dict[str, dict[tuple[Any, ...], str]] = {}
        truncated: list[GuardedTable] = []
        for c in tx.changes:
            t = self.by_target.get((c.namespace, c.table))
            if t is None:
                continue
            if c.op is Op.TRUNCATE:
                truncated.append(t)
                continue
            if c.op not in (Op.INSERT, Op.UPDATE, Op.DELETE):
                continue
            idx = [c.columns.index(k) for k in t.key]
            keys = touched.setdefault(t.source, {})
            if c.before is not None:
                old = tuple(c.before[i] for i in idx)
                keys[old] = "delete" if c.op is Op.DELETE else "update"
            if c.after is not None:
                new = tuple(c.after[i] for i in idx)
                keys[new] = "insert" if c.op is Op.INSERT else "update"
        if not touched and not truncated:
            return
        events: list[dict[str, Any]] = []
        base = {
            "at": tx.commit_time or time.time(),
            "who": dict(tx.who or {}),
            "position": str(tx.position),
        }
        for t in truncated:
            events.append(
                {
                    **base,
                    "id": f"{self.r.stream}|{tx.position}|{t.table}|truncate",
                    "table": f"{t.namespace}.{t.table}",
                    "key": {},
                    "kind": "truncate",
                    "actual": None,
                    "expected": None,
                    "columns": [],
                }
            )
        for source_table, keys in touched.items():
            t = next(x for x in self.r.tables if x.source == source_table)
            natives = list(keys)[:MAX_KEYS_PER_TX]
            verdicts = self._look(source_table, natives)
            for native in natives:
                found = verdicts.get(native)
                v = found[0] if found else None
                events.append(
                    {
                        **base,
                        "id": f"{self.r.stream}|{tx.position}|{t.table}|{native!r}",
                        "table": f"{t.namespace}.{t.table}",
                        "key": {k: _plain(x) for k, x in zip(t.key, native, strict=True)},
                        "kind": keys[native],
                        "actual": v.b if v is not None else None,
                        "expected": v.a if v is not None else None,
                        "columns": v.differs if v is not None else [],
                    }
                )
            if self.r.mode == "repair":
                with self.lock:
                    self.repairs.setdefault(source_table, set()).update(natives)
        fresh = self.record(events)
        self.seen += len(events)
        log.warning(
            "drift: %d change(s) on the target that ferryman did not make (%s)",
            len(events),
            ", ".join(f"{e['kind']} {e['table']} {e['key']}" for e in events[:5]),
        )
        if self.r.mode == "halt":
            unaccepted = [e for e, f in zip(events, fresh, strict=True) if f]
            self.halted.extend(unaccepted)

    def _look(
        self, table: str, natives: list[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], list[KeyVerdict]]:
        try:
            with self.lock:
                _, verdicts = self._differ(table).compare_keys(table, natives)
            return verdicts
        except FerrymanError as exc:
            log.warning("drift guard: cannot read the rows of %s: %s", table, exc)
            return {}


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)
