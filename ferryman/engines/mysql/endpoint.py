"""The MySQL/MariaDB endpoint: one connection, introspection, checks, DDL translation and apply."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import MySQLdb

from ferryman.core.copy import (
    KeyRange,
    SnapshotReaders,
    TableCopy,
    Wire,
    WireFormat,
)
from ferryman.core.errors import ConfigError, SchemaError
from ferryman.core.findings import Finding, Level
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.position import Position
from ferryman.core.protocols import (
    Applier,
    Capabilities,
    ChangeFeed,
    ChunkWriter,
    DiffReader,
    Endpoint,
    RowFilter,
)
from ferryman.core.schema import BINARY_KINDS, Column, Kind, Schema, ServerInfo, Table
from ferryman.core.tablecheck import table_findings
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql import changes, convert, ddl
from ferryman.engines.mysql.apply import MySQLApplier
from ferryman.engines.mysql.changes import MySQLChangeFeed
from ferryman.engines.mysql.check import server_findings
from ferryman.engines.mysql.connection import Session, connect, quote_ident
from ferryman.engines.mysql.export import MySQLChunkReader, key_ranges
from ferryman.engines.mysql.fence import MySQLFence
from ferryman.engines.mysql.fkeys import MySQLForeignKeys
from ferryman.engines.mysql.introspect import (
    database_exists,
    introspect,
    require_database,
    table_names,
)
from ferryman.engines.mysql.load import MySQLChunkWriter
from ferryman.engines.mysql.snapshot import open_snapshot
from ferryman.engines.sql import AllCapabilities

CAPABILITIES = Capabilities(
    export_formats=frozenset({WireFormat.MYSQL_TSV, WireFormat.CSV, WireFormat.PG_TEXT}),
    load_formats=(WireFormat.MYSQL_TSV, WireFormat.CSV),
    fk_actions_logged=False,  # InnoDB logs no rows for its foreign-key actions
)


class MySQLEndpoint(AllCapabilities):
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

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def introspect(
        self, tables: Sequence[str] | None = None, namespace: str | None = None
    ) -> Schema:
        return introspect(self.session, namespace or self.namespace, tables)

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
        everything = self.introspect() if tables is not None else None  # FK closure
        return findings + table_findings(self.introspect(tables), role, everything)

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
        # an ALTER TABLE that rebuilds a table (adding a foreign key copies it) would give a
        # row whose AUTO_INCREMENT column holds 0 a new number without this
        self.session.execute(
            "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
            "'NO_AUTO_VALUE_ON_ZERO')"
        )
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

    # -- copy source ---------------------------------------------------------------------------

    def open_snapshot(self, workers: int, exact: bool = False) -> SnapshotReaders:
        snap = open_snapshot(self.url, workers, raw=True)
        readers = [MySQLChunkReader(c) for c in snap.connections]
        return SnapshotReaders(snap.position, snap.method, readers, snap.close)

    def key_ranges(self, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange]:
        return key_ranges(self.session.query, tc, chunk_rows)

    # -- copy target ---------------------------------------------------------------------------

    def open_writer(self) -> ChunkWriter:
        return MySQLChunkWriter(self.url)

    def wire_for(self, column: Column, wire_format: WireFormat) -> Wire:
        if column.type.kind is Kind.BIT:
            return Wire.BITS
        if wire_format is WireFormat.CSV and column.type.kind in BINARY_KINDS:
            return Wire.HEX
        if wire_format is WireFormat.MYSQL_TSV and column.type.kind in (Kind.UUID, Kind.INET):
            return Wire.CHARS  # in a binary load these types would expect their raw form
        return Wire.TEXT

    def has_rows(self, namespace: str, table: str) -> bool:
        return bool(
            self.session.query(
                f"SELECT 1 FROM {quote_ident(namespace)}.{quote_ident(table)} LIMIT 1"
            )
        )

    def drop_objects(self, namespace: str, creates: Sequence[str]) -> None:
        for item in reversed(creates):
            kind, _, name = item.partition(":")
            if kind in ("table", "view"):
                self.session.execute(
                    f"DROP {kind.upper()} IF EXISTS {quote_ident(namespace)}.{quote_ident(name)}"
                )

    def truncate(self, namespace: str, tables: Sequence[str]) -> None:
        # InnoDB refuses to TRUNCATE a table another one references while the checks are on
        self.session.execute("SET SESSION foreign_key_checks = 0")
        try:
            for table in tables:
                self.session.execute(
                    f"TRUNCATE TABLE {quote_ident(namespace)}.{quote_ident(table)}"
                )
        finally:
            self.session.execute("SET SESSION foreign_key_checks = 1")

    def reconnect(self) -> None:
        self.session.close()
        self.session = Session(self.url, connect(self.url, database=False))

    def sync_identity(self, table: Table) -> None:
        """InnoDB moves AUTO_INCREMENT past every explicit value it stores: nothing to do."""

    def follow_sequences(self, source: Endpoint, tables: Sequence[str], namespace: str) -> None:
        """MySQL has no sequences to move: nothing to do."""

    # -- live move: change source -------------------------------------------------------------

    def prepare_changes(
        self, workflow: str, tables: Sequence[str], *, keys_only: bool = False
    ) -> Position:
        return changes.current_position(self.url)  # the binlog holds every column anyway

    def drop_changes(self, workflow: str) -> None:
        return None

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
        return MySQLChangeFeed(
            self.url,
            start,
            [(self.namespace, t) for t in tables],
            stop_at=stop_at,
            piece_changes=piece_changes,
            own_marks=own_marks,
        )

    def current_position(self) -> Position:
        return changes.current_position(self.url)

    def row_filter(self, table: Table, predicate: str) -> RowFilter:
        from ferryman.engines.mysql.rowfilter import RowFilter as EngineRowFilter

        return EngineRowFilter(self.url, table, predicate)

    # -- live move: target --------------------------------------------------------------------

    def open_diff_reader(self) -> DiffReader:
        """A new connection for ``ferryman diff`` (canonical row text and hashes)."""
        from ferryman.engines.mysql.diff import MySQLDiffReader

        return MySQLDiffReader(self.url)

    def open_applier(self) -> Applier:
        return MySQLApplier(self.url)

    def scalar(self, sql: str) -> object:
        """The first value ``sql`` returns (None: no rows), with the URL's database as the
        default database (``--lag-query``). Reads only what ``sql`` reads."""
        self.session.execute(f"USE {quote_ident(self.namespace)}")
        return self.session.scalar(sql)

    def execute_in(self, namespace: str, sql: str) -> None:
        """Run one statement as given (a source's DDL under ``--on-ddl exec``) with
        ``namespace`` as the default database. Not idempotent; unqualified names resolve in
        ``namespace``."""
        self.session.execute(f"USE {quote_ident(namespace)}")
        self.session.execute(sql)

    # the engine's own function: its signature is MoveTarget.apply_converters'
    apply_converters = staticmethod(convert.apply_converters)

    # -- workflow capabilities (issue 13, wf): thin delegations to the engine modules -------

    def fence(self) -> MySQLFence:
        return MySQLFence(self.url)

    def partitions(self) -> None:
        """MySQL targets are created without partitioning: nothing to follow."""

    def foreign_keys(self) -> MySQLForeignKeys:
        return MySQLForeignKeys(self.url)

    def close(self) -> None:
        self.session.close()


def _conforms(endpoint: MySQLEndpoint) -> list[object]:
    """mypy proves the protocols are met: the Endpoint, and each accessor's (the mixin's self
    types are checked where an accessor is called on this class)."""
    ep: Endpoint = endpoint
    return [
        ep,
        endpoint.copy_source(),
        endpoint.copy_target(),
        endpoint.change_source(),
        endpoint.move_target(),
        endpoint.diff_source(),
        endpoint.sql_runner(),
    ]
