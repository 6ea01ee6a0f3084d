"""The contracts every engine implements.

An engine is registered by URL scheme (:mod:`ferryman.core.registry`) with a factory that opens an
:class:`Endpoint` for a :class:`~ferryman.core.url.DatabaseURL`. Every capability beyond the
endpoint's own (schema) members is reached through a typed accessor on it, which returns the
capability's protocol or None when the engine lacks it:

===================  =========================  ================================================
accessor             protocol                   what for
===================  =========================  ================================================
``copy_source()``    :class:`CopySource`        consistent snapshot, chunk reads in key order
``copy_target()``    :class:`CopyTarget`        chunk loads, truncate, drop, identity counters
``change_source()``  :class:`ChangeSource`      change stream from a position, row filters
``move_target()``    :class:`MoveTarget`        the applier (batch + checkpoint atomically)
``diff_source()``    :class:`DiffSource`        diff readers (hashes computed in the database)
``sql_runner()``     :class:`SqlRunner`         one statement as given (lag query, DDL exec)
===================  =========================  ================================================

:meth:`Endpoint.capabilities` declares how the engine behaves where the pipeline must choose
(:class:`Capabilities`), so pipeline code asks for a behaviour, never for an engine's name.
:func:`need` turns a missing capability into a ConfigError that names the endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from ferryman.core.apply import ApplyBatch, Checkpoint, Converter, Key, TableBatch
from ferryman.core.change import Transaction
from ferryman.core.copy import (
    Chunk,
    KeyRange,
    SnapshotReaders,
    TableCopy,
    ValuePolicy,
    Wire,
    WireFormat,
)
from ferryman.core.diff import Domain
from ferryman.core.errors import ConfigError
from ferryman.core.findings import Finding
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.position import Position
from ferryman.core.schema import Column, Schema, ServerInfo, Table
from ferryman.core.url import DatabaseURL


@dataclass(frozen=True)
class Capabilities:
    """How an engine behaves where the pipeline must choose (declared by the engine).

    Wire formats: a copy loads each table in the first of the target's formats the source can
    render — :attr:`same_type_formats` first when every copied column has the very same native
    type on both sides, then :attr:`load_formats`."""

    export_formats: frozenset[WireFormat] = frozenset()
    """Wire formats its chunk readers render (as a copy source)."""
    load_formats: tuple[WireFormat, ...] = ()
    """Wire formats its chunk writers load (as a copy target), preferred first."""
    same_type_formats: tuple[WireFormat, ...] = ()
    """Faster formats it loads only when both sides have the same native column types."""
    fk_actions_logged: bool = True
    """Its change stream carries the rows its own foreign-key actions (ON DELETE/UPDATE CASCADE,
    SET NULL) change. False (InnoDB): the applier repeats those actions on the target."""
    streams_generated_columns: bool = True
    """Its change stream carries generated columns' values (False: pgoutput omits them, and a
    target's plain copy of such a column keeps what the copy wrote)."""
    namespace_option: str | None = None
    """The URL option that names its namespace (PostgreSQL: ``schema``). When a target URL lacks
    it, a copy uses the source's namespace (as pgloader does). None: the namespace is the URL's
    path (MySQL database, etcd prefix)."""
    refusal_hint: str = "use a MySQL/MariaDB or PostgreSQL URL for this side"
    """The fix printed when a role it cannot play is asked of it (:func:`need`)."""


