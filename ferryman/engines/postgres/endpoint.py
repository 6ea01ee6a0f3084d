"""The PostgreSQL endpoint: one connection, introspection, checks, DDL translation and apply."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import psycopg
from psycopg import sql

from ferryman.core.copy import KeyRange, SnapshotReaders, TableCopy, Wire, WireFormat
from ferryman.core.errors import SchemaError
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
from ferryman.core.schema import Column, Schema, ServerInfo, Table
from ferryman.core.tablecheck import table_findings
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres import changes, convert, ddl
from ferryman.engines.postgres.apply import PostgresApplier
from ferryman.engines.postgres.changes import PostgresChangeFeed
from ferryman.engines.postgres.check import capture_findings, server_findings
from ferryman.engines.postgres.connection import Session, connect
from ferryman.engines.postgres.export import PostgresChunkReader, key_ranges
from ferryman.engines.postgres.fence import PostgresFence
from ferryman.engines.postgres.fkeys import PostgresForeignKeys
from ferryman.engines.postgres.introspect import introspect
from ferryman.engines.postgres.load import PostgresChunkWriter
from ferryman.engines.postgres.partitions import PostgresPartitions
from ferryman.engines.postgres.snapshot import REPLICATION_SLOT, open_snapshot
from ferryman.engines.sql import AllCapabilities

DEFAULT_SCHEMA = "public"
CAPABILITIES = Capabilities(
    export_formats=frozenset({WireFormat.PG_TEXT, WireFormat.PG_BINARY, WireFormat.CSV}),
    load_formats=(WireFormat.PG_TEXT,),
    same_type_formats=(WireFormat.PG_BINARY,),
    streams_generated_columns=False,  # pgoutput does not send generated columns
    namespace_option="schema",
)


class PostgresEndpoint(AllCapabilities):
    """A PostgreSQL database; the namespace is the URL option ``schema`` (default ``public``)."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.session = Session(url, connect(url))

    @property
    def namespace(self) -> str:
        return self.url.options.get("schema") or DEFAULT_SCHEMA

    def scalar(self, sql: str) -> object:
        """The first value ``sql`` returns (None: no rows), in the URL's database
        (``--lag-query``). Reads only what ``sql`` reads."""
        return self.session.scalar(sql)

    def server_info(self) -> ServerInfo:
        return self.session.server_info()

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def execute_in(self, namespace: str, statement: str) -> None:
        """Run one statement as given with ``namespace`` as the search path, in its own
        transaction. Not idempotent; unqualified names resolve in ``namespace``."""
        conn = self.session.conn
        path = sql.Identifier(namespace).as_string(conn)
        with conn.transaction():
            conn.execute("SELECT set_config('search_path', %s, true)", [path])
            conn.execute(statement.encode())

    def introspect(
        self, tables: Sequence[str] | None = None, namespace: str | None = None
    ) -> Schema:
        return introspect(self.session, namespace or self.namespace, tables)

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
        everything = self.introspect() if tables is not None else None  # FK closure
        schema = self.introspect(tables)
        findings += table_findings(schema, role, everything)
        if role == "source":
            findings += capture_findings(self.session, self.namespace, [t.name for t in schema])
        return findings

    def translate(self, source: Schema, options: TranslateOptions) -> SchemaPlan:
        existing = [
            f"{kind}:{name}"
            for kind, name in self.session.query(
                "SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' END, c.relname::text "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'S' "
                "UNION ALL SELECT 'domain', t.typname::text FROM pg_type t "
                "JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = %s AND t.typtype = 'd'",
                [options.target_namespace, options.target_namespace],
            )
        ]
        return ddl.translate(source, options, self.server_info(), existing)

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

    # -- copy source ---------------------------------------------------------------------------

    def open_snapshot(self, workers: int, exact: bool = False) -> SnapshotReaders:
        snap = open_snapshot(self.url, workers, force_method=REPLICATION_SLOT if exact else None)
        readers = [PostgresChunkReader(c) for c in snap.connections]
        return SnapshotReaders(snap.position, snap.method, readers, snap.close)

    def key_ranges(self, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange]:
        return key_ranges(self.session.query, tc, chunk_rows)

    # -- copy target ---------------------------------------------------------------------------

    def open_writer(self) -> ChunkWriter:
        return PostgresChunkWriter(self.url)

    def wire_for(self, column: Column, wire_format: WireFormat) -> Wire:
        return Wire.TEXT

    def has_rows(self, namespace: str, table: str) -> bool:
        query = sql.SQL("SELECT 1 FROM {}.{} LIMIT 1").format(
            sql.Identifier(namespace), sql.Identifier(table)
        )
        return bool(self.session.query(query))

    def drop_objects(self, namespace: str, creates: Sequence[str]) -> None:
        for item in reversed(creates):
            kind, _, name = item.partition(":")
            word = {
                "table": "TABLE",
                "type": "TYPE",
                "sequence": "SEQUENCE",
                "domain": "DOMAIN",
                "view": "VIEW",
                "matview": "MATERIALIZED VIEW",
                "function": "FUNCTION",
            }.get(kind)
            if word:
                self.session.query(
                    sql.SQL("DROP {} IF EXISTS {}.{}{} CASCADE").format(
                        sql.SQL(word),
                        sql.Identifier(namespace),
                        sql.Identifier(name),
                        sql.SQL("()" if kind == "function" else ""),
                    )
                )

    def truncate(self, namespace: str, tables: Sequence[str]) -> None:
        if not tables:
            return
        names = sql.SQL(", ").join(
            sql.SQL("{}.{}").format(sql.Identifier(namespace), sql.Identifier(t)) for t in tables
        )
        self.session.query(sql.SQL("TRUNCATE {}").format(names))

    def reconnect(self) -> None:
        self.session.close()
        self.session = Session(self.url, connect(self.url))

    def sync_identity(self, table: Table) -> None:
        """COPY with explicit values does not advance sequences: move each identity/serial
        sequence (also one a ``nextval`` default uses without owning it) past the largest value
        now in the table. A sequence already past it is left alone (never moved back)."""
        qualified = sql.SQL("{}.{}").format(
            sql.Identifier(table.namespace), sql.Identifier(table.name)
        )
        for col in table.columns:
            if col.identity is None or not col.identity.sequence:
                continue
            # the name as the server quoted it (quote_ident), so it is safe as SQL text
            seq = sql.SQL(col.identity.sequence)
            (top,) = self.session.query(
                sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(col.name), qualified)
            )[0]
            if top is None:
                continue
            last, called, step = self.session.query(
                sql.SQL(
                    "SELECT last_value, is_called, (SELECT seqincrement FROM pg_sequence "
                    "WHERE seqrelid = {}::regclass) FROM {}"
                ).format(sql.Literal(col.identity.sequence), seq)
            )[0]
            following = last + step if called else last
            if step > 0 and following <= top:
                self.session.query(
                    sql.SQL("SELECT setval({}::regclass, {})").format(
                        sql.Literal(col.identity.sequence), sql.Literal(top)
                    )
                )

    def follow_sequences(self, source: Endpoint, tables: Sequence[str], namespace: str) -> None:
        """Move each sequence the source's ``tables`` draw from (serial, or used by any default)
        to at least the source's state, here in ``namespace``; never back. A PostgreSQL source
        only (others have no sequences); a sequence missing here is left alone."""
        if not isinstance(source, PostgresEndpoint):
            return
        for seq in source.introspect(list(tables)).sequences:
            name = sql.SQL("{}.{}").format(sql.Identifier(namespace), sql.Identifier(seq.name))
            text = name.as_string(self.session.conn)
            if self.session.scalar("SELECT to_regclass(%s)", [text]) is None:
                continue
            last, called = self.session.query(
                sql.SQL("SELECT last_value, is_called FROM {}").format(name)
            )[0]
            here = last + seq.increment if called else last
            there = seq.last_value + seq.increment if seq.is_called else seq.last_value
            if (there - here) * seq.increment > 0:
                self.session.query(
                    "SELECT setval(%s::regclass, %s, %s)",
                    [text, seq.last_value, seq.is_called],
                )

    # -- live move: change source -------------------------------------------------------------

    def prepare_changes(
        self, workflow: str, tables: Sequence[str], *, keys_only: bool = False
    ) -> Position:
        return changes.prepare(
            self.url, workflow, [(self.namespace, t) for t in tables], keys_only=keys_only
        )

    def drop_changes(self, workflow: str) -> None:
        changes.drop(self.url, workflow)

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
        return PostgresChangeFeed(
            self.url,
            workflow,
            start,
            stop_at=stop_at,
            on_relation=on_relation,
            piece_changes=piece_changes,
            own_marks=own_marks,
        )

    def current_position(self) -> Position:
        return changes.current_position(self.url)

    def row_filter(self, table: Table, predicate: str) -> RowFilter:
        from ferryman.engines.postgres.rowfilter import RowFilter as EngineRowFilter

        return EngineRowFilter(self.url, table, predicate)

    # -- live move: target --------------------------------------------------------------------

    def open_diff_reader(self) -> DiffReader:
        """A new connection for ``ferryman diff`` (canonical row text and hashes)."""
        from ferryman.engines.postgres.diff import PostgresDiffReader

        return PostgresDiffReader(self.url)

    def open_applier(self) -> Applier:
        return PostgresApplier(self.url)

    # the engine's own function: its signature is MoveTarget.apply_converters'
    apply_converters = staticmethod(convert.apply_converters)

    # -- workflow capabilities (issue 13, wf): thin delegations to the engine modules -------

    def fence(self) -> PostgresFence:
        return PostgresFence(self.url)

    def partitions(self) -> PostgresPartitions:
        return PostgresPartitions(self)

    def foreign_keys(self) -> PostgresForeignKeys:
        return PostgresForeignKeys(self.url)

    def close(self) -> None:
        self.session.close()


def _conforms(endpoint: PostgresEndpoint) -> list[object]:
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
