"""``ferryman move``: named live moves — create, start (resume), status, list.

Passwords are never stored. ``create`` keeps the URLs without their passwords; ``start`` gets them
again from, in order: the ``--source``/``--target`` URL given to ``start``, the environment
(``FERRYMAN_SOURCE_PASSWORD`` / ``FERRYMAN_TARGET_PASSWORD``), a password file
(``--source-password-file`` / ``--target-password-file``), or none (trust, peer, .pgpass).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError

from ferryman.core.cascade import cascade_links
from ferryman.core.copy import ValuePolicy
from ferryman.core.errors import (
    ConfigError,
    ConnectError,
    FerrymanError,
    PreconditionFailed,
    SchemaError,
    UnsupportedType,
)
from ferryman.core.findings import Level
from ferryman.core.position import Position
from ferryman.core.protocols import ChangeSource, CopyTarget, Endpoint, MoveTarget
from ferryman.core.registry import endpoint, open_endpoint
from ferryman.core.tablecheck import fk_closure_findings
from ferryman.core.translate import unreplicated_generated
from ferryman.core.url import DatabaseURL, parse_url
from ferryman.pipeline.copier import Copier, CopyRequest
from ferryman.pipeline.mover import DdlSeen, MoveObserver, Mover, MoveSettings
from ferryman.workflow.state import StateStore, Workflow

if TYPE_CHECKING:
    from ferryman.engines.postgres.partitions import PartitionWatch

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
ON_DDL = ("stop", "ignore", "exec")
TERMINAL = ("completed", "cancelled")
log = logging.getLogger(__name__)


class MoveSpec(BaseModel):
    """What ``move create`` decided; stored (JSON) in the state store. No passwords."""

    name: str
    id: str  # unique per create: the target's checkpoint key is "name/id"
    source: str
    target: str
    source_engine: str
    target_engine: str
    tables: list[str]
    wheres: dict[str, str] = Field(default_factory=dict)
    renames: dict[str, str] = Field(default_factory=dict)
    target_namespace: str
    on_ddl: str = "stop"
    jobs: int = 2
    chunk_rows: int = 10_000
    max_rows_per_second: float | None = None
    lag_query: str | None = None
    max_source_lag: float = 5.0
    values: dict[str, str] = Field(default_factory=dict)  # ValuePolicy settings not at default
    start_position: dict[str, Any]
    columns: dict[str, list[str]] = Field(default_factory=dict)
    created_tables: list[str] = Field(default_factory=list)
    source_namespace: str = ""
    with_views: bool = False  # views recreated on the target at create (same engine only)
    # -- cutover (``move switch`` / ``reverse``) --
    direction: str = "forward"  # forward: source → target; reverse: target → source (switched)
    reverse: bool = True  # a switch starts reverse replication (not with --no-reverse)
    reverse_start: dict[str, Any] | None = None  # where the current reverse stream began
    fences: dict[str, dict[str, Any]] = Field(default_factory=dict)  # side -> fence in place
    new_primary: str | None = None  # where writes go after the last switch (no password)
    switches: list[dict[str, Any]] = Field(default_factory=list)  # finished cutovers


FORWARD, REVERSE = "forward", "reverse"
# created_tables entries that are other objects than tables (kept with their prefix)
OBJECT_PREFIXES = ("type:", "sequence:", "domain:", "view:", "matview:", "function:")


def stream_name(spec: MoveSpec, direction: str) -> str:
    """The change capture of a direction (PostgreSQL: slot and publication ferryman_<this>)."""
    return spec.name if direction == FORWARD else f"{spec.name}_rev"


def stream_key(spec: MoveSpec, direction: str) -> str:
    """The checkpoint key of a direction's stream (kept in that stream's target)."""
    return checkpoint_key(spec) if direction == FORWARD else f"{checkpoint_key(spec)}/reverse"


def target_tables(spec: MoveSpec) -> list[str]:
    return [spec.renames.get(t, t) for t in spec.tables]


def in_namespace(url: DatabaseURL, engine: str, namespace: str) -> DatabaseURL:
    """``url`` with ``namespace`` as its default namespace (MySQL database, PostgreSQL schema):
    the way back reads the target's tables where the move wrote them."""
    if not namespace:
        return url
    if engine == "postgresql":
        return url.with_options(schema=namespace)
    return url.with_database(namespace)