@runtime_checkable
class Endpoint(Protocol):
    """An open connection to one database (or etcd prefix).

    Opening it (the factory) raises :class:`~ferryman.core.errors.ConnectError` for an unreachable
    host, refused login or unknown database, with the URL redacted. ``close()`` is idempotent.
    The accessors (``copy_source()`` ... ``sql_runner()``) are cheap, open nothing, and return
    the same object each time (usually the endpoint itself) or None when the engine lacks that
    capability.
    """

    url: DatabaseURL

    def capabilities(self) -> Capabilities:
        """How this engine behaves where the pipeline must choose. Cheap; no I/O."""
        ...

    def reconnect(self) -> None:
        """Replace the endpoint's control connection (after a failure may have broken it).
        Raises ConnectError when the server is still unreachable; idempotent otherwise."""
        ...

    def copy_source(self) -> CopySource | None:
        """This endpoint as a copy source (snapshot, chunk reads), None when it cannot be one."""
        ...

    def copy_target(self) -> CopyTarget | None:
        """This endpoint as a copy target (chunk loads), None when it cannot be one."""
        ...

    def change_source(self) -> ChangeSource | None:
        """This endpoint as a change-stream source, None when it has no change stream."""
        ...

    def move_target(self) -> MoveTarget | None:
        """This endpoint as a live move's target (the applier), None when it cannot be one."""
        ...

    def diff_source(self) -> DiffSource | None:
        """This endpoint as one side of a diff (readers hashing inside the database)."""
        ...

    def sql_runner(self) -> SqlRunner | None:
        """This endpoint as a runner of SQL as given (lag query, ``--on-ddl exec``)."""
        ...

    def server_info(self) -> ServerInfo:
        """Engine flavor and version. Cheap; cached after the first call."""
        ...

    @property
    def namespace(self) -> str:
        """The namespace this endpoint works in: MySQL database, PostgreSQL schema, etcd prefix."""
        ...

    def introspect(
        self, tables: Sequence[str] | None = None, namespace: str | None = None
    ) -> Schema:
        """Read the schema of ``tables`` (all base tables when None) in ``namespace`` (default
        :attr:`namespace`).

        Raises :class:`~ferryman.core.errors.NotFound` naming every requested table that does not
        exist. Read-only; idempotent.
        """
        ...

    def check(self, role: str, tables: Sequence[str] | None = None) -> list[Finding]:
        """Preflight for ``role`` (``source`` or ``target``): server settings, privileges and,
        per table, what would stop a move. Read-only; never raises for a finding."""
        ...

    def translate(self, source: Schema, options: TranslateOptions) -> SchemaPlan:
        """Render DDL for this endpoint's engine that holds ``source``'s tables. Pure: reads no
        data. Raises :class:`~ferryman.core.errors.UnsupportedType` naming ``table.column``
        for a type that has no mapping and no override."""
        ...

    def existing_tables(self, namespace: str) -> set[str]:
        """Names of the base tables in ``namespace`` (empty if it does not exist)."""
        ...

    def apply(self, plan: SchemaPlan, phases: Sequence[str]) -> None:
        """Execute the statements of ``phases`` from ``plan``.

        All or nothing: PostgreSQL runs them in one transaction; MySQL (whose DDL commits
        implicitly) drops every object this call created when a statement fails. Raises
        :class:`~ferryman.core.errors.SchemaError` naming the failing statement's table.
        """
        ...

    def close(self) -> None: ...

    # -- workflow capabilities (issue 13, wf): what ferryman.workflow reaches an engine by ---

    def fence(self) -> Fence | None:
        """This endpoint's cutover fences and source-table retirement (``move switch`` /
        ``complete``); None when the engine has none."""
        ...

    def partitions(self) -> PartitionSupport | None:
        """Following a source's new partitions on this target during a live move; None when
        the engine does not partition tables."""
        ...

    def foreign_keys(self) -> ForeignKeyDdl | None:
        """Adding foreign keys to live tables without checking their rows (``move switch``);
        None when the engine cannot."""
        ...


# -- workflow capabilities (issue 13, wf) ---------------------------------------------------
# Reached through Endpoint.fence() / partitions() / foreign_keys(); the workflow package
# imports no engine module.


