"""``ferryman move``: named live moves — create, start (resume), status, list, cancel.

Passwords are never stored (see :mod:`ferryman.workflow.session` for how each step gets them
again)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ferryman.core.cascade import cascade_links, refuse_unfollowed_cascades
from ferryman.core.control import Controls
from ferryman.core.copy import ValuePolicy, ZeroDate
from ferryman.core.errors import (
    ConfigError,
    FerrymanError,
    MissingPartition,
    PreconditionFailed,
    SchemaError,
    UnsupportedType,
)
from ferryman.core.findings import Level
from ferryman.core.plan import SchemaPlan
from ferryman.core.position import Position
from ferryman.core.protocols import Endpoint, PartitionWatcher
from ferryman.core.registry import endpoint, open_endpoint
from ferryman.core.schema import Schema
from ferryman.core.tablecheck import fk_closure_findings
from ferryman.core.translate import unreplicated_generated
from ferryman.core.url import DatabaseURL, parse_url
from ferryman.pipeline.copier import Copier, CopyRequest
from ferryman.pipeline.guard import ON_DRIFT, DriftHalted
from ferryman.pipeline.mover import DdlSeen, MoveObserver, Mover, MoveSettings
from ferryman.workflow import control, sync
from ferryman.workflow.continuous import BackgroundVerify
from ferryman.workflow.results import last_verify
from ferryman.workflow.session import (
    FORWARD,
    OBJECT_PREFIXES,
    REVERSE,
    TERMINAL,
    MoveRef,
    MoveSpec,
    change_source,
    checkpoint_key,
    connect,
    copy_target,
    guard_name,
    in_namespace,
    lift_fence,
    load_spec,
    move_target,
    preflight,
    scalar_number,
    stored_url,
    stream_key,
    stream_name,
    stream_settings,
    target_tables,
)
from ferryman.workflow.state import StateStore, Workflow

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
ON_DDL = ("stop", "ignore", "exec")
log = logging.getLogger(__name__)


# -- create ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateOptions:
    """What ``move create`` is asked for besides the move's name and its two URLs (defaults:
    the CLI's). ``copy``: which tables and how the move copies them (``create``,
    ``defer_indexes`` and ``foreign_keys`` are the move's own; ``zero_date`` and
    ``type_overrides`` must stay at their defaults: ``move start`` copies without them); the
    runtime limits and ``postpone_switch`` are stored as the move's first controls."""

    copy: CopyRequest
    on_ddl: str = "stop"
    max_rows_per_second: float | None = None
    lag_query: str | None = None
    max_source_lag: float = 5.0
    postpone_switch: bool = False

    def __post_init__(self) -> None:
        if self.copy.zero_date is not ZeroDate.ERROR or self.copy.type_overrides:
            raise ConfigError("a move copies with the default zero dates and column types")


