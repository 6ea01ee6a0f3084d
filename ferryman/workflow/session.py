"""The public workflow API's base: a move's stored spec and the helpers every workflow step
uses (connect to a side, preflight, passwords supplied again, stream names and settings).

The modules of ``ferryman.workflow`` form a DAG: this one (and ``state``) at the bottom;
``move`` (create, start, status, cancel), ``verify`` and ``cutover`` (switch, reverse,
complete) use it; ``api`` (the :class:`~ferryman.workflow.api.Move` object front ends call)
uses them all.

Passwords are never stored. ``create`` keeps the URLs without their passwords; every later step
gets them again (:class:`MoveRef`) from, in order: the ``--source``/``--target`` URL given again,
the environment (``FERRYMAN_SOURCE_PASSWORD`` / ``FERRYMAN_TARGET_PASSWORD``), a password file
(``--source-password-file`` / ``--target-password-file``), or none (trust, peer, .pgpass).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError

from ferryman.core.copy import ValuePolicy
from ferryman.core.errors import ConfigError, ConnectError, PreconditionFailed
from ferryman.core.findings import Level
from ferryman.core.protocols import (
    ChangeSource,
    CopyTarget,
    Endpoint,
    Fence,
    MoveTarget,
    need,
)
from ferryman.core.registry import open_endpoint
from ferryman.core.url import DatabaseURL, parse_url
from ferryman.pipeline.mover import MoveSettings
from ferryman.workflow.state import StateStore, Workflow

TERMINAL = ("completed", "cancelled")


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
    # -- the drift guard (``move start --on-drift``) --
    on_drift: str = "halt"  # halt | repair | log: a write to the target ferryman did not make
    guard_starts: dict[str, dict[str, Any]] = Field(default_factory=dict)  # direction -> position


FORWARD, REVERSE = "forward", "reverse"
# created_tables entries that are other objects than tables (kept with their prefix)
OBJECT_PREFIXES = ("type:", "sequence:", "domain:", "view:", "matview:", "function:")


def stream_name(spec: MoveSpec, direction: str) -> str:
    """The change capture of a direction (PostgreSQL: slot and publication ferryman_<this>)."""
    return spec.name if direction == FORWARD else f"{spec.name}_rev"


def guard_name(spec: MoveSpec, direction: str) -> str:
    """The change capture the drift guard of a direction reads on that direction's target
    (PostgreSQL: slot and publication ferryman_<this>; nothing on MySQL/MariaDB)."""
    return f"{spec.name}_guard" if direction == FORWARD else f"{spec.name}_rguard"


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
    reverse replicates target → source from the cutover's position, copying nothing. No
    limits: the runner follows the move's runtime controls (``Mover.control``), and a
    switch's final catch-up runs unthrottled (the source is fenced: it is all downtime)."""
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
            values=ValuePolicy.from_json(spec.values),
            on_drift=spec.on_drift,
            guard_stream=guard_name(spec, FORWARD),
            guard_start=spec.guard_starts.get(FORWARD),
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
        copy=False,
        values=ValuePolicy.from_json(spec.values),
        on_drift=spec.on_drift,
        guard_stream=guard_name(spec, REVERSE),
        guard_start=spec.guard_starts.get(REVERSE),
    )


def checkpoint_key(spec: MoveSpec) -> str:
    return f"{spec.name}/{spec.id}"


def stored_url(url: DatabaseURL) -> str:
    """``url`` as the state store keeps it: everything but the password."""
    return url.redacted().replace(":***@", "@")


def load_spec(wf: Workflow) -> MoveSpec:
    """The move's spec as ``move create`` stored it (ConfigError when it is not readable)."""
    try:
        return MoveSpec.model_validate(wf.spec)
    except ValidationError as exc:
        raise ConfigError(
            f"the stored workflow {wf.name!r} is not readable: {exc.errors()[0]['msg']}",
            hint="it was written by another ferryman version; create the move again",
        ) from None


def preflight(ep: Endpoint, role: str, tables: list[str] | None) -> None:
    """Raise PreconditionFailed naming every failed check of ``ep`` for ``role``."""
    problems = [f for f in ep.check(role, tables) if f.level is Level.FAIL]
    if problems:
        lines = "; ".join(f"{f.object}: {f.message}" for f in problems)
        fixes = "; ".join(f.fix for f in problems if f.fix)
        raise PreconditionFailed(
            f"the {role} {ep.url} is not ready for a live move: {lines}",
            hint=fixes or f"run `ferryman check {ep.url} --role {role}` for details",
        )


@contextlib.contextmanager
def connect(url: DatabaseURL, role: str) -> Iterator[Endpoint]:
    """An open endpoint of ``url`` (closed on the way out); a refused login names where the
    password of ``role`` can be given again."""
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


@dataclass(frozen=True)
class MoveRef:
    """A move by name in a state store, and how to reach its two sides again: every workflow
    operation after ``create`` takes one (the password rules are in the module docstring)."""

    store: StateStore
    name: str
    source: str | None = None  # the source URL given again (with its password)
    target: str | None = None  # the target URL given again (with its password)
    source_password_file: str | None = None
    target_password_file: str | None = None

    def workflow(self) -> Workflow:
        """The stored record (NotFound naming the move when there is none)."""
        return self.store.get(self.name)

    def spec(self) -> MoveSpec:
        return load_spec(self.workflow())

    def urls(self, spec: MoveSpec | None = None) -> tuple[DatabaseURL, DatabaseURL]:
        """The source and target URLs with their passwords supplied again."""
        return resolve_urls(
            spec or self.spec(),
            self.source,
            self.target,
            self.source_password_file,
            self.target_password_file,
        )


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


# -- engine capabilities ----------------------------------------------------------------
# What a live move needs of each side, through the endpoint's typed accessors (a ConfigError
# naming the endpoint when its engine lacks one).


def change_source(ep: Endpoint) -> ChangeSource:
    """``ep`` as a live move's change source."""
    return need(ep.change_source(), ep, "a live move's change source")


def move_target(ep: Endpoint) -> MoveTarget:
    """``ep`` as a live move's target (its applier and checkpoints)."""
    return need(ep.move_target(), ep, "a live move's target")


def copy_target(ep: Endpoint) -> CopyTarget:
    """``ep`` as a copy's target (drop, truncate)."""
    return need(ep.copy_target(), ep, "a copy target")


def scalar_number(ep: Endpoint, query: str) -> float | None:
    """The first value of ``query`` run as given on ``ep``, as a number (``--lag-query``);
    None when it returns no row or NULL."""
    value = need(ep.sql_runner(), ep, "a server that runs a lag query").scalar(query)
    if value is None:
        return None
    if not isinstance(value, (int, float, Decimal, str, bytes)):
        raise ConfigError(
            f"the query returned a {type(value).__name__}, not a number: {query}",
            hint="give a query that returns one number (seconds)",
        )
    return float(value)


# -- fences ---------------------------------------------------------------------------------


def fence_of(ep: Endpoint) -> Fence:
    """``ep``'s cutover fences; ConfigError naming it when its engine has none."""
    fence = ep.fence()
    if fence is None:
        raise ConfigError(
            f"{ep.url} ({ep.server_info().flavor}) has no read-only or triggers fence",
            hint="fence it with your own lock command: --fence hook:CMD",
        )
    return fence


def lift_fence(ep: Endpoint, workflow: str, fence: dict[str, Any]) -> None:
    """Remove from ``ep``'s side a ``read-only`` or ``triggers`` fence recorded in
    ``spec.fences`` (idempotent)."""
    fence_of(ep).unfence(fence["kind"], fence["namespace"], fence["tables"], workflow)
