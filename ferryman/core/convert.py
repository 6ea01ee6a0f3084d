"""Shared pieces of the apply-side value converters (``TableTarget.convert``). Pure: no driver.

Each target engine has its own ``apply_converters`` (``engines/<engine>/convert.py``): from a
change-stream value of the *source* engine to a value the target's driver writes exactly. What
they share is here: which engine a :class:`~ferryman.core.schema.Table` was introspected from,
and the values of the MySQL/MariaDB binlog that no target driver takes as they are.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ferryman.core.copy import ValuePolicy
from ferryman.core.errors import SchemaError
from ferryman.core.schema import Column, Table

MYSQL = "mysql"
POSTGRESQL = "postgresql"

# the fixes a refused value names (the same in the bulk copy and the live apply)
NUL_HINT = "rerun with --nul-bytes strip or --nul-bytes replace:TEXT, or fix the row"
UTF8_HINT = "rerun with --invalid-utf8 replace (each such byte becomes '?'), or fix the row"
DATES_HINT = (
    "rerun with --out-of-range-dates clamp (to 0001-01-01 / 9999-12-31 23:59:59) or "
    "--out-of-range-dates null, or fix the row"
)
JSONB_NUL = "\\u0000"  # a JSON escape PostgreSQL's jsonb refuses (json keeps the text as is)
JSONB_NUL_WHY = "holds \\u0000, which PostgreSQL jsonb cannot hold"


def jsonb_nul_hint(table: str, column: str) -> str:
    return (
        f"map it with --type-override {table}.{column}=json (PostgreSQL's json keeps the text "
        "as written), or fix the row"
    )


NON_FINITE_HINT = "rerun with --non-finite null to load NULL, or fix the row"
NOT_NULL = ", and the column is NOT NULL (so --{option} null cannot apply)"
# MySQL charsets in which every stored byte sequence is text (latin1: cp1252 with the 5
# undefined bytes passed through). Others can hold bytes that are no character of theirs (an
# ascii column takes x'E9'); MySQL's CONVERT turns those into '?' with only a warning.
TOTAL_CHARSETS = frozenset({"utf8mb4", "utf8mb3", "utf8", "latin1", "binary"})


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


#: one engine's choice for one column: (source table, source column, target column, policy) →
#: the converter of its change-stream values, or None when they are written as they are
PickConverter = Callable[[Table, Column, Column, ValuePolicy], Callable[[Any], Any] | None]


@dataclass(frozen=True)
class ConverterChoice:
    """A target engine's ``apply_converters`` (its signature and contract are
    :meth:`MoveTarget.apply_converters <ferryman.core.protocols.MoveTarget.apply_converters>`'):
    per source engine, how it picks each column's converter (None: every value of that
    source engine is written as it comes)."""

    mysql: PickConverter | None
    postgresql: PickConverter | None

    def __call__(
        self,
        source: Table,
        target: Table,
        columns: Sequence[str],
        *,
        engine: str | None = None,
        values: ValuePolicy | None = None,
    ) -> tuple[Callable[[Any], Any] | None, ...]:
        """Per name in ``columns`` (target column names, equal to the source's): the
        converter into ``target``'s column, or None. ``engine``: the source's
        ``Schema.server.engine`` (guessed from ``source`` when not given); ``values``: the
        policy for values the target cannot hold (default: refuse them)."""
        src_engine = source_engine(source, engine)
        pick = self.mysql if src_engine == MYSQL else self.postgresql
        if pick is None:
            return tuple(None for _ in columns)
        policy = values or ValuePolicy()
        return tuple(pick(source, source.column(n), target.column(n), policy) for n in columns)


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


class StoredBytes(bytes):
    """Bytes a text column holds that are no character of its charset (an ``ascii`` column
    holding 0xE9), to be written back as stored into the same column type (a MySQL hex
    literal, which the server does not validate against the charset)."""


class ValueRefused(SchemaError):
    """A change's value that the target column cannot hold: the batch stops (nothing of it is
    written; the move fails with this message). A converter raises it naming the column;
    :class:`~ferryman.core.apply.TableTarget` adds the row's key (:meth:`at_key`)."""

    def __init__(
        self,
        table: str,
        column: str,
        shown: str,
        why: str,
        hint: str,
        key: tuple[Any, ...] | None = None,
    ) -> None:
        if key is None:
            text = f"a change to {table}.{column} carries {shown}, {why}"
        else:
            key_text = ", ".join(repr(k) for k in key)
            text = f"row ({key_text}) of table {table}: column {column} carries {shown}, {why}"
        super().__init__(text, hint=hint, obj=f"{table}.{column}")
        self.table, self.column, self.shown, self.why = table, column, shown, why

    def at_key(self, key: tuple[Any, ...]) -> ValueRefused:
        return ValueRefused(self.table, self.column, self.shown, self.why, self.hint or "", key)


def value_error(table: Table, column: Column, value: Any, why: str, hint: str) -> ValueRefused:
    """A value of a change that the target column cannot hold: stop, naming column and value."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ValueRefused(f"{table.namespace}.{table.name}", column.name, shown, why, hint)