def create(
    store: StateStore,
    name: str,
    source_url: str,
    target_url: str,
    options: CreateOptions,
    *,
    say: Callable[[str], None] = lambda text: None,
) -> MoveSpec:
    """Check both sides, create the target tables, make the source keep changes, record it
    (with its runtime controls: the limits given, and ``postpone_switch``)."""
    o = options
    _check_new(store, name, o.on_ddl)
    controls = Controls(postpone_switch=o.postpone_switch).with_limits(
        max_rows_per_second=o.max_rows_per_second or 0,
        max_source_lag=o.max_source_lag,
        lag_query=o.lag_query or "",
    )
    src_u, dst_u = parse_url(source_url), parse_url(target_url)
    with endpoint(src_u) as source, endpoint(dst_u) as target:
        src_engine, dst_engine = _check_sides(source, target, o.on_ddl)
        copier = Copier(
            source,
            target,
            replace(o.copy, create=True, defer_indexes=False, foreign_keys=False),
        )
        schema, plan, missing = _plan(copier)
        names = _check_schema(schema, source, (src_engine, dst_engine), o.copy.wheres, say)
        preflight(source, "source", names)
        preflight(target, "target", None)
        say(f"creating {len(missing)} table(s) in {copier.namespace}")
        copier.create_missing_tables(plan, missing)
        try:
            # views read the target tables as the move fills them: created now, they need no
            # step in the resumable copy (materialized views: REFRESH after the copy)
            copier.create_views()
        except BaseException:
            copy_target(target).drop_objects(copier.namespace, copier.created)
            raise
        created = list(copier.created)
        for view, why in copier.views_refused:
            say(f"note: view {view} not recreated: {why}")
        if copier.views_created:
            say(f"views recreated on the target: {', '.join(copier.views_created)}")
        try:
            say("preparing change capture on the source")
            start = change_source(source).prepare_changes(name, names)
            try:
                spec = MoveSpec(
                    name=name,
                    id=uuid.uuid4().hex[:16],
                    source=stored_url(src_u),
                    target=stored_url(dst_u),
                    source_engine=src_engine,
                    target_engine=dst_engine,
                    tables=names,
                    wheres=o.copy.wheres,
                    renames=o.copy.renames,
                    target_namespace=copier.namespace,
                    on_ddl=o.on_ddl,
                    jobs=o.copy.jobs,
                    chunk_rows=o.copy.chunk_rows,
                    max_rows_per_second=o.max_rows_per_second,
                    lag_query=o.lag_query,
                    max_source_lag=o.max_source_lag,
                    values=o.copy.values.to_json(),
                    start_position=start.to_json(),
                    columns={t.name: [c.name for c in t.columns] for t in schema.tables},
                    created_tables=[c.removeprefix("table:") for c in created],
                    source_namespace=source.namespace,
                    with_views=o.copy.with_views,
                )
                store.create(Workflow(name, spec.model_dump(), "created"))
                store.set_controls(name, controls)
            except BaseException:
                change_source(source).drop_changes(name)
                raise
        except BaseException:
            if created:
                copy_target(target).drop_objects(copier.namespace, created)
            raise
        for note in plan.notes:
            say(f"note: {note.object}: {note.message}")
    _warn_no_way_back(dst_u, dst_engine, spec, say)
    return spec


def _check_new(store: StateStore, name: str, on_ddl: str) -> None:
    """A valid name no workflow has yet, a known --on-ddl."""
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a valid workflow name",
            hint="use 1 to 48 letters, digits, '_' or '-', starting with a letter or digit",
        )
    if on_ddl not in ON_DDL:
        raise ConfigError(f"--on-ddl {on_ddl!r} is unknown", hint="use stop, ignore or exec")
    with contextlib.suppress(FerrymanError):
        store.get(name)
        raise PreconditionFailed(
            f"a workflow named {name!r} already exists in {store.location}",
            hint=f"choose another name, or look at it: ferryman move status {name}",
            obj=name,
        )


def _check_sides(source: Endpoint, target: Endpoint, on_ddl: str) -> tuple[str, str]:
    """Two relational sides, and an --on-ddl they allow; (source engine, target engine)."""
    src_engine = source.server_info().engine
    dst_engine = target.server_info().engine
    for role, side in (("source", source), ("target", target)):
        if not side.server_info().relational:
            raise ConfigError(
                f"a live move needs a MySQL/MariaDB or PostgreSQL {role}, and {side.url} is "
                f"{side.server_info().flavor}",
                hint="keeping etcd in sync with a database is `ferryman sync`, which is not "
                "available yet; nothing was created",
            )
    if on_ddl == "exec" and src_engine != dst_engine:
        raise ConfigError(
            "--on-ddl exec runs the source's DDL on the target, which needs the same engine "
            f"on both sides ({src_engine} → {dst_engine})",
            hint="use --on-ddl stop (default) or ignore",
        )
    if on_ddl == "exec" and src_engine == "postgresql":
        raise ConfigError(
            "--on-ddl exec needs the DDL text, which PostgreSQL's logical replication does "
            "not carry",
            hint="use --on-ddl stop (default): the move pauses naming the table",
        )
    return src_engine, dst_engine


def _plan(copier: Copier) -> tuple[Schema, SchemaPlan, set[str]]:
    """The copy's plan; a type without a counterpart names the fixes a live move has."""
    try:
        return copier.plan()
    except UnsupportedType as exc:
        # a live move carries each column as it is: --type-override is copy's and schema's
        table = (exc.obj or "").partition(".")[0]
        exc.hint = (
            f"leave the table out of the move with --exclude {table} (or --tables), and "
            f"copy it once with `ferryman copy --tables {table} --type-override "
            f"{exc.obj}=TYPE`"
        )
        raise


