"""The PostgreSQL endpoint: one connection, introspection, checks, DDL translation and apply."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from ferryman.core.errors import SchemaError
from ferryman.core.findings import Finding, Level
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.protocols import Endpoint
from ferryman.core.schema import Schema, ServerInfo
from ferryman.core.tablecheck import table_findings
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres import ddl
from ferryman.engines.postgres.check import server_findings
from ferryman.engines.postgres.connection import Session, connect
from ferryman.engines.postgres.introspect import introspect

DEFAULT_SCHEMA = "public"


class PostgresEndpoint:
    """A PostgreSQL database; the namespace is the URL option ``schema`` (default ``public``)."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.session = Session(url, connect(url))

    @property
    def namespace(self) -> str:
        return self.url.options.get("schema") or DEFAULT_SCHEMA

    def server_info(self) -> ServerInfo:
        return self.session.server_info()

    def introspect(self, tables: Sequence[str] | None = None) -> Schema:
        return introspect(self.session, self.namespace, tables)

    def schema_exists(self, namespace: str) -> bool:
        return bool(
            self.session.query("SELECT 1 FROM pg_namespace WHERE nspname = %s", [namespace])
        )

    def check(self, role: str, tables: Sequence[str] | None = None) -> list[Finding]:
        findings = server_findings(self.session, role)
        if role == "target" and not self.schema_exists(self.namespace):
            findings.append(
                Finding(
                    Level.INFO,
                    "schema",
                    self.namespace,
                    f"schema {self.namespace} does not exist yet",
                    "ferryman schema --apply creates it",
                )
            )
            return findings
        return findings + table_findings(self.introspect(tables), role)

    def translate(self, source: Schema, options: TranslateOptions) -> SchemaPlan:
        return ddl.translate(source, options, self.server_info())

    def existing_tables(self, namespace: str) -> set[str]:
        rows = self.session.query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            [namespace],
        )
        return {str(r[0]) for r in rows}

    def apply(self, plan: SchemaPlan, phases: Sequence[str]) -> None:
        """Run the statements of ``phases`` in one transaction: all or nothing."""
        conn = self.session.conn
        current = None
        try:
            with conn.transaction():
                for statement in plan.statements:
                    if statement.phase.value not in phases:
                        continue
                    current = statement
                    conn.execute(statement.sql.encode())
        except psycopg.Error as exc:
            where = f"table {current.table}" if current and current.table else "the target"
            first = current.sql.splitlines()[0] if current else ""
            diag = exc.diag.message_primary or str(exc)
            raise SchemaError(
                f"PostgreSQL rejected the DDL for {where} on {self.url.host}:{self.url.port}: "
                f"{diag}\n  statement: {first} ...",
                hint="fix the cause (or map the column with --type-override) and rerun; "
                "nothing was created (the DDL ran in one transaction)",
                obj=current.table if current else None,
            ) from None

    def close(self) -> None:
        self.session.close()


def _conforms(endpoint: PostgresEndpoint) -> Endpoint:  # mypy proves the protocol is met
    return endpoint
