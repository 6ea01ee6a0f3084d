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

from collections.abc import Sequence
from typing import TYPE_CHECKING

import psycopg

from ferryman.core.errors import SchemaError
from ferryman.core.plan import Phase, TranslateOptions
from ferryman.engines.postgres import ddl

if TYPE_CHECKING:
    from ferryman.engines.postgres.endpoint import PostgresEndpoint


class MissingPartition(SchemaError):
    """A change has no partition on the target (a partition created on the source during the
    move); ``table`` is ``namespace.table`` of the target."""

    def __init__(self, message: str, *, hint: str, table: str) -> None:
        super().__init__(message, hint=hint, obj=table)
        self.table = table


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
    ``tables`` that it lacks, in one transaction; the names created."""
    schema = source.introspect(list(tables))
    if not any(t.partitioned for t in schema):
        return []
    options = TranslateOptions(target_namespace=namespace, renames=dict(renames))
    existing = target.existing_tables(namespace)
    plan = ddl.missing_partitions(schema, options, target.server_info(), existing)
    if not plan.statements:
        return []
    target.apply(plan, [Phase.PRE_DATA.value])
    return [
        p.name for t in schema for p in t.partitions if t.partitioned and p.name not in existing
    ]