def stream_settings(
    spec: MoveSpec, direction: str, source_namespace: str, *, skip_ddl: bool = False
) -> MoveSettings:
    """What the Mover of a direction runs: forward copies then replicates source → target;
    reverse replicates target → source from the cutover's position, copying nothing."""
    if direction == FORWARD:
        return MoveSettings(
            workflow=spec.name,
            checkpoint_key=checkpoint_key(spec),
            tables=spec.tables,
            wheres=spec.wheres,
            renames=spec.renames,
            target_namespace=spec.target_namespace,
            start_position=spec.start_position,
            columns={k: list(v) for k, v in spec.columns.items()},
            on_ddl=spec.on_ddl,
            skip_ddl=skip_ddl,
            jobs=spec.jobs,
            chunk_rows=spec.chunk_rows,
            max_rows_per_second=spec.max_rows_per_second,
            lag_query=spec.lag_query,
            max_source_lag=spec.max_source_lag,
            values=ValuePolicy.from_json(spec.values),
        )
    return MoveSettings(
        workflow=spec.name,
        stream=stream_name(spec, REVERSE),
        checkpoint_key=stream_key(spec, REVERSE),
        tables=target_tables(spec),
        renames={d: s for s, d in spec.renames.items() if s != d},
        target_namespace=spec.source_namespace or source_namespace,
        start_position=spec.reverse_start,
        on_ddl="exec" if spec.on_ddl == "exec" else "stop",
        skip_ddl=skip_ddl,
        jobs=spec.jobs,
        chunk_rows=spec.chunk_rows,
        max_rows_per_second=spec.max_rows_per_second,
        copy=False,
        values=ValuePolicy.from_json(spec.values),
    )


def checkpoint_key(spec: MoveSpec) -> str:
    return f"{spec.name}/{spec.id}"


def stored_url(url: DatabaseURL) -> str:
    """``url`` as the state store keeps it: everything but the password."""
    return url.redacted().replace(":***@", "@")


def _spec(wf: Workflow) -> MoveSpec:
    try:
        return MoveSpec.model_validate(wf.spec)
    except ValidationError as exc:
        raise ConfigError(
            f"the stored workflow {wf.name!r} is not readable: {exc.errors()[0]['msg']}",
            hint="it was written by another ferryman version; create the move again",
        ) from None


# -- create ---------------------------------------------------------------------------------