def _check_schema(
    schema: Schema,
    source: Endpoint,
    engines: tuple[str, str],
    wheres: dict[str, str],
    say: Callable[[str], None],
) -> list[str]:
    """Refuse what a live move cannot keep current, warn about foreign keys leaving the move;
    the names of the moved tables."""
    src_engine, dst_engine = engines
    stale = unreplicated_generated(schema, dst_engine)
    if stale:
        raise SchemaError(
            f"generated column(s) {', '.join(stale)} cannot be kept current by a live move "
            f"to {dst_engine}: PostgreSQL's logical replication does not send generated "
            "columns, and the expression has no translation to recompute it on the target",
            hint="leave the table(s) out with --exclude, or copy them once with `ferryman "
            "copy` (which copies the values); nothing was created",
            obj=stale[0].partition(" ")[0],
        )
    for finding in fk_closure_findings(schema, source.introspect()):
        if finding.level is Level.WARN:
            say(f"warning: {finding.message} (fix: {finding.fix})")
    if src_engine == "mysql":  # refuses a cascaded UPDATE/SET NULL into a --where table
        refuse_unfollowed_cascades(
            schema.tables,
            {t.name for t in schema.tables},
            lambda child, fk, parent: (
                f"add {parent} to the move with --tables (ferryman then "
                f"repeats the action on the target), leave {child} out, or change foreign key {fk} "
                "to RESTRICT / NO ACTION"
            ),
        )
        cascade_links(
            schema,
            {t.name: ("", t.name, t.column_names, (None,) * len(t.columns)) for t in schema},
            wheres or {},
        )
    return [t.name for t in schema.tables]


def _warn_no_way_back(
    url: DatabaseURL, engine: str, spec: MoveSpec, say: Callable[[str], None]
) -> None:
    """Warn now when the target cannot be a change source: `move switch` needs it for the
    replication back (or --no-reverse, which gives up the way back)."""
    try:
        with endpoint(in_namespace(url, engine, spec.target_namespace)) as ep:
            problems = [f for f in ep.check("source", target_tables(spec)) if f.level is Level.FAIL]
    except FerrymanError as exc:
        problems_text = exc.message
    else:
        if not problems:
            return
        problems_text = "; ".join(f"{f.object}: {f.message}" for f in problems)
    say(
        f"warning: the target cannot replicate back to the source ({problems_text}); "
        f"`ferryman move switch {spec.name}` will refuse unless this is fixed, or "
        "--no-reverse gives up the way back"
    )


# -- start ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartOptions:
    """What ``move start`` is asked for (each default: as the move has it). The limits (None:
    as they are, 0: none) and ``postpone_switch`` change the move's runtime controls
    (:mod:`~ferryman.workflow.control`), which the runner follows; ``on_ddl``, ``on_drift``
    and ``values`` (ValuePolicy settings, None: as they are) are kept with the move.

    ``on_drift``: what a write to the target that ferryman did not make does (halt | repair |
    log | off). A move halted on drift starts again only with ``accept_drift`` (the drift seen
    so far is accepted; fix the target first with ``move verify --repair``). With
    ``verify_interval`` (seconds) a background thread verifies the move again and again,
    throttled to ``verify_rows_per_second``; what the stream did not deliver is drift too
    (:mod:`ferryman.workflow.continuous`)."""

    on_ddl: str | None = None
    skip_ddl: bool = False
    max_rows_per_second: float | None = None
    lag_query: str | None = None
    max_source_lag: float | None = None
    values: dict[str, str | None] | None = None
    batch_rows: int | None = None
    postpone_switch: bool = False
    verify_interval: float | None = None
    verify_rows_per_second: float | None = None
    on_drift: str | None = None
    accept_drift: bool = False


