"""The contracts every engine implements.

An engine is registered by URL scheme (:mod:`ferryman.core.registry`) with a factory that opens an
:class:`Endpoint` for a :class:`~ferryman.core.url.DatabaseURL`. Later stages add the ``Source``
and ``Sink`` protocols (chunk reads, change streams, atomic apply with checkpoint) on top of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ferryman.core.findings import Finding
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.schema import Schema, ServerInfo
from ferryman.core.url import DatabaseURL


@runtime_checkable
class Endpoint(Protocol):
    """An open connection to one database (or etcd prefix).

    Opening it (the factory) raises :class:`~ferryman.core.errors.ConnectError` for an unreachable
    host, refused login or unknown database, with the URL redacted. ``close()`` is idempotent.
    """

    url: DatabaseURL

    def server_info(self) -> ServerInfo:
        """Engine flavor and version. Cheap; cached after the first call."""
        ...

    @property
    def namespace(self) -> str:
        """The namespace this endpoint works in: MySQL database, PostgreSQL schema, etcd prefix."""
        ...

    def introspect(self, tables: Sequence[str] | None = None) -> Schema:
        """Read the schema of ``tables`` (all base tables when None) in :attr:`namespace`.

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
