"""``ferryman copy``: every table as of one source position, in parallel chunks.

The procedure (``Copier.run``):

1. ``plan``: introspect the source tables, translate them for the target, check existing
   target tables (same columns, empty) and name every mismatch before anything is written;
2. ``create_missing_tables``: tables with their primary keys (secondary indexes deferred);
3. ``open_snapshot``: ``jobs`` source readers sharing one consistent snapshot; its position
   is reported at once, so a change stream can later start exactly there;
4. ``copy_rows``: a planner thread cuts each table into key ranges (largest tables first) and
   hands them to ``jobs`` reader threads; each reader passes its encoded chunk to its own
   writer thread through a one-slot queue, so the next chunk is read while the previous one is
   loaded. Memory is bounded by about ``jobs × 3`` chunks, whatever the table sizes;
5. ``finish``: deferred indexes and foreign keys, identity counters.

On any error the workers stop and the target is put back: tables this run created are
dropped, pre-existing (empty) tables it loaded into are truncated. The error is re-raised.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ferryman.core.copy import (
    Chunk,
    CopyResult,
    KeyRange,
    SnapshotReaders,
    TableCopy,
    TableProgress,
    ValuePolicy,
    WireFormat,
    ZeroDate,
)
from ferryman.core.errors import ConfigError, FerrymanError, NotFound, SchemaError
from ferryman.core.plan import Phase, SchemaPlan, Statement, TranslateOptions
from ferryman.core.position import Position
from ferryman.core.protocols import CopySource, CopyTarget, Endpoint, need
from ferryman.core.schema import Schema, Table
from ferryman.core.translate import view_statements
from ferryman.pipeline.hooks import pause_point
from ferryman.pipeline.schema import keyed_tables, target_namespace

log = logging.getLogger("ferryman.copy")
T = TypeVar("T")

DEFAULT_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class CopyRequest:
    tables: Sequence[str] | None = None
    exclude: Sequence[str] = ()
    wheres: dict[str, str] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    target_namespace: str | None = None
    jobs: int = 2
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    create: bool = True
    defer_indexes: bool = True
    foreign_keys: bool = True
    zero_date: ZeroDate = ZeroDate.ERROR
    values: ValuePolicy = field(default_factory=ValuePolicy)
    type_overrides: dict[tuple[str, str], str] = field(default_factory=dict)
    with_views: bool = False  # recreate the source's views on the target (same engine only)


class CopyObserver(Protocol):
    """Receives progress; called from worker threads (implementations must be thread-safe)."""

    def started(
        self, tables: list[TableProgress], position: Position | None, method: str
    ) -> None: ...

    def chunk_done(self, table: TableProgress, rows: int, size: int) -> None: ...

    def table_done(self, table: TableProgress) -> None: ...

    def phase(self, text: str) -> None: ...


class NullObserver:
    def started(self, tables: list[TableProgress], position: Position | None, method: str) -> None:
        pass

    def chunk_done(self, table: TableProgress, rows: int, size: int) -> None:
        pass

    def table_done(self, table: TableProgress) -> None:
        pass

    def phase(self, text: str) -> None:
        pass


def parse_where(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        table, sep, predicate = item.partition(":")
        if not sep or not table.strip() or not predicate.strip():
            raise ConfigError(
                f"--where {item!r} is not of the form TABLE:PREDICATE",
                hint="for example --where orders:customer_id=42",
            )
        out[table.strip()] = predicate.strip()
    return out


def parse_renames(items: Sequence[str], source_ns: str) -> tuple[dict[str, str], str | None]:
    """``SRC:DST`` items (each side ``table`` or ``namespace.table``) into a table mapping and
    the target namespace they name (all must agree)."""
    renames: dict[str, str] = {}
    target_ns: str | None = None
    for item in items:
        src, sep, dst = item.partition(":")
        if not sep or not src or not dst:
            raise ConfigError(
                f"--rename {item!r} is not of the form SRC:DST",
                hint="for example --rename orders:orders_2024 or "
                "--rename shop.orders:archive.orders_2024",
            )
        src_ns, _, src_table = src.rpartition(".")
        if src_ns and src_ns != source_ns:
            raise ConfigError(
                f"--rename {item!r} names namespace {src_ns!r}, but the source is {source_ns!r}",
                hint=f"write {source_ns}.{src_table}:... or just {src_table}:...",
            )
        dst_ns, _, dst_table = dst.rpartition(".")
        if dst_ns:
            if target_ns is not None and target_ns != dst_ns:
                raise ConfigError(
                    f"--rename targets two namespaces ({target_ns!r} and {dst_ns!r})",
                    hint="copy into one target namespace per run",
                )
            target_ns = dst_ns
        renames[src_table] = dst_table
    return renames, target_ns


class Copier:
    def __init__(
        self,
        source: Endpoint,
        target: Endpoint,
        request: CopyRequest,
        observer: CopyObserver | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.src: CopySource = need(source.copy_source(), source, "a copy source")
        self.dst: CopyTarget = need(target.copy_target(), target, "a copy target")
        self.request = request
        self.observer: CopyObserver = observer or NullObserver()
        self.created: list[str] = []  # "table:NAME" / "type:NAME" made by this run
        self.loaded_existing: list[str] = []  # pre-existing target tables written to
        self.preexisting: list[str] = []  # the copy's target tables that existed (empty)
        self.plan_: SchemaPlan | None = None
        self.namespace = ""
        self.schema_: Schema | None = None
        self.views_created: list[str] = []
        self.views_refused: list[tuple[str, str]] = []  # (view, why), --with-views

    # -- the procedure -----------------------------------------------------------------------

    def run(self) -> CopyResult:
        started = time.monotonic()
        phase = _PhaseClock()
        schema, plan, missing = self.plan()
        phase("plan")
        try:
            self.create_missing_tables(plan, missing)
            copies = self.table_copies(schema, plan)
            phase("create tables")
            snapshot = self.src.open_snapshot(max(1, self.request.jobs))
            phase("open snapshot")
            try:
                progress = [
                    TableProgress(tc.name, tc.target_label, tc.source.estimated_rows or 0)
                    for tc in copies
                ]
                self.observer.started(progress, snapshot.position, snapshot.method)
                pause_point("snapshot_open")
                self.copy_rows(copies, progress, snapshot)
                phase("copy rows")
            finally:
                snapshot.close()
            self.finish(plan, missing, copies)
            phase("deferred indexes and counters")
            self.create_views()
        except BaseException as exc:
            self.restore_target(exc)
            raise
        return CopyResult(
            position=snapshot.position,
            snapshot_method=snapshot.method,
            tables=progress,
            created=[c.removeprefix("table:") for c in self.created if c.startswith("table:")],
            seconds=time.monotonic() - started,
        )

    # -- 1. plan ------------------------------------------------------------------------------

    def plan(self) -> tuple[Schema, SchemaPlan, set[str]]:
        r = self.request
        for role, side in (("source", self.source), ("target", self.target)):
            info = side.server_info()
            if not info.relational:
                raise ConfigError(
                    f"`ferryman copy` needs a MySQL/MariaDB or PostgreSQL {role}, and "
                    f"{side.url} is {info.flavor}",
                    hint="keeping etcd in sync with a database is `ferryman sync`, which is "
                    "not available yet; nothing was written",
                )
        schema = self.source.introspect(r.tables)
        excluded = set(r.exclude)
        unknown = sorted(
            (excluded | set(r.wheres) | set(r.renames)) - {t.name for t in schema.tables}
        )
        if unknown and r.tables is None:
            raise NotFound(
                f"--exclude/--where/--rename name unknown table(s) {', '.join(unknown)} in "
                f"{schema.namespace!r}",
                hint="check the spelling of the table names",
            )
        tables = keyed_tables(schema, excluded, "to copy from", "they cannot be copied in chunks")
        schema = dataclasses.replace(schema, tables=tuple(tables))
        if r.with_views and schema.server.engine != self.target.server_info().engine:
            raise ConfigError(
                f"--with-views recreates views from their native SQL, which needs the same "
                f"engine on both sides ({schema.server.engine} → "
                f"{self.target.server_info().engine})",
                hint="leave out --with-views and recreate the views on the target by hand "
                "(`ferryman schema` lists them)",
            )
        self.schema_ = schema
        self.namespace = target_namespace(schema, self.target, r.target_namespace)
        options = TranslateOptions(
            target_namespace=self.namespace,
            type_overrides=dict(r.type_overrides),
            defer_indexes=r.defer_indexes,
            renames=dict(r.renames),
            defer_primary_key=r.defer_indexes,  # honoured by PostgreSQL targets only
            foreign_keys=r.foreign_keys,
        )
        plan = self.target.translate(schema, options)
        existing = self.target.existing_tables(self.namespace)
        missing: set[str] = set()
        problems: list[str] = []
        for table in tables:
            name = options.target_name(table.name)
            if name not in existing:
                if not r.create:
                    problems.append(f"{self.namespace}.{name} does not exist (--no-create)")
                missing.add(name)
                continue
            problems += self._compare_existing(table, name, plan)
            if self.dst.has_rows(self.namespace, name):
                problems.append(f"{self.namespace}.{name} already holds rows")
        if problems:
            raise SchemaError(
                "the target does not fit: " + "; ".join(problems),
                hint="copy into empty tables with the source's columns (drop or truncate them, "
                "or choose another namespace with --target-schema); nothing was written",
            )
        self.plan_ = plan
        self.preexisting = [
            n for n in (options.target_name(t.name) for t in tables) if n not in missing
        ]
        return schema, plan, missing

    def _compare_existing(self, table: Table, name: str, plan: SchemaPlan) -> list[str]:
        target = self.target.introspect([name], namespace=self.namespace).tables[0]
        expected = [c.name for c in table.columns]
        have = [c.name for c in target.columns]
        out: list[str] = []
        lacking = [c for c in expected if c not in have]
        extra = [c.name for c in target.columns if c.name not in expected]
        if lacking:
            out.append(f"{self.namespace}.{name} lacks column(s) {', '.join(lacking)}")
        required = [
            c
            for c in extra
            if not target.column(c).nullable
            and target.column(c).default is None
            and target.column(c).identity is None
            and target.column(c).generated is None
        ]
        if required:
            out.append(
                f"{self.namespace}.{name} has NOT NULL column(s) {', '.join(required)} "
                "the source does not have"
            )
        return out

    # -- 2. create ----------------------------------------------------------------------------

    def create_missing_tables(self, plan: SchemaPlan, missing: set[str]) -> None:
        if not missing:
            return
        self.observer.phase(f"creating {len(missing)} table(s) in {self.namespace}")
        sub = SchemaPlan(plan.target_engine, plan.target_namespace, notes=plan.notes)
        sub.statements = [
            s for s in plan.phase(Phase.PRE_DATA) if s.table is None or s.table in missing
        ]
        self.target.apply(sub, [Phase.PRE_DATA.value])
        self.created = [s.creates for s in sub.statements if s.creates]

    def table_copies(self, schema: Schema, plan: SchemaPlan | None = None) -> list[TableCopy]:
        r = self.request
        names = {t.name: r.renames.get(t.name, t.name) for t in schema.tables}
        targets = {
            t.name: t
            for t in self.target.introspect(list(names.values()), namespace=self.namespace).tables
        }
        out: list[TableCopy] = []
        for table in schema.tables:
            target = targets[names[table.name]]
            pairs = [
                (col, target.column(col.name))
                for col in table.columns
                if col.name in target.column_names and target.column(col.name).generated is None
            ]
            key = table.row_key()
            assert key is not None  # checked in plan()
            table_fmt = self._wire_format(all(src.native == dst.native for src, dst in pairs))
            out.append(
                TableCopy(
                    source=table,
                    target_namespace=self.namespace,
                    target_name=target.name,
                    columns=tuple(src for src, _ in pairs),
                    target_columns=tuple(dst.name for _, dst in pairs),
                    key=key.column_names,
                    wires=tuple(self.dst.wire_for(dst, table_fmt) for _, dst in pairs),
                    wire_format=table_fmt,
                    target_types=tuple(dst.native for _, dst in pairs),
                    where=r.wheres.get(table.name),
                    zero_date=r.zero_date,
                    values=r.values,
                )
            )
            if target.name not in {c.removeprefix("table:") for c in self.created}:
                self.loaded_existing.append(target.name)
        out.sort(key=lambda tc: -(tc.source.estimated_rows or 0))
        return out

    def _wire_format(self, same_types: bool) -> WireFormat:
        """The first of the target's load formats the source renders (its same-type formats
        first when every column has the same native type on both sides)."""
        renders = self.source.capabilities().export_formats
        loads = self.target.capabilities()
        preferred = (*loads.same_type_formats, *loads.load_formats) if same_types else ()
        for fmt in preferred or loads.load_formats:
            if fmt in renders:
                return fmt
        raise ConfigError(
            f"{self.source.url} and {self.target.url} share no wire format for a copy",
            hint="copy between MySQL/MariaDB and PostgreSQL servers",
        )

    # -- 4. rows ------------------------------------------------------------------------------

    def copy_rows(
        self,
        copies: list[TableCopy],
        progress: list[TableProgress],
        snapshot: SnapshotReaders,
        *,
        ranges: Callable[[TableCopy], Iterator[KeyRange]] | None = None,
        chunk_done: Callable[[int, KeyRange, int], None] | None = None,
        keep_issuing: Callable[[], bool] | None = None,
    ) -> None:
        """Copy ``copies`` from ``snapshot``. ``ranges``: the key ranges of a table (default:
        all of it); ``chunk_done(table index, range, rows)`` after each chunk committed;
        ``keep_issuing()`` false stops handing out new ranges (chunks under way finish)."""
        jobs = len(snapshot.readers)
        table_ranges = ranges or (lambda tc: self.src.key_ranges(tc, self.request.chunk_rows))
        stop = threading.Event()
        errors: list[BaseException] = []
        work: queue.Queue[tuple[int, KeyRange] | None] = queue.Queue(maxsize=jobs * 2)
        tracker = _Tracker(progress, self.observer)

        def guard(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
            def run() -> None:
                try:
                    fn(*args)
                except BaseException as exc:  # handed to the main thread
                    if not errors:
                        errors.append(exc)
                    stop.set()

            return run

        def plan_ranges() -> None:
            for i, tc in enumerate(copies):
                for rng in table_ranges(tc):
                    if keep_issuing is not None and not keep_issuing():
                        break
                    tracker.issued(i)
                    _put(work, (i, rng), stop)
                else:
                    tracker.all_issued(i)
                    continue
                break
            for _ in range(jobs):
                _put(work, None, stop)

        def read(reader_index: int, out: queue.Queue[tuple[int, Chunk] | None]) -> None:
            reader = snapshot.readers[reader_index]
            for i, rng in _items(work, stop):
                tracker.start(i)
                chunk = reader.read(copies[i], rng)
                pause_point("after_chunk_read")
                _put(out, (i, chunk), stop)
            _put(out, None, stop)

        def write(queue_in: queue.Queue[tuple[int, Chunk] | None]) -> None:
            writer = self.dst.open_writer()
            try:
                for i, chunk in _items(queue_in, stop):
                    writer.write(chunk)
                    pause_point("chunk_written")
                    if chunk_done is not None:
                        chunk_done(i, chunk.range, chunk.rows)
                    tracker.done(i, chunk.rows, len(chunk.data))
            finally:
                writer.close()

        threads = [threading.Thread(target=guard(plan_ranges), name="ferryman-plan", daemon=True)]
        for n in range(jobs):
            pipe: queue.Queue[tuple[int, Chunk] | None] = queue.Queue(maxsize=1)
            threads.append(
                threading.Thread(
                    target=guard(read, n, pipe), name=f"ferryman-read-{n}", daemon=True
                )
            )
            threads.append(
                threading.Thread(target=guard(write, pipe), name=f"ferryman-write-{n}", daemon=True)
            )
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except BaseException:
            stop.set()
            raise
        if errors:
            raise errors[0]

    # -- 5. finish ----------------------------------------------------------------------------

    def finish(self, plan: SchemaPlan, missing: set[str], copies: list[TableCopy]) -> None:
        post = [s for s in plan.phase(Phase.POST_DATA) if s.table in missing]
        if post:
            self.observer.phase(f"adding deferred keys, indexes and foreign keys ({len(post)})")
            sub = SchemaPlan(plan.target_engine, plan.target_namespace)
            sub.statements = post
            self.target.apply(sub, [Phase.POST_DATA.value])
        targets = self.target.introspect(
            [tc.target_name for tc in copies], namespace=self.namespace
        )
        for table in targets.tables:
            self.dst.sync_identity(table)

    def create_views(self) -> None:
        """``--with-views``: recreate the source's views on the target, each in its own step;
        a view that reads a table not moved, or that the target rejects, is named in
        ``views_refused`` (the copy stands)."""
        if not self.request.with_views or self.schema_ is None:
            return
        moved = {t.name: self.request.renames.get(t.name, t.name) for t in self.schema_.tables}
        statements, self.views_refused = view_statements(
            self.schema_,
            target_namespace=self.namespace,
            moved=moved,
        )
        if statements:
            self.observer.phase(f"recreating {len(statements)} view(s)")
        materialized = {v.name for v in self.schema_.views if v.materialized}
        for name, sqls in statements:
            kind = "matview" if name in materialized else "view"
            sub = SchemaPlan(self.target.server_info().engine, self.namespace)
            sub.statements = [
                Statement(Phase.PRE_DATA, None, sql, f"{kind}:{name}" if "CREATE" in sql else None)
                for sql in sqls
            ]
            try:
                self.target.apply(sub, [Phase.PRE_DATA.value])
            except SchemaError as exc:
                self.views_refused.append((name, exc.message.split("\n")[0]))
                continue
            self.created.append(f"{kind}:{name}")
            self.views_created.append(name)

    def restore_target(self, exc: BaseException) -> None:
        """Put the target back as it was: drop what this run created, empty what it filled."""
        try:
            self.target.reconnect()  # the failure may have been a lost connection
            if self.created:
                self.dst.drop_objects(self.namespace, self.created)
            if self.loaded_existing:
                # all of them at once: they were empty, and foreign keys among them would stop
                # a TRUNCATE of one referenced table alone
                self.dst.truncate(self.namespace, self.preexisting)
        except Exception as cleanup:  # reported with the cause
            tables = ", ".join(c.removeprefix("table:") for c in self.created) or "none"
            log.error("could not restore the target: %s", cleanup)
            if isinstance(exc, FerrymanError):
                exc.hint = (exc.hint or "") + (
                    f"; the target could not be cleaned up ({cleanup}): drop table(s) {tables} "
                    f"in {self.namespace} by hand"
                )


class _PhaseClock:
    """Logs how long each phase of a copy took (``--debug``)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        log.debug("phase %s took %.3fs", name, now - self.last)
        self.last = now


