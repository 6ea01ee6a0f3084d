"""The MySQL/MariaDB endpoint: one connection, introspection, checks, DDL translation and apply."""

from __future__ import annotations

from collections.abc import Sequence

import MySQLdb

from ferryman.core.errors import ConfigError, SchemaError
from ferryman.core.findings import Finding, Level
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.protocols import Endpoint
from ferryman.core.schema import Schema, ServerInfo
from ferryman.core.tablecheck import table_findings
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql import ddl
from ferryman.engines.mysql.check import server_findings
from ferryman.engines.mysql.connection import Session, connect, quote_ident
from ferryman.engines.mysql.introspect import (
    database_exists,
    introspect,
    require_database,
    table_names,
)


class MySQLEndpoint:
    """A MySQL or MariaDB server; the URL's database is the namespace."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        # connect without selecting the database: an unknown database is reported by the
        # operation that needs it (a target's may be created by `schema --apply`)
        self.session = Session(url, connect(url, database=False))

    @property
    def namespace(self) -> str:
        if not self.url.database:
            raise ConfigError(
                f"the URL {self.url} names no database",
                hint="add the database to the URL path: mysql://user@host:3306/DATABASE",
            )
        return self.url.database

    def server_info(self) -> ServerInfo:
        return self.session.server_info()

    def introspect(self, tables: Sequence[str] | None = None) -> Schema:
        return introspect(self.session, self.namespace, tables)

    def check(self, role: str, tables: Sequence[str] | None = None) -> list[Finding]:
        findings = server_findings(self.session, role)
        if role == "target" and not database_exists(self.session, self.namespace):
            findings.append(
                Finding(
                    Level.INFO,
                    "database",
                    self.namespace,
                    f"database {self.namespace} does not exist yet",
                    "ferryman schema --apply creates it",
                )
            )
            return findings
        require_database(self.session, self.namespace)
        return findings + table_findings(self.introspect(tables), role)

    def collations(self) -> frozenset[str]:
        rows = self.session.query("SELECT COLLATION_NAME FROM information_schema.COLLATIONS")
        return frozenset(str(r[0]) for r in rows)

    def translate(self, source: Schema, options: TranslateOptions) -> SchemaPlan:
        return ddl.translate(source, options, self.server_info(), self.collations())

    def existing_tables(self, namespace: str) -> set[str]:
        return set(table_names(self.session, namespace))

    def apply(self, plan: SchemaPlan, phases: Sequence[str]) -> None:
        """Run the statements of ``phases``. MySQL DDL commits implicitly, so on failure every
        table this call created is dropped again (and the database, if this call created it)."""
        created_db = not database_exists(self.session, plan.target_namespace)
        created: list[str] = []
        for statement in plan.statements:
            if statement.phase.value not in phases:
                continue
            try:
                self.session.execute(statement.sql)
            except MySQLdb.Error as exc:
                self._undo(plan.target_namespace, created, created_db)
                where = f"table {statement.table}" if statement.table else "the target"
                raise SchemaError(
                    f"MySQL rejected the DDL for {where} on {self.url.host}:{self.url.port}: "
                    f"{exc.args[-1] if exc.args else exc}\n  statement: "
                    f"{statement.sql.splitlines()[0]} ...",
                    hint="fix the cause (or map the column with --type-override) and rerun; "
                    "tables created by this run were dropped again",
                    obj=statement.table,
                ) from None
            if statement.creates and statement.creates.startswith("table:"):
                created.append(statement.creates.removeprefix("table:"))

    def _undo(self, namespace: str, created: list[str], created_db: bool) -> None:
        for name in reversed(created):
            self.session.execute(
                f"DROP TABLE IF EXISTS {quote_ident(namespace)}.{quote_ident(name)}"
            )
        if (
            created_db
            and database_exists(self.session, namespace)
            and not table_names(self.session, namespace)
        ):
            self.session.execute(f"DROP DATABASE {quote_ident(namespace)}")

    def close(self) -> None:
        self.session.close()


def _conforms(endpoint: MySQLEndpoint) -> Endpoint:  # mypy proves the protocol is met
    return endpoint