def create(
    store: StateStore,
    name: str,
    source_url: str,
    target_url: str,
    *,
    tables: list[str] | None,
    exclude: list[str],
    wheres: dict[str, str],
    renames: dict[str, str],
    target_namespace: str | None,
    on_ddl: str = "stop",
    jobs: int = 2,
    chunk_rows: int = 10_000,
    max_rows_per_second: float | None = None,
    lag_query: str | None = None,
    max_source_lag: float = 5.0,
    values: ValuePolicy | None = None,
    with_views: bool = False,
    say: Callable[[str], None] = lambda text: None,
) -> MoveSpec:
    """Check both sides, create the target tables, make the source keep changes, record it."""
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
    src_u, dst_u = parse_url(source_url), parse_url(target_url)
    with endpoint(src_u) as source, endpoint(dst_u) as target:
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
        copier = Copier(
            source,
            target,
            CopyRequest(
                tables=tables,
                exclude=exclude,
                wheres=wheres,
                renames=renames,
                target_namespace=target_namespace,
                jobs=jobs,
                chunk_rows=chunk_rows,
                defer_indexes=False,
                foreign_keys=False,
                with_views=with_views,
            ),
        )
        try:
            schema, plan, missing = copier.plan()
        except UnsupportedType as exc:
            # a live move carries each column as it is: --type-override is copy's and schema's
            table = (exc.obj or "").partition(".")[0]
            exc.hint = (
                f"leave the table out of the move with --exclude {table} (or --tables), and "
                f"copy it once with `ferryman copy --tables {table} --type-override "
                f"{exc.obj}=TYPE`"
            )
            raise
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
        names = [t.name for t in schema.tables]
        for finding in fk_closure_findings(schema, source.introspect()):
            if finding.level is Level.WARN:
                say(f"warning: {finding.message} (fix: {finding.fix})")
        if src_engine == "mysql":  # refuses a cascaded UPDATE/SET NULL into a --where table
            cascade_links(
                schema,
                {t.name: ("", t.name, t.column_names, (None,) * len(t.columns)) for t in schema},
                wheres or {},
            )
        _preflight(source, "source", names)
        _preflight(target, "target", None)
        say(f"creating {len(missing)} table(s) in {copier.namespace}")
        copier.create_missing_tables(plan, missing)
        try:
            # views read the target tables as the move fills them: created now, they need no
            # step in the resumable copy (materialized views: REFRESH after the copy)
            copier.create_views()
        except BaseException:
            cast(CopyTarget, target).drop_objects(copier.namespace, copier.created)
            raise
        created = list(copier.created)
        for view, why in copier.views_refused:
            say(f"note: view {view} not recreated: {why}")
        if copier.views_created:
            say(f"views recreated on the target: {', '.join(copier.views_created)}")
        try:
            say("preparing change capture on the source")
            start = cast(ChangeSource, source).prepare_changes(name, names)
            try:
                spec = MoveSpec(
                    name=name,
                    id=uuid.uuid4().hex[:16],
                    source=stored_url(src_u),
                    target=stored_url(dst_u),
                    source_engine=src_engine,
                    target_engine=dst_engine,
                    tables=names,
                    wheres=wheres,
                    renames=renames,
                    target_namespace=copier.namespace,
                    on_ddl=on_ddl,
                    jobs=jobs,
                    chunk_rows=chunk_rows,
                    max_rows_per_second=max_rows_per_second,
                    lag_query=lag_query,
                    max_source_lag=max_source_lag,
                    values=(values or ValuePolicy()).to_json(),
                    start_position=start.to_json(),
                    columns={t.name: [c.name for c in t.columns] for t in schema.tables},
                    created_tables=[c.removeprefix("table:") for c in created],
                    source_namespace=source.namespace,
                    with_views=with_views,
                )
                store.create(Workflow(name, spec.model_dump(), "created"))
            except BaseException:
                cast(ChangeSource, source).drop_changes(name)
                raise
        except BaseException:
            if created:
                cast(CopyTarget, target).drop_objects(copier.namespace, created)
            raise
        for note in plan.notes:
            say(f"note: {note.object}: {note.message}")
    _warn_no_way_back(dst_u, dst_engine, spec, say)
    return spec


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


def _preflight(ep: Endpoint, role: str, tables: list[str] | None) -> None:
    problems = [f for f in ep.check(role, tables) if f.level is Level.FAIL]
    if problems:
        lines = "; ".join(f"{f.object}: {f.message}" for f in problems)
        fixes = "; ".join(f.fix for f in problems if f.fix)
        raise PreconditionFailed(
            f"the {role} {ep.url} is not ready for a live move: {lines}",
            hint=fixes or f"run `ferryman check {ep.url} --role {role}` for details",
        )


# -- start ----------------------------------------------------------------------------------


def resolve_url(
    stored: str, given: str | None, env: str, password_file: str | None, role: str
) -> DatabaseURL:
    """The stored URL with its password supplied again (see the module docstring)."""
    if given:
        url = parse_url(given)
        base = parse_url(stored)
        if (url.host, url.port, url.user, url.database) != (
            base.host,
            base.port,
            base.user,
            base.database,
        ):
            raise ConfigError(
                f"--{role} {url} is not the {role} this move was created with ({base})",
                hint="give the same host, port, user and database, or create another move",
            )
        return url
    url = parse_url(stored)
    password = os.environ.get(env)
    if password is None and password_file:
        try:
            password = Path(password_file).read_text().strip("\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot read --{role}-password-file {password_file}: {exc.strerror}",
                hint="give a readable file holding only the password",
            ) from None
    if password is None:
        return url
    return parse_url(_with_password(stored, password))