class _Tracker:
    """Counts issued and finished chunks per table to tell when a table is complete."""

    def __init__(self, progress: list[TableProgress], observer: CopyObserver) -> None:
        self.progress = progress
        self.observer = observer
        self.lock = threading.Lock()
        self.issued_n = [0] * len(progress)
        self.finished_n = [0] * len(progress)
        self.complete = [False] * len(progress)

    def issued(self, i: int) -> None:
        with self.lock:
            self.issued_n[i] += 1

    def all_issued(self, i: int) -> None:
        with self.lock:
            self.complete[i] = True
        self._maybe_done(i)

    def start(self, i: int) -> None:
        with self.lock:
            if self.progress[i].started is None:
                self.progress[i].started = time.monotonic()

    def done(self, i: int, rows: int, size: int) -> None:
        tp = self.progress[i]
        with self.lock:
            self.finished_n[i] += 1
            tp.rows += rows
            tp.bytes += size
            tp.chunks += 1
        self.observer.chunk_done(tp, rows, size)
        self._maybe_done(i)

    def _maybe_done(self, i: int) -> None:
        with self.lock:
            tp = self.progress[i]
            if tp.done or not self.complete[i] or self.finished_n[i] < self.issued_n[i]:
                return
            tp.done = True
            tp.finished = time.monotonic()
            if tp.started is None:
                tp.started = tp.finished
        self.observer.table_done(tp)


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _items(q: queue.Queue[T | None], stop: threading.Event) -> Iterator[T]:
    """The items put on ``q`` until its end (None) or until ``stop`` is set."""
    while not stop.is_set():
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is None:
            return
        yield item