def start(
    ref: MoveRef,
    options: StartOptions | None = None,
    *,
    stop: threading.Event | None = None,
    observer: MoveObserver | None = None,
) -> dict[str, Any]:
    """Run the move in the foreground until ``stop`` is set, as ``options`` ask (see
    :class:`StartOptions`); returns the last status."""
    o = options or StartOptions()
    store, name = ref.store, ref.name
    wf = store.get(name)
    spec = load_spec(wf)
    if wf.phase in TERMINAL:
        raise PreconditionFailed(
            f"workflow {name!r} is {wf.phase}", hint="create a new move to move the data again"
        )
    if o.on_ddl is not None and o.on_ddl not in ON_DDL:
        raise ConfigError(f"--on-ddl {o.on_ddl!r} is unknown", hint="use stop, ignore or exec")
    if o.verify_interval is not None and o.verify_interval <= 0:
        raise ConfigError(
            f"--verify-interval {o.verify_interval} is not a duration",
            hint="give a positive duration such as 30s, 5m or 1h",
        )
    if o.on_drift is not None and o.on_drift not in ON_DRIFT:
        raise ConfigError(
            f"--on-drift {o.on_drift!r} is unknown",
            hint="use halt, repair, log or off",
            obj=o.on_drift,
        )
    if wf.phase == "halted" and not o.accept_drift:
        raise PreconditionFailed(
            f"move {name!r} is halted: its target drifted from its source "
            f"({len(store.drift(name))} change(s) recorded)",
            hint=f"see `ferryman move status {name}`; fix the target with `ferryman move verify "
            f"{name} --repair`, then `ferryman move start {name} --accept-drift`",
            obj=name,
        )
    if o.accept_drift:
        accepted = store.accept_drift(name)
        store.record(name, "drift accepted", f"{accepted} change(s)")
    changes: dict[str, Any] = {}
    if o.on_drift is not None:
        changes["on_drift"] = o.on_drift
    if o.on_ddl is not None:
        changes["on_ddl"] = o.on_ddl
    # the start-time limits are the runtime controls' (``move throttle`` changes them later)
    control.throttle(
        store,
        name,
        max_rows_per_second=o.max_rows_per_second,
        max_source_lag=o.max_source_lag,
        lag_query=o.lag_query,
        by="move start",
    )
    if o.postpone_switch:
        control.postpone(store, name, by="move start")
    if o.values and any(v is not None for v in o.values.values()):
        changes["values"] = ValuePolicy.from_json(spec.values).updated(**o.values).to_json()
    if changes:
        spec = spec.model_copy(update=changes)
        store.update(name, spec=spec.model_dump())
    src_u, dst_u = ref.urls(spec)
    stop = stop or threading.Event()
    with store.runner_lock(name):
        store.record(name, "start", f"pid {os.getpid()}")
        if wf.phase == "halted":  # --accept-drift: the user's word that the target is right
            store.update(name, phase="stopped", error=None)
        checker, checker_stop = None, threading.Event()
        if o.verify_interval is not None:
            checker = BackgroundVerify(
                ref,
                (src_u, dst_u),
                o.verify_interval,
                o.verify_rows_per_second,
                checker_stop,
                record_drift=lambda events: record_drift(store, name, events),
            ).start()
        try:
            last = _run_loop(ref, src_u, dst_u, stop, observer, o.batch_rows, o.skip_ddl)
        finally:
            checker_stop.set()
            if checker is not None:
                checker.join(30.0)
            store.record(name, "stopped")
        wf = store.get(name)
        if wf.phase == "halted":
            raise PreconditionFailed(wf.error or f"move {name!r} halted", obj=name)
        return last


def _run_loop(
    ref: MoveRef,
    src_u: DatabaseURL,
    dst_u: DatabaseURL,
    stop: threading.Event,
    observer: MoveObserver | None,
    batch_rows: int | None,
    skip_ddl: bool,
) -> dict[str, Any]:
    """Run the streams until ``stop``, a terminal phase or a halt; the last status."""
    store, name = ref.store, ref.name
    last: dict[str, Any] = {}
    while not stop.is_set():
        wf = store.get(name)
        spec = load_spec(wf)
        if wf.phase in TERMINAL or wf.phase == "halted":
            break
        held = store.open_attempt(name)
        if held:
            _hold(store, name, held, stop)
            continue
        if spec.direction == REVERSE and not spec.reverse:
            log.warning(
                "move %s was switched with --no-reverse: no stream to run; finish it with "
                "`ferryman move complete %s`",
                name,
                name,
            )
            break
        last = _run_stream(
            store,
            name,
            spec,
            src_u,
            dst_u,
            stop=stop,
            observer=observer,
            batch_rows=batch_rows,
            skip_ddl=skip_ddl,
        )
        skip_ddl = False
    return last


