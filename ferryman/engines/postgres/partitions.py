"""Partitions created on a PostgreSQL source during a live move.

With ``publish_via_partition_root`` the rows of a partition created (or attached) on the source
after the move began arrive under the partitioned table's name. A PostgreSQL target that keeps
the partitioning has no partition for them: the insert fails with ``no partition of relation
.. found for row``. The applier turns that into :class:`MissingPartition` (naming the table and
the row's partition key); the move then creates on the target every partition the source has
and the target lacks (same bounds, sub-partitioning and own indexes, as at ``move create``) and
resumes from its checkpoint, which re-applies the batch. Nothing else is created or altered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import psycopg

from ferryman.core.errors import FerrymanError, MissingPartition, SchemaError
from ferryman.core.plan import Statement, TranslateOptions
from ferryman.core.protocols import Endpoint
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres import ddl
from ferryman.engines.postgres.connection import quote_ident
from ferryman.engines.postgres.own import MARK

if TYPE_CHECKING:
    from ferryman.engines.postgres.endpoint import PostgresEndpoint

__all__ = [
    "MissingPartition",
    "PartitionWatch",
    "PostgresPartitions",
    "missing_partition",
    "sync_partitions",
]

log = logging.getLogger(__name__)


def missing_partition(exc: psycopg.Error, table: str, workflow: str) -> MissingPartition | None:
    """The error for a change with no partition on the target, else None."""
    primary = exc.diag.message_primary or ""
    if not isinstance(exc, psycopg.errors.CheckViolation) or "no partition of relation" not in (
        primary
    ):
        return None
    detail = exc.diag.message_detail or ""
    return MissingPartition(
        f"applying changes to {table} failed: {primary}"
        + (f" ({detail.rstrip('.')})" if detail else "")
        + ": a partition was created or attached on the source during the move",
        hint="ferryman creates the partitions the source has and the target lacks, then "
        f"resumes; if it cannot, create the partition on the target (CREATE TABLE .. PARTITION "
        f"OF {table} FOR VALUES .., as on the source) and run `ferryman move start {workflow}`",
        table=table,
    )


def sync_partitions(
    source: PostgresEndpoint,
    target: PostgresEndpoint,
    tables: Sequence[str],
    renames: dict[str, str],
    namespace: str,
) -> list[str]:
    """Create on ``target`` (schema ``namespace``) the partitions of the source's partitioned
    ``tables`` that it lacks, in one transaction; the names created.

    A target parent with a DEFAULT partition may already hold rows of a new partition there
    (the stream put them in the default): the default partition is detached, the partitions
    created, the rows that belong to them moved out of the default, and the default attached
    again, all in the same transaction, so the target mirrors the source's partitions."""
    schema = source.introspect(list(tables))
    options = TranslateOptions(target_namespace=namespace, renames=dict(renames))
    # only where the target kept the partitioning (a table created by hand may be plain)
    kept = {
        str(r[0])
        for r in target.session.query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'p'",
            [namespace],
        )
    }
    partitioned = [t for t in schema if t.partitioned and options.target_name(t.name) in kept]
    if not partitioned:
        return []
    schema = dataclasses.replace(schema, tables=tuple(partitioned))
    existing = target.existing_tables(namespace)
    plan = ddl.missing_partitions(schema, options, target.server_info(), existing)
    if not plan.statements:
        return []
    created: list[str] = []
    children: dict[str, list[str]] = {}  # existing target parent -> its new direct partitions
    for table in partitioned:
        for part in table.partitions:
            if part.name in existing:
                continue
            created.append(part.name)
            parent = options.target_name(table.name) if part.parent == table.name else part.parent
            if parent in existing:
                children.setdefault(parent, []).append(part.name)

    def qual(name: str) -> str:
        return f"{quote_ident(namespace)}.{quote_ident(name)}"

    try:
        _create(target, plan.statements, children, qual)
    except psycopg.Error as exc:
        raise SchemaError(
            f"creating partition(s) {', '.join(created)} on the target failed: "
            f"{exc.diag.message_primary or str(exc).strip()}",
            hint="create them on the target as on the source (CREATE TABLE .. PARTITION OF .. "
            "FOR VALUES ..), then run `ferryman move start` again",
            obj=", ".join(created),
        ) from None
    return created