def resolve_urls(
    spec: MoveSpec,
    source: str | None,
    target: str | None,
    source_password_file: str | None,
    target_password_file: str | None,
) -> tuple[DatabaseURL, DatabaseURL]:
    """The move's source and target URLs with their passwords supplied again."""
    return (
        resolve_url(
            spec.source, source, "FERRYMAN_SOURCE_PASSWORD", source_password_file, "source"
        ),
        resolve_url(
            spec.target, target, "FERRYMAN_TARGET_PASSWORD", target_password_file, "target"
        ),
    )


def _with_password(stored: str, password: str) -> str:
    scheme, _, rest = stored.partition("://")
    user, at, host = rest.partition("@")
    if not at:
        raise ConfigError(
            f"the stored URL {stored} names no user to give a password to",
            hint="give the full URL again with --source/--target",
        )
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"


def start(
    store: StateStore,
    name: str,
    *,
    source: str | None = None,
    target: str | None = None,
    source_password_file: str | None = None,
    target_password_file: str | None = None,
    on_ddl: str | None = None,
    skip_ddl: bool = False,
    max_rows_per_second: float | None = None,
    lag_query: str | None = None,
    max_source_lag: float | None = None,
    values: dict[str, str | None] | None = None,
    stop: threading.Event | None = None,
    observer: MoveObserver | None = None,
    batch_rows: int | None = None,
) -> dict[str, Any]:
    """Run the move in the foreground until ``stop`` is set; returns the last status."""
    wf = store.get(name)
    spec = _spec(wf)
    if wf.phase in TERMINAL:
        raise PreconditionFailed(
            f"workflow {name!r} is {wf.phase}", hint="create a new move to move the data again"
        )
    if on_ddl is not None and on_ddl not in ON_DDL:
        raise ConfigError(f"--on-ddl {on_ddl!r} is unknown", hint="use stop, ignore or exec")
    changes: dict[str, Any] = {}
    if on_ddl is not None:
        changes["on_ddl"] = on_ddl
    if max_rows_per_second is not None:
        changes["max_rows_per_second"] = max_rows_per_second or None
    if lag_query is not None:
        changes["lag_query"] = lag_query or None
    if max_source_lag is not None:
        changes["max_source_lag"] = max_source_lag
    if values and any(v is not None for v in values.values()):
        changes["values"] = ValuePolicy.from_json(spec.values).updated(**values).to_json()
    if changes:
        spec = spec.model_copy(update=changes)
        store.update(name, spec=spec.model_dump())
    src_u, dst_u = resolve_urls(spec, source, target, source_password_file, target_password_file)
    stop = stop or threading.Event()
    with store.runner_lock(name):
        store.record(name, "start", f"pid {os.getpid()}")
        last: dict[str, Any] = {}
        while not stop.is_set():
            wf = store.get(name)
            spec = _spec(wf)
            if wf.phase in TERMINAL:
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
                lag_query=spec.lag_query if spec.direction == FORWARD else None,
            )
            skip_ddl = False
        store.record(name, "stopped")
        return last