#: Phases a stream's own progress never overwrites (a cutover owns them).
CUTOVER_PHASES = ("switching", "switched", "completed", "cancelled")
#: ... nor these: a cutover's, or a halt on drift (which only the user lifts).
HELD_PHASES = (*CUTOVER_PHASES, "halted")


def _hold(store: StateStore, name: str, held: list[Any], stop: threading.Event) -> None:
    """A cutover is in progress: tell it the stream is released, wait until it ends."""
    attempt = held[0].attempt
    if not any(e.step == "runner-released" for e in held):
        store.journal(name, attempt, "runner-released", "done", pid=os.getpid())
    while not stop.is_set() and store.open_attempt(name):
        stop.wait(0.05)


def _run_stream(
    store: StateStore,
    name: str,
    spec: MoveSpec,
    src_u: DatabaseURL,
    dst_u: DatabaseURL,
    *,
    stop: threading.Event,
    observer: MoveObserver | None,
    batch_rows: int | None,
    skip_ddl: bool,
) -> dict[str, Any]:
    """Run the stream of the move's current direction until ``stop`` is set or a cutover
    (or ``complete``) asks for it, following the runtime controls; returns its last status."""
    direction = spec.direction
    back = in_namespace(dst_u, spec.target_engine, spec.target_namespace)
    from_u, to_u = (src_u, dst_u) if direction == FORWARD else (back, src_u)
    roles = ("source", "target") if direction == FORWARD else ("target", "source")
    run_stop = threading.Event()
    # the lag query runs on the move's source: the forward stream's only
    follow = Follow(store, name, src_u if direction == FORWARD else None)
    watcher = _watcher(store, name, stop, run_stop, follow)
    try:
        with connect(from_u, roles[0]) as src, connect(to_u, roles[1]) as dst:
            settings = stream_settings(spec, direction, src.namespace, skip_ddl=skip_ddl)
            if batch_rows:
                settings = replace(settings, batch_rows=batch_rows)

            def publish(phase: str, status: dict[str, Any]) -> None:
                store.update(
                    name,
                    phase=phase,
                    status={**status, "direction": direction},
                    error=None,
                    keep_phases=HELD_PHASES,
                    keep_error_phases=("halted",),
                )

            def make_mover() -> Mover:
                return follow.attach(
                    Mover(
                        src,
                        dst,
                        settings,
                        stop=run_stop,
                        observer=observer,
                        publish=publish,
                        record_drift=lambda events: record_drift(store, name, events),
                        note=lambda kind, detail: store.record(name, kind, detail),
                    )
                )

            mover = make_mover()

            def fail(phase: str, text: str) -> None:
                store.update(
                    name,
                    phase=phase,
                    error=text,
                    status=mover.status(False),
                    keep_phases=HELD_PHASES,
                )

            # partitions created on the source since the last run, then during this one: the
            # target gets them as well (PostgreSQL → PostgreSQL)
            watch_partitions = _watch_partitions(src, dst, settings, store, name)
            try:
                fruitless = 0
                while True:
                    try:
                        mover.run()
                        break
                    except MissingPartition as exc:
                        # create the partitions (unless the watch just did) and resume
                        try:
                            done = _sync_partitions(src, dst, settings, store, name, exc.table)
                        except FerrymanError:
                            done = []
                        fruitless = 0 if done else fruitless + 1
                        if fruitless > 2:
                            raise
                        mover = make_mover()
            except DdlSeen as exc:
                fail("paused", exc.render())
                store.record(name, "paused", exc.message)
                raise
            except DriftHalted as exc:
                fail("halted", exc.render())
                store.record(name, "halted", exc.message)
                raise
            except FerrymanError as exc:
                fail("failed", exc.render())
                store.record(name, "failed", exc.message)
                raise
            except BaseException as exc:
                fail("failed", f"{type(exc).__name__}: {exc}")
                raise
            finally:
                if watch_partitions is not None:
                    watch_partitions.close()
                if direction == FORWARD and settings.columns != spec.columns:
                    # an ignored/skipped DDL: the new shape
                    fresh = load_spec(store.get(name)).model_copy(
                        update={"columns": settings.columns}
                    )
                    store.update(name, spec=fresh.model_dump())
            return mover.status(False)
    finally:
        run_stop.set()
        watcher.join(1.0)
        follow.close()