def _create(
    target: PostgresEndpoint,
    statements: Sequence[Statement],
    children: dict[str, list[str]],
    qual: Callable[[str], str],
) -> None:
    conn = target.session.conn
    with conn.transaction():
        # ferryman's own write: rows moved out of a default partition are not drift
        conn.execute(MARK)
        defaults: dict[str, str] = {}
        for parent in children:
            row = conn.execute(_DEFAULT_PARTITION, [qual(parent)]).fetchone()
            if row is not None:
                defaults[parent] = str(row[0])
                conn.execute(
                    f"ALTER TABLE {qual(parent)} DETACH PARTITION {qual(defaults[parent])}".encode()
                )
        for statement in statements:
            conn.execute(statement.sql.encode())
        for parent, default in defaults.items():
            cols = ", ".join(
                quote_ident(str(r[0])) for r in conn.execute(_COLUMNS, [qual(parent)]).fetchall()
            )
            for child in children[parent]:
                row = conn.execute(
                    "SELECT pg_get_partition_constraintdef(%s::regclass)", [qual(child)]
                ).fetchone()
                if row is None or row[0] is None:
                    continue
                conn.execute(
                    f"WITH moved AS (DELETE FROM {qual(default)} WHERE {row[0]} "
                    f"RETURNING {cols}) INSERT INTO {qual(parent)} ({cols}) "
                    f"SELECT {cols} FROM moved".encode()
                )
            conn.execute(
                f"ALTER TABLE {qual(parent)} ATTACH PARTITION {qual(default)} DEFAULT".encode()
            )


_DEFAULT_PARTITION = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = %s::regclass AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"
)
_COLUMNS = (
    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
)


class PartitionWatch:
    """A thread that creates on a PostgreSQL target, every ``interval`` seconds, the partitions
    created on the source during a live move (:func:`sync_partitions`), over connections of
    its own. A failure is logged and tried again; the stream goes on."""

    def __init__(
        self,
        source: DatabaseURL,
        target: DatabaseURL,
        tables: Sequence[str],
        renames: dict[str, str],
        namespace: str,
        on_created: Callable[[list[str]], None],
        connect: Callable[[DatabaseURL], PostgresEndpoint],
        interval: float = 2.0,
    ) -> None:
        self.args = (source, target, list(tables), dict(renames), namespace)
        self.connect = connect  # the endpoint class: this module does not import endpoint.py
        self.on_created = on_created
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ferryman-partitions", daemon=True)

    def start(self) -> PartitionWatch:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5.0)

    def _run(self) -> None:
        source_url, target_url, tables, renames, namespace = self.args
        src: PostgresEndpoint | None = None
        dst: PostgresEndpoint | None = None
        partitioned: list[str] | None = None
        while not self.stop.wait(self.interval):
            try:
                src = src or self.connect(source_url)
                dst = dst or self.connect(target_url)
                if partitioned is None:
                    partitioned = [t.name for t in src.introspect(tables) if t.partitioned]
                if not partitioned:
                    break  # nothing partitioned: nothing to watch
                created = sync_partitions(src, dst, partitioned, renames, namespace)
                if created:
                    self.on_created(created)
            except (FerrymanError, psycopg.Error) as exc:
                log.warning("could not create new partitions on the target: %s", exc)
                for ep in (src, dst):
                    if ep is not None:
                        with contextlib.suppress(Exception):
                            ep.close()
                src = dst = None
        for ep in (src, dst):
            if ep is not None:
                with contextlib.suppress(Exception):
                    ep.close()


class PostgresPartitions:
    """:meth:`Endpoint.partitions() <ferryman.core.protocols.Endpoint.partitions>` of a
    PostgreSQL target: follows a PostgreSQL source's partitions (another engine's: nothing)."""

    def __init__(self, target: PostgresEndpoint) -> None:
        self.target = target

    def sync_partitions(
        self, source: Endpoint, tables: Sequence[str], renames: dict[str, str], namespace: str
    ) -> list[str]:
        if not isinstance(source, type(self.target)):
            return []
        return sync_partitions(source, self.target, tables, renames, namespace)

    def watch_partitions(
        self,
        source: Endpoint,
        tables: Sequence[str],
        renames: dict[str, str],
        namespace: str,
        on_created: Callable[[list[str]], None],
    ) -> PartitionWatch | None:
        if not isinstance(source, type(self.target)):
            return None
        return PartitionWatch(
            source.url,
            self.target.url,
            tables,
            renames,
            namespace,
            on_created=on_created,
            connect=type(self.target),
        ).start()