class Fence(Protocol):
    """Stops application writes to a side during a cutover (``engines/*/fence.py``). Each call
    opens its own connection to the endpoint's URL."""

    def fence(
        self, kind: str, namespace: str, tables: Sequence[str], workflow: str, timeout: float
    ) -> None:
        """Fence: ``kind`` ``read-only`` (the whole server / database) or ``triggers`` (each of
        ``tables`` in ``namespace``, naming ``workflow`` in the error writers get). Waits up to
        ``timeout`` seconds for running transactions; once it returns every write the server
        acknowledged is in its log. Raises PreconditionFailed (timeout) or PermissionDenied.
        Idempotent (fencing twice leaves one fence)."""
        ...

    def unfence(self, kind: str, namespace: str, tables: Sequence[str], workflow: str) -> None:
        """Undo :meth:`fence`. Idempotent: does nothing where there is nothing to undo."""
        ...

    def retire_table(self, namespace: str, table: str, how: str) -> str:
        """``how`` ``rename`` (to ``_<table>_old``, returned) or ``drop`` (returns '') the
        moved source ``table`` (``move complete``). Raises PreconditionFailed naming it."""
        ...


class PartitionWatcher(Protocol):
    """A running watch (:meth:`PartitionSupport.watch_partitions`)."""

    def close(self) -> None:
        """Stop watching (waits briefly for the watch to end). Idempotent."""
        ...


class PartitionSupport(Protocol):
    """A target that keeps a source's partitioning: partitions created on the source during a
    live move are created here as well. A change with no partition here makes the applier raise
    :class:`~ferryman.core.errors.MissingPartition`."""

    def sync_partitions(
        self, source: Endpoint, tables: Sequence[str], renames: dict[str, str], namespace: str
    ) -> list[str]:
        """Create in ``namespace`` the partitions of ``source``'s partitioned ``tables`` (target
        names by ``renames``) this target lacks, in one transaction; the names created ([] when
        ``source`` is another engine). Raises SchemaError naming them when it cannot."""
        ...

    def watch_partitions(
        self,
        source: Endpoint,
        tables: Sequence[str],
        renames: dict[str, str],
        namespace: str,
        on_created: Callable[[list[str]], None],
    ) -> PartitionWatcher | None:
        """Start a thread that runs :meth:`sync_partitions` every few seconds over connections
        of its own (to ``source.url`` and this endpoint's URL), calling ``on_created`` with
        what it created; failures are logged and tried again. None when ``source`` is another
        engine."""
        ...


class ForeignKeyDdl(Protocol):
    """Foreign keys added to live tables at ``move switch`` (see ferryman/workflow/fkeys.py)."""

    @property
    def unchecked_by(self) -> str:
        """How :meth:`add_unchecked` skips the rows (``NOT VALID``, ``foreign_key_checks=0``)."""
        ...

    @property
    def validates(self) -> bool:
        """Whether keys added unchecked are still to be validated (:meth:`validate`)."""
        ...

    def add_unchecked(
        self, keys: Sequence[tuple[str, str]], created: Callable[[], None]
    ) -> dict[str, str]:
        """Run each ``(name, ALTER TABLE .. ADD CONSTRAINT .. FOREIGN KEY ..)`` (as
        :meth:`Endpoint.translate` renders it) without checking rows, each on its own;
        ``created()`` after each key made. {name: the server's reason} of those that failed."""
        ...

    def validate(
        self, namespace: str, keys: Sequence[tuple[str, str]]
    ) -> tuple[list[str], dict[str, str]]:
        """Validate each ``(table, name)`` of ``namespace`` added unchecked and not yet valid
        (without blocking writes): the names validated and {name: reason} of those that
        failed. Idempotent."""
        ...


class ChunkReader(Protocol):
    """Reads one key range of a table inside the copy's consistent snapshot."""

    def read(self, tc: TableCopy, rng: KeyRange) -> Chunk:
        """Rows of ``tc`` with ``rng.low < key <= rng.high``, encoded for ``tc.wire_format``.

        Raises InvalidValue (naming the row key) for a value the target cannot hold. Read-only;
        the same range read twice in one snapshot gives the same bytes."""
        ...


class ChunkWriter(Protocol):
    """Loads chunks into the target; each ``write`` commits on its own (all rows or none)."""

    def write(self, chunk: Chunk) -> None: ...

    def close(self) -> None: ...