#: Phases a stream's own progress never overwrites (a cutover owns them).
CUTOVER_PHASES = ("switching", "switched", "completed", "cancelled")


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
    lag_query: str | None,
) -> dict[str, Any]:
    """Run the stream of the move's current direction until ``stop`` is set or a cutover
    (or ``complete``) asks for it; returns its last status."""
    from ferryman.engines.postgres.partitions import MissingPartition

    direction = spec.direction
    back = in_namespace(dst_u, spec.target_engine, spec.target_namespace)
    from_u, to_u = (src_u, dst_u) if direction == FORWARD else (back, src_u)
    roles = ("source", "target") if direction == FORWARD else ("target", "source")
    run_stop = threading.Event()

    def watch() -> None:
        while not run_stop.wait(0.05):
            try:
                if stop.is_set() or store.open_attempt(name) or store.get(name).phase in TERMINAL:
                    run_stop.set()
            except FerrymanError:  # the workflow is gone (cancelled)
                run_stop.set()

    watcher = threading.Thread(target=watch, name="ferryman-watch", daemon=True)
    watcher.start()
    try:
        with _connect(from_u, roles[0]) as src, _connect(to_u, roles[1]) as dst:
            settings = stream_settings(spec, direction, src.namespace, skip_ddl=skip_ddl)
            if batch_rows:
                settings = replace(settings, batch_rows=batch_rows)
            probe = _lag_probe(src_u, lag_query) if lag_query else None

            def publish(phase: str, status: dict[str, Any]) -> None:
                store.update(
                    name,
                    phase=phase,
                    status={**status, "direction": direction},
                    error=None,
                    keep_phases=CUTOVER_PHASES,
                )

            def make_mover() -> Mover:
                return Mover(
                    src,
                    dst,
                    settings,
                    stop=run_stop,
                    observer=observer,
                    publish=publish,
                    lag_probe=probe,
                )

            mover = make_mover()

            def fail(phase: str, text: str) -> None:
                store.update(
                    name,
                    phase=phase,
                    error=text,
                    status=mover.status(False),
                    keep_phases=CUTOVER_PHASES,
                )

            # partitions created on the source since the last run, then during this one: the
            # target gets them as well (PostgreSQL → PostgreSQL)
            watch_partitions = _watch_partitions(src, dst, from_u, to_u, settings, store, name)
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
                    fresh = _spec(store.get(name)).model_copy(update={"columns": settings.columns})
                    store.update(name, spec=fresh.model_dump())
            return mover.status(False)
    finally:
        run_stop.set()
        watcher.join(1.0)


def _watch_partitions(
    src: Endpoint,
    dst: Endpoint,
    from_u: DatabaseURL,
    to_u: DatabaseURL,
    settings: MoveSettings,
    store: StateStore,
    name: str,
) -> PartitionWatch | None:
    """PostgreSQL → PostgreSQL: create the partitions the target lacks now, then watch for new
    ones while the stream runs (a target with a DEFAULT partition would take their rows there
    without a word)."""
    from ferryman.engines.postgres.endpoint import PostgresEndpoint
    from ferryman.engines.postgres.partitions import PartitionWatch

    if not (isinstance(src, PostgresEndpoint) and isinstance(dst, PostgresEndpoint)):
        return None
    try:
        _sync_partitions(src, dst, settings, store, name, "")
    except FerrymanError as exc:
        log.warning("could not create new partitions on the target: %s", exc.message)
    return PartitionWatch(
        from_u,
        to_u,
        settings.tables,
        settings.renames,
        settings.target_namespace or dst.namespace,
        on_created=lambda names: log.warning(
            "created partition(s) %s on the target as on the source", ", ".join(names)
        ),
    ).start()