def record_drift(store: StateStore, name: str, events: list[dict[str, Any]]) -> list[bool]:
    """Store the drift guard's events (once each) and put each new one in the history."""
    fresh = store.record_drift(name, events)
    for event, new in zip(events, fresh, strict=True):
        if new:
            who = ", ".join(f"{k} {v}" for k, v in (event.get("who") or {}).items())
            store.record(
                name,
                "drift",
                f"{event['kind']} {event['table']} {event['key']}"
                + (f" by {who}" if who else "")
                + (f"; differs in {', '.join(event['columns'])}" if event["columns"] else ""),
            )
    return fresh


#: ``move status`` shows at most this many drift events (newest first)
DRIFT_SHOWN = 100
DRIFT_KEYS = (
    "table",
    "key",
    "kind",
    "actual",
    "expected",
    "columns",
    "at",
    "who",
    "position",
    "accepted",
)


def _drop_guards(spec: MoveSpec, source: Endpoint, target: Endpoint) -> None:
    """Remove the drift guards' change captures (the forward one on the target, the reverse
    one on the source). Idempotent; a side without a change stream has none."""
    for ep, direction in ((target, FORWARD), (source, REVERSE)):
        changes = ep.change_source()
        if changes is not None:
            changes.drop_changes(guard_name(spec, direction))


def _watcher(
    store: StateStore,
    name: str,
    stop: threading.Event,
    run_stop: threading.Event,
    follow: Follow,
) -> threading.Thread:
    """A thread that sets ``run_stop`` when ``stop`` is set, a cutover begins, or the move is
    completed, cancelled or halted, and hands the operator's runtime controls to ``follow``
    five times a second; it ends with ``run_stop``."""

    def watch() -> None:
        ticks = 0
        while not run_stop.wait(0.05):
            try:
                if (
                    stop.is_set()
                    or store.open_attempt(name)
                    or store.get(name).phase in (*TERMINAL, "halted")
                ):
                    run_stop.set()
                ticks += 1
                if ticks % 4 == 0:
                    follow.poll()  # the operator's pause / throttle
            except FerrymanError:  # the workflow is gone (cancelled)
                run_stop.set()

    watcher = threading.Thread(target=watch, name="ferryman-watch", daemon=True)
    watcher.start()
    return watcher


def _watch_partitions(
    src: Endpoint,
    dst: Endpoint,
    settings: MoveSettings,
    store: StateStore,
    name: str,
) -> PartitionWatcher | None:
    """A target that keeps the source's partitioning (PostgreSQL → PostgreSQL): create the
    partitions it lacks now, then watch for new ones while the stream runs (a target with a
    DEFAULT partition would take their rows there without a word)."""
    partitions = dst.partitions()
    if partitions is None:
        return None
    try:
        _sync_partitions(src, dst, settings, store, name, "")
    except FerrymanError as exc:
        log.warning("could not create new partitions on the target: %s", exc.message)
    return partitions.watch_partitions(
        src,
        settings.tables,
        settings.renames,
        settings.target_namespace or dst.namespace,
        on_created=lambda names: log.warning(
            "created partition(s) %s on the target as on the source", ", ".join(names)
        ),
    )


def _sync_partitions(
    src: Endpoint,
    dst: Endpoint,
    settings: MoveSettings,
    store: StateStore,
    name: str,
    table: str,
) -> list[str]:
    """Create on the target the source's partitions it lacks; the names created (none: the
    error stands)."""
    partitions = dst.partitions()
    if partitions is None:
        return []
    created = partitions.sync_partitions(
        src, settings.tables, settings.renames, settings.target_namespace or dst.namespace
    )
    if created:
        log.warning(
            "created partition(s) %s on the target as on the source%s",
            ", ".join(created),
            f" (a change to {table} had no partition there)" if table else "",
        )
        store.record(
            name,
            "partitions",
            f"{table or 'partitioned tables'}: created partition(s) {', '.join(created)} on "
            "the target as on the source (created there during the move)",
        )
    return created