class CopySource(Protocol):
    """What a copy needs from its source endpoint."""

    def open_snapshot(self, workers: int, exact: bool = False) -> SnapshotReaders:
        """``workers`` readers sharing one consistent snapshot (see the engine's snapshot
        module for how). Raises PermissionDenied when consistency needs a privilege. With
        ``exact`` the position must be exact (a change stream from it delivers exactly the
        transactions the snapshot lacks), else the call fails."""
        ...

    def key_ranges(self, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange]:
        """Ranges that together cover the whole key space of ``tc`` (computed outside the
        snapshot; about ``chunk_rows`` rows each)."""
        ...


class CopyTarget(Protocol):
    """What a copy needs from its target endpoint."""

    def open_writer(self) -> ChunkWriter:
        """A new connection that loads chunks (each ``write`` commits on its own)."""
        ...

    def wire_for(self, column: Column, wire_format: WireFormat) -> Wire:
        """How values of target ``column`` must travel in ``wire_format``."""
        ...

    def has_rows(self, namespace: str, table: str) -> bool:
        """Whether ``namespace.table`` holds any row. Read-only."""
        ...

    def drop_objects(self, namespace: str, creates: Sequence[str]) -> None:
        """Drop objects named ``table:NAME`` / ``type:NAME`` / ``view:NAME`` / ``matview:NAME``
        (made by a failed run), last first. Idempotent."""
        ...

    def truncate(self, namespace: str, tables: Sequence[str]) -> None:
        """Empty ``tables`` of ``namespace`` together (foreign keys among them do not stop it)."""
        ...

    def sync_identity(self, table: Table) -> None:
        """Move identity/auto-increment counters of target ``table`` past its largest value.
        Idempotent; never moves a counter back."""
        ...

    def follow_sequences(self, source: Endpoint, tables: Sequence[str], namespace: str) -> None:
        """Move each sequence ``source``'s ``tables`` draw from to at least the source's state,
        here in ``namespace``; never back. Nothing when ``source`` has no sequences this
        engine can read (another engine) or a sequence is missing here. Idempotent."""
        ...


class ChangeFeed(Protocol):
    """An open change stream: transactions in commit order from a start position."""

    def transactions(self) -> Iterator[Transaction]:
        """Transactions after the start position, in commit order. Blocks for new ones (unless
        ``stop_at`` was given); reconnects by itself; raises a FerrymanError (``PositionLost``
        when the log needed is gone)."""
        ...

    def confirm(self, position: Position) -> None:
        """Everything up to ``position`` is committed on the target (the source may free it)."""
        ...

    def stop(self) -> None:
        """End :meth:`transactions` soon (callable from another thread)."""
        ...

    def close(self) -> None: ...


class ChangeSource(Protocol):
    """What a live move needs from its source endpoint, besides :class:`CopySource`."""

    def prepare_changes(
        self, workflow: str, tables: Sequence[str], *, keys_only: bool = False
    ) -> Position:
        """Make the source keep its changes for ``workflow`` (PostgreSQL: publication and
        permanent slot) and return the position from which they are kept. ``keys_only`` (the
        drift guard, which reads the rows itself): the changes need carry only the columns of
        the table's primary key (an engine may capture less: PostgreSQL publishes a column
        list; every change is still delivered). Raises PreconditionFailed when it cannot."""
        ...

    def drop_changes(self, workflow: str) -> None:
        """Undo :meth:`prepare_changes`. Idempotent."""
        ...

    def open_changes(
        self,
        workflow: str,
        start: Position,
        tables: Sequence[str],
        *,
        stop_at: Position | None = None,
        on_relation: Callable[[str, str, tuple[str, ...]], None] | None = None,
        piece_changes: int | None = None,
        own_marks: bool = False,
    ) -> ChangeFeed:
        """A feed of the changes to ``tables`` after ``start``. With ``stop_at`` it ends once
        every transaction at or before ``stop_at`` was delivered (transactions after it are not
        yielded). ``on_relation(namespace, table, columns)`` is called when the stream announces
        a table's columns (PostgreSQL); raise from it to stop. ``piece_changes``: hand a
        transaction of more changes over in pieces of about that many (``Transaction.more``),
        each yielded before the next is read: memory stays bounded whatever its size.
        ``own_marks`` (the drift guard reading a move's target): set ``Transaction.own`` on
        the transactions ferryman wrote and ``Transaction.who`` on the others. Every
        transaction ferryman writes to a target (applier batches and parts, copy chunk loads,
        ``delete_above``, diff repairs) begins with the engine's own mark (MySQL/MariaDB: a row
        of ``_ferryman.marks``; PostgreSQL: a transactional logical message ``ferryman.own``),
        so the feed skips the rest of such a transaction undecoded."""
        ...

    def current_position(self) -> Position: ...

    def row_filter(self, table: Table, predicate: str) -> RowFilter:
        """Evaluates the source-SQL ``predicate`` on rows from the change stream."""
        ...