def _sync_partitions(
    src: Endpoint,
    dst: Endpoint,
    settings: MoveSettings,
    store: StateStore,
    name: str,
    table: str,
) -> list[str]:
    """Create on the PostgreSQL target the source's partitions it lacks; the names created
    (none: the error stands)."""
    from ferryman.engines.postgres.endpoint import PostgresEndpoint
    from ferryman.engines.postgres.partitions import sync_partitions

    if not (isinstance(src, PostgresEndpoint) and isinstance(dst, PostgresEndpoint)):
        return []
    created = sync_partitions(
        src, dst, settings.tables, settings.renames, settings.target_namespace or dst.namespace
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


@contextlib.contextmanager
def _connect(url: DatabaseURL, role: str) -> Iterator[Endpoint]:
    try:
        ep = open_endpoint(url)
    except ConnectError as exc:
        if url.password is None and ("login" in exc.message or "password" in exc.message):
            exc.hint = (
                f"ferryman does not store passwords: give the {role}'s again with "
                f"--{role} URL, FERRYMAN_{role.upper()}_PASSWORD or --{role}-password-file"
            )
        raise
    try:
        yield ep
    finally:
        ep.close()


def _lag_probe(url: DatabaseURL, query: str) -> Callable[[], float | None]:
    holder: dict[str, Any] = {}

    def probe() -> float | None:
        ep = holder.get("ep")
        if ep is None:
            ep = holder["ep"] = open_endpoint(url)
        try:
            value = cast(Any, ep).scalar(query)  # in the URL's database
        except Exception as exc:
            holder.pop("ep", None)
            raise ConfigError(
                f"the lag query failed on {url}: {exc}",
                hint="give a query that returns one number (seconds), e.g. "
                "SELECT MAX(lag) FROM replicas",
            ) from None
        return None if value is None else float(value)

    return probe


# -- status / list --------------------------------------------------------------------------


def status(store: StateStore, name: str) -> dict[str, Any]:
    wf = store.get(name)
    if wf.spec.get("kind") == "sync":  # a `ferryman sync` workflow
        from ferryman.workflow import sync

        return sync.status(store, name)
    spec = _spec(wf)
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
    return {
        "name": wf.name,
        "phase": wf.phase,
        "running": running,
        "source": spec.source,
        "target": spec.target,
        "tables": tables,
        "lag_seconds": st.get("lag_seconds") if running else None,
        "position": st.get("position") or str(Position.from_json(spec.start_position)),
        "events_applied": st.get("events_applied", 0),
        "events_per_second": st.get("events_per_second", 0.0) if running else 0.0,
        "throttled": bool(st.get("throttled")) and running,
        "on_ddl": spec.on_ddl,
        "direction": spec.direction,
        "new_primary": spec.new_primary,
        "fences": {side: f["kind"] for side, f in spec.fences.items()},
        "switches": spec.switches,
        "cutover": _cutover_status(store, name),
        "error": wf.error,
        "updated_at": wf.updated_at,
        "created_at": wf.created_at,
    }


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
    store: StateStore,
    name: str,
    *,
    source: str | None = None,
    target: str | None = None,
    source_password_file: str | None = None,
    target_password_file: str | None = None,
    keep_data: bool = False,
    say: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Undo a move that was never switched: the source's change capture (PostgreSQL slot and
    publication), the target's checkpoint, the target tables the move created (unless
    ``keep_data``; tables that existed before are emptied again) and the workflow itself.

    Idempotent: each step tolerates what an interrupted earlier cancel already removed."""
    wf = store.get(name)
    if wf.spec.get("kind") == "sync":  # a `ferryman sync` workflow
        from ferryman.workflow import sync

        return sync.cancel(store, name, source=source, target=target, keep_data=keep_data, say=say)
    spec = _spec(wf)
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
    src_u, dst_u = resolve_urls(spec, source, target, source_password_file, target_password_file)
    with store.runner_lock(name):  # refuses while `move start` runs; keeps it from starting
        with _connect(src_u, "source") as src, _connect(dst_u, "target") as dst:
            say("removing change capture on the source")
            cast(ChangeSource, src).drop_changes(name)
            if spec.switches:  # switched and reversed: the way back's capture and checkpoint
                cast(ChangeSource, dst).drop_changes(stream_name(spec, REVERSE))
                back = cast(MoveTarget, src).open_applier()
                try:
                    back.drop_checkpoint(stream_key(spec, REVERSE))
                finally:
                    back.close()
            for side, fence in spec.fences.items():
                if fence["kind"] != "hook":
                    from ferryman.workflow.cutover import lift_fence

                    say(f"removing the {fence['kind']} fence on the {side}")
                    lift_fence(spec, fence, src_u if side == "source" else dst_u)
            applier = cast(MoveTarget, dst).open_applier()
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
                cast(CopyTarget, dst).drop_objects(spec.target_namespace, objects)
                for table in existing:
                    say(f"emptying {spec.target_namespace}.{table} (it existed before the move)")
                cast(CopyTarget, dst).truncate(spec.target_namespace, sorted(existing))
        store.record(name, "cancel", "keep-data" if keep_data else "")
        store.delete(name)
    return {
        "name": name,
        "cancelled": True,
        "dropped_tables": [] if keep_data else created,
        "emptied_tables": [] if keep_data else existing,
        "kept_data": keep_data,
    }