class Follow:
    """The runner's side of the runtime controls: reads the move's controls (:meth:`poll`,
    from the watch thread) and hands each change to the running Mover, with a probe for the
    lag query on ``lag_url`` (None: no lag check, e.g. the reverse stream)."""

    def __init__(self, store: StateStore, name: str, lag_url: DatabaseURL | None) -> None:
        self.store, self.name = store, name
        self.probe = LagProbe(lag_url) if lag_url is not None else None
        self.mover: Mover | None = None
        self.seen: Controls | None = None
        self.lock = threading.Lock()

    def attach(self, mover: Mover) -> Mover:
        """Follow the controls with ``mover`` from now on (they apply before it runs)."""
        with self.lock:
            self.mover, self.seen = mover, None
        self.poll()
        return mover

    def poll(self) -> None:
        with self.lock:
            now = control.current(self.store, self.name)
            if self.mover is None or now == self.seen:
                return
            self.seen = now
            lag = self.probe.of(now.lag_query) if self.probe and now.lag_query else None
            self.mover.control(now, lag)

    def close(self) -> None:
        if self.probe is not None:
            self.probe.close()


class LagProbe:
    """Runs the user's lag query on the source (one connection, opened when first needed)."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.ep: Endpoint | None = None

    def of(self, query: str) -> Callable[[], float | None]:
        """The probe of ``query``: its one number, or ConfigError naming the fix."""
        return lambda: self.value(query)

    def value(self, query: str) -> float | None:
        if self.ep is None:
            self.ep = open_endpoint(self.url)
        try:
            return scalar_number(self.ep, query)  # in the URL's database
        except Exception as exc:
            self.close()
            raise ConfigError(
                f"the lag query failed on {self.url}: {exc}",
                hint="give a query that returns one number (seconds), e.g. "
                "SELECT MAX(lag) FROM replicas, with ferryman move throttle NAME --lag-query",
            ) from None

    def close(self) -> None:
        if self.ep is not None:
            with contextlib.suppress(Exception):
                self.ep.close()
            self.ep = None


# -- status / list --------------------------------------------------------------------------


def status(store: StateStore, name: str) -> dict[str, Any]:
    wf = store.get(name)
    if wf.spec.get("kind") == "sync":  # a `ferryman sync` workflow
        return sync.status(store, name)
    spec = load_spec(wf)
    st = wf.status or {}
    tables = st.get("tables") or [
        {
            "source": t,
            "target": f"{spec.target_namespace}.{spec.renames.get(t, t)}",
            "rows_copied": 0,
            "rows_estimated": None,
            "copy_done": False,
        }
        for t in spec.tables
    ]
    running = bool(st.get("running")) and store.runner_alive(name)
    controls = control.current(store, name)
    phase = wf.phase
    if controls.paused and phase in PAUSABLE:
        phase = "paused"  # the operator's pause, before a runner has reported it
    return {
        "name": wf.name,
        "phase": phase,
        "running": running,
        "paused": controls.paused,
        "postpone_switch": controls.postpone_switch,
        "throttle": controls.throttle_json(),
        "throttle_error": st.get("throttle_error") if running else None,
        "source": spec.source,
        "target": spec.target,
        "tables": tables,
        "lag_seconds": st.get("lag_seconds") if running else None,
        "position": st.get("position") or str(Position.from_json(spec.start_position)),
        "events_applied": st.get("events_applied", 0),
        "events_per_second": st.get("events_per_second", 0.0) if running else 0.0,
        "throttled": bool(st.get("throttled")) and running,
        "on_ddl": spec.on_ddl,
        "on_drift": spec.on_drift,
        "drift": [{k: e.get(k) for k in DRIFT_KEYS} for e in store.drift(name, DRIFT_SHOWN)],
        "direction": spec.direction,
        "new_primary": spec.new_primary,
        "fences": {side: f["kind"] for side, f in spec.fences.items()},
        "switches": spec.switches,
        "cutover": _cutover_status(store, name),
        "error": wf.error,
        "last_verify": last_verify(store, name),
        "updated_at": wf.updated_at,
        "created_at": wf.created_at,
    }


#: Phases an operator's pause shows as ``paused`` in (a runner, running or not, would hold).
PAUSABLE = ("created", "copying", "replicating", "stopped")


def _cutover_status(store: StateStore, name: str) -> dict[str, Any] | None:
    """The open (interrupted or running) cutover attempt, if any."""
    entries = store.open_attempt(name)
    if not entries:
        return None
    last = entries[-1]
    return {
        "op": entries[0].detail.get("op"),
        "attempt": entries[0].attempt,
        "step": last.step,
        "state": last.state,
        "past_point_of_no_return": any(e.step == "point-of-no-return" for e in entries),
    }


def list_moves(store: StateStore) -> list[dict[str, Any]]:
    return [status(store, wf.name) for wf in store.workflows()]


# -- cancel ---------------------------------------------------------------------------------

#: Phases after which a move can no longer be cancelled (writes may have gone to the target).
SWITCHED = ("switching", "switched", "completed")


def cancel(
    ref: MoveRef,
    *,
    keep_data: bool = False,
    say: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Undo a move that was never switched: the source's change capture (PostgreSQL slot and
    publication), the target's checkpoint, the target tables the move created (unless
    ``keep_data``; tables that existed before are emptied again) and the workflow itself.

    Idempotent: each step tolerates what an interrupted earlier cancel already removed."""
    store, name = ref.store, ref.name
    wf = store.get(name)
    if wf.spec.get("kind") == "sync":  # a `ferryman sync` workflow
        return sync.cancel(
            store, name, source=ref.source, target=ref.target, keep_data=keep_data, say=say
        )
    spec = load_spec(wf)
    if wf.phase in SWITCHED:
        raise PreconditionFailed(
            f"move {name!r} is {wf.phase}: writes may already go to the target, so cancel "
            "would lose them",
            hint=f"switch back with `ferryman move reverse {name}`, or finish with "
            f"`ferryman move complete {name}`",
            obj=name,
        )
    if store.open_attempt(name):
        raise PreconditionFailed(
            f"move {name!r} has an interrupted cutover",
            hint=f"run `ferryman move switch {name}` again to finish or roll it back first",
            obj=name,
        )
    src_u, dst_u = ref.urls(spec)
    with store.runner_lock(name):  # refuses while `move start` runs; keeps it from starting
        with connect(src_u, "source") as src, connect(dst_u, "target") as dst:
            say("removing change capture on the source")
            change_source(src).drop_changes(name)
            _drop_guards(spec, src, dst)
            if spec.switches:  # switched and reversed: the way back's capture and checkpoint
                change_source(dst).drop_changes(stream_name(spec, REVERSE))
                back = move_target(src).open_applier()
                try:
                    back.drop_checkpoint(stream_key(spec, REVERSE))
                finally:
                    back.close()
            for side, fence in spec.fences.items():
                if fence["kind"] != "hook":
                    say(f"removing the {fence['kind']} fence on the {side}")
                    lift_fence(src if side == "source" else dst, spec.name, fence)
            applier = move_target(dst).open_applier()
            try:
                applier.drop_checkpoint(checkpoint_key(spec))
            finally:
                applier.close()
            created = [c for c in spec.created_tables if not c.startswith(OBJECT_PREFIXES)]
            existing = [
                spec.renames.get(t, t) for t in spec.tables if spec.renames.get(t, t) not in created
            ]
            if keep_data:
                say("keeping the target tables and their rows (--keep-data)")
            else:
                say(f"dropping {len(created)} table(s) the move created in {spec.target_namespace}")
                objects = [
                    c if c.startswith(OBJECT_PREFIXES) else f"table:{c}"
                    for c in spec.created_tables
                ]
                copy_target(dst).drop_objects(spec.target_namespace, objects)
                for table in existing:
                    say(f"emptying {spec.target_namespace}.{table} (it existed before the move)")
                copy_target(dst).truncate(spec.target_namespace, sorted(existing))
        store.record(name, "cancel", "keep-data" if keep_data else "")
        store.delete(name)
    return {
        "name": name,
        "cancelled": True,
        "dropped_tables": [] if keep_data else created,
        "emptied_tables": [] if keep_data else existing,
        "kept_data": keep_data,
    }
