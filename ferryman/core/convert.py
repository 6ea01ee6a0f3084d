"""Shared pieces of the apply-side value converters (``TableTarget.convert``). Pure: no driver.

Each target engine has its own ``apply_converters`` (``engines/<engine>/convert.py``): from a
change-stream value of the *source* engine to a value the target's driver writes exactly. What
they share is here: which engine a :class:`~ferryman.core.schema.Table` was introspected from,
and the values of the MySQL/MariaDB binlog that no target driver takes as they are.
"""

from __future__ import annotations

import socket
from typing import Any

from ferryman.core.errors import SchemaError
from ferryman.core.schema import Column, Table

MYSQL = "mysql"
POSTGRESQL = "postgresql"


def source_engine(table: Table, engine: str | None = None) -> str:
    """``mysql`` or ``postgresql``: the engine ``table`` was introspected from.

    ``engine`` (``Schema.server.engine``), when the caller has it, wins. Otherwise: MySQL
    introspection always sets ``storage_engine`` (and a charset on text columns); PostgreSQL
    introspection never does."""
    if engine is not None:
        if engine not in (MYSQL, POSTGRESQL):
            raise ValueError(f"unknown source engine {engine!r}")
        return engine
    if table.storage_engine is not None or any(c.charset for c in table.columns):
        return MYSQL
    return POSTGRESQL


def mariadb_uuid_text(value: Any) -> Any:
    """A MariaDB UUID as the binlog carries it (16 bytes, in the canonical order: verified on
    10.11, whose row images do not use the swapped on-disk order) → canonical text. Text passes
    through unchanged."""
    if type(value) is bytes and len(value) == 16:
        h = value.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return value


def mariadb_inet_text(value: Any) -> Any:
    """A MariaDB INET6 (16 bytes) or INET4 (4 bytes) from the binlog → its text, spelled like
    MariaDB and PostgreSQL spell it (``::ffff:1.2.3.4``, ``2001:db8::1``). Text passes through."""
    if type(value) is bytes:
        if len(value) == 16:
            return socket.inet_ntop(socket.AF_INET6, value)
        if len(value) == 4:
            return socket.inet_ntop(socket.AF_INET, value)
    return value


def where(table: Table, column: Column) -> str:
    return f"{table.namespace}.{table.name}.{column.name}"


def value_error(table: Table, column: Column, value: Any, why: str, hint: str) -> SchemaError:
    """A value of a change that the target column cannot hold: stop, naming column and value."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SchemaError(
        f"a change to {where(table, column)} carries {shown}, {why}",
        hint=hint,
        obj=where(table, column),
    )