class RowFilter(Protocol):
    def matches(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[bool]:
        """For each row (values as the change stream gives them, in ``columns`` order): does
        the source's WHERE ``predicate`` hold? Evaluated by the source engine itself."""
        ...

    def close(self) -> None: ...


class MoveTarget(Protocol):
    """What a live move needs from its target endpoint, besides :class:`CopyTarget`."""

    def open_applier(self) -> Applier:
        """A new connection that applies change batches (see :class:`Applier`)."""
        ...

    def apply_converters(
        self,
        source: Table,
        target: Table,
        columns: Sequence[str],
        *,
        engine: str | None = None,
        values: ValuePolicy | None = None,
    ) -> tuple[Converter | None, ...]:
        """Per target column in ``columns``: how a change-stream value of ``source`` becomes a
        value the target's driver writes (None: as is). ``engine``: the source's engine;
        ``values``: what to do with values the target cannot hold (default: refuse them with a
        :class:`~ferryman.core.convert.ValueRefused`)."""
        ...


class Applier(Protocol):
    """Writes change batches to a target, each atomically with its checkpoint. Re-applying a
    batch is idempotent (upserts and key deletes)."""

    def read_checkpoint(self, workflow: str) -> Checkpoint | None:
        """The checkpoint last committed for ``workflow`` (None: never, or dropped)."""
        ...

    def apply(self, batch: ApplyBatch, before_commit: Callable[[], None] | None = None) -> None:
        """All of ``batch`` with its checkpoint in one transaction (``before_commit`` runs
        inside it, just before COMMIT). After :meth:`apply_part` it goes on in the transaction
        that holds the parts and commits them with it."""
        ...

    def apply_part(self, tables: Sequence[TableBatch]) -> None:
        """Write ``tables`` (a piece of a big source transaction) into the open target
        transaction, beginning it if needed, without a checkpoint and without committing: the
        next :meth:`apply` commits it, :meth:`abort` (or a failure, or a crash) undoes it all."""
        ...

    def abort(self) -> None:
        """Roll back a transaction :meth:`apply_part` left open (nothing when none is)."""
        ...

    def delete_above(self, namespace: str, table: str, key: Sequence[str], cursor: Key) -> int:
        """Delete rows whose key sorts after ``cursor`` (all rows when ``cursor`` is ``()``)."""
        ...

    def drop_checkpoint(self, workflow: str) -> None:
        """Forget ``workflow``'s checkpoint. Idempotent."""
        ...

    def close(self) -> None: ...


class DiffReader(Protocol):
    """One connection that renders canonical row text and hashes inside the database
    (``ferryman diff``; see :mod:`ferryman.core.diff`). SQL fragments it returns are ready for
    :meth:`query` (every literal ``%`` doubled; ``%s`` are placeholders)."""

    engine: str

    def ident(self, name: str) -> str: ...

    def table(self, namespace: str, name: str) -> str: ...

    def canonical(self, col: Column, domain: Domain, fold: bool = False) -> str:
        """Canonical text of ``col`` in ``domain`` (NULL for NULL); ``fold``: lower-cased."""
        ...

    def framed(self, expr: str, domain: Domain) -> str:
        """A column's never-NULL, unambiguous part of the row text."""
        ...

    def raw(self, col: Column) -> str:
        """``col``'s own text (NULL for NULL), used when both sides have the very same column
        type on the same engine: cheaper than :meth:`canonical`, and equal text still means
        an equal value."""
        ...

    @property
    def fast_hash(self) -> str | None:
        """The name of the engine-specific 64-bit hash :meth:`row_hash` computes with ``fast``
        (None: it has none). A diff uses it only when both sides name the same one."""
        ...

    def framed_fast(self, col: Column, expr: str) -> str:
        """A raw column's part of a ``fast`` row text (only when :attr:`fast_hash` is set)."""
        ...

    def row_hash(self, framed: Sequence[str], fast: bool = False) -> str:
        """A non-negative integer hash of the framed parts joined by ``|``: 60 bits of MD5
        (the same number on every engine), or with ``fast`` an engine-specific 64-bit hash
        (both sides must be the same engine)."""
        ...

    def bucket_digests(self, bucket: str, framed: Sequence[str], key: str, source: str) -> str:
        """A query of ``(bucket, rows, digest)`` per ``bucket`` of the rows of ``source`` (a
        FROM clause and its WHERE): the digest is the MD5 (lower-case hex, the same on every
        engine) of the bucket's row texts, each the framed parts joined as :meth:`row_hash`
        joins them, joined by newlines in the order of the integer column ``key``."""
        ...

    def hash_bucket(self, key_exprs: Sequence[str], buckets: int) -> str: ...

    def range_bucket(self, key: Column, low: int, high: int, width: int) -> str:
        """The bucket of the integral first key column ``key``: ``(key - low) div width``
        for every ``low`` ≤ key ≤ ``high`` (exact on any key; in integers where they fit)."""
        ...

    def count_sum(self, hash_expr: str) -> str: ...

    def predicate(self, where: str) -> str: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...

    def literal(self, value: Any) -> str:
        """``value`` (a native key value this driver returned) as an SQL literal."""
        ...

    def run(self, statements: Sequence[str]) -> None:
        """Execute ``statements`` in one transaction (all or nothing)."""
        ...

    def staging(self, namespace: str, table: str, staging: str) -> str:
        """DDL of an empty table ``staging`` with ``table``'s columns (no foreign keys)."""
        ...

    def upsert(
        self, namespace: str, table: str, source: str, columns: Sequence[str], key: Sequence[str]
    ) -> str:
        """``INSERT`` the rows of ``source`` into ``table``, replacing rows with the same key."""
        ...

    def row_literals(self, namespace: str, table: str, columns: Sequence[Column]) -> list[str]:
        """Each row of ``table`` as ``(lit, lit, ...)`` in this engine's SQL."""
        ...


class DiffSource(Protocol):
    """What ``ferryman diff`` / ``move verify`` need from each side."""

    def open_diff_reader(self) -> DiffReader:
        """A new connection that renders canonical row text and hashes (closed by the caller)."""
        ...


class SqlRunner(Protocol):
    """Runs SQL text as the user gave it, on the endpoint's control connection."""

    def scalar(self, sql: str) -> object:
        """The first value ``sql`` returns (None: no rows), in the URL's database/namespace
        (``--lag-query``). Reads only what ``sql`` reads."""
        ...

    def execute_in(self, namespace: str, sql: str) -> None:
        """Run one statement as given (a source's DDL under ``--on-ddl exec``) with unqualified
        names resolving in ``namespace``. Not idempotent; commits on its own."""
        ...


T = TypeVar("T")


def need(capability: T | None, endpoint: Endpoint, role: str) -> T:
    """``capability`` (an accessor's result), or a ConfigError naming ``endpoint`` and ``role``
    (for example ``"a copy source"``) when the engine lacks it."""
    if capability is None:
        raise ConfigError(
            f"{endpoint.url} ({endpoint.server_info().flavor}) cannot be {role}",
            hint=endpoint.capabilities().refusal_hint,
        )
    return capability
