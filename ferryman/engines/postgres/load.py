"""Bulk loading into PostgreSQL with ``COPY ... FROM STDIN`` (text format)."""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql

from ferryman.core.copy import (
    Chunk,
    TableCopy,
    WireFormat,
    connection_lost,
    rows_rejected,
    write_denied,
)
from ferryman.core.errors import FerrymanError
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import connect
from ferryman.engines.postgres.own import MARK


def copy_statement(tc: TableCopy) -> sql.Composed:
    binary = " (FORMAT binary)" if tc.wire_format is WireFormat.PG_BINARY else ""
    return sql.SQL("COPY {}.{} ({}) FROM STDIN" + binary).format(
        sql.Identifier(tc.target_namespace),
        sql.Identifier(tc.target_name),
        sql.SQL(", ").join(sql.Identifier(c) for c in tc.target_columns),
    )


class PostgresChunkWriter:
    """Loads chunks through one connection; each COPY commits on its own."""

    def __init__(self, url: DatabaseURL) -> None:
        self.conn = connect(url)
        self.conn.execute("SET synchronous_commit = off")
        self._statements: dict[tuple[str, str], sql.Composed] = {}

    def write(self, chunk: Chunk) -> None:
        if not chunk.rows:
            return
        tc = chunk.table
        key = (tc.target_namespace, tc.target_name)
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = copy_statement(tc)
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute(MARK)  # ferryman's own write (the drift guard)
                with cur.copy(statement) as cp:
                    cp.write(chunk.data)
        except psycopg.Error as exc:
            raise load_error(tc, exc) from None

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


def load_error(tc: TableCopy, exc: psycopg.Error) -> FerrymanError:
    diag = exc.diag
    detail = diag.message_primary or str(exc)
    where = f" ({diag.context.splitlines()[0]})" if diag.context else ""
    if isinstance(exc, psycopg.OperationalError):
        return connection_lost("target", f"loading {tc.target_label}", detail)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return write_denied(tc, detail, tc.target_label)
    return rows_rejected(tc, "PostgreSQL", f"{detail}{where}")
