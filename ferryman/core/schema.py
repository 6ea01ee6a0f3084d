"""The engine-neutral schema model.

Each engine maps its native column types to a :class:`LogicalType` when it introspects, and
renders a :class:`LogicalType` back into native DDL when it is the target. A :class:`Column`
keeps the native spelling too, so a same-engine move can reproduce it exactly.

Everything here is plain data: frozen dataclasses with no driver imports and no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """Logical type families. Each engine documents how its native types map onto these."""

    INTEGER = "integer"  # bits 8/16/24/32/64, signed or unsigned
    DECIMAL = "decimal"  # precision/scale; precision None = unbounded (PostgreSQL numeric)
    FLOAT = "float"  # bits 32 or 64
    BOOLEAN = "boolean"
    BIT = "bit"  # length = number of bits
    DATE = "date"
    DATETIME = "datetime"  # date and time without time zone; fsp
    TIMESTAMP = "timestamp"  # an instant (stored in UTC); fsp
    TIME = "time"  # time of day; MySQL TIME also holds -838:59:59..838:59:59
    INTERVAL = "interval"  # PostgreSQL interval
    YEAR = "year"
    CHAR = "char"  # fixed length, length in characters
    VARCHAR = "varchar"  # length in characters; None = unbounded
    TEXT = "text"  # length = maximum bytes (None = unbounded)
    BINARY = "binary"  # fixed length in bytes (zero padded)
    VARBINARY = "varbinary"  # length in bytes
    BLOB = "blob"  # length = maximum bytes (None = unbounded)
    JSON = "json"
    ENUM = "enum"  # labels
    SET = "set"  # labels
    UUID = "uuid"
    INET = "inet"
    CIDR = "cidr"
    MACADDR = "macaddr"
    ARRAY = "array"  # element
    UNSUPPORTED = "unsupported"  # no logical mapping; the native type is kept in Column.native


TEXTUAL = frozenset({Kind.CHAR, Kind.VARCHAR, Kind.TEXT, Kind.ENUM, Kind.SET})
BINARY_KINDS = frozenset({Kind.BINARY, Kind.VARBINARY, Kind.BLOB})


@dataclass(frozen=True)
class LogicalType:
    """An engine-neutral column type. Only the fields meaningful for ``kind`` are set."""

    kind: Kind
    bits: int | None = None
    unsigned: bool = False
    precision: int | None = None
    scale: int | None = None
    length: int | None = None
    fsp: int | None = None
    labels: tuple[str, ...] = ()
    element: LogicalType | None = None
    binary_json: bool = False  # PostgreSQL jsonb (vs json)
    type_name: str | None = None  # a named engine type (PostgreSQL enum/domain), for reference

    def describe(self) -> str:
        """A short human name, e.g. ``integer(64) unsigned`` or ``decimal(65,30)``."""
        k = self.kind.value
        if self.kind in (Kind.INTEGER, Kind.FLOAT):
            return f"{k}({self.bits}){' unsigned' if self.unsigned else ''}"
        if self.kind is Kind.DECIMAL:
            if self.precision is None:
                return k
            return f"{k}({self.precision},{self.scale or 0}){' unsigned' if self.unsigned else ''}"
        if self.kind in (Kind.DATETIME, Kind.TIMESTAMP, Kind.TIME, Kind.INTERVAL) and self.fsp:
            return f"{k}({self.fsp})"
        if self.kind is Kind.ARRAY and self.element is not None:
            return f"{self.element.describe()}[]"
        if self.length is not None:
            return f"{k}({self.length})"
        return k


@dataclass(frozen=True)
class Default:
    """A column default.

    ``kind``: ``literal`` (``value`` is the unquoted constant), ``null``, ``current_timestamp``
    (``value`` unused), or ``expression`` (``value`` is native SQL of the source engine).
    """

    kind: str
    value: str | None = None


@dataclass(frozen=True)
class Generated:
    """A generated (computed) column: native ``expression``; ``stored`` or virtual."""

    expression: str
    stored: bool


@dataclass(frozen=True)
class Identity:
    """Where a column's values come from when none is given.

    ``kind``: ``auto_increment`` (MySQL), ``always`` / ``by_default`` (PostgreSQL identity) or
    ``serial`` (PostgreSQL column defaulting to ``nextval`` of an owned sequence).
    ``next_value`` is the value the next insert would get, when known.
    """

    kind: str
    sequence: str | None = None
    next_value: int | None = None


@dataclass(frozen=True)
class Column:
    name: str
    type: LogicalType
    native: str  # the type as the source engine spells it, e.g. "bigint(20) unsigned"
    nullable: bool = True
    default: Default | None = None
    charset: str | None = None
    collation: str | None = None
    generated: Generated | None = None
    identity: Identity | None = None
    comment: str | None = None
    on_update_now: bool = False  # MySQL ON UPDATE CURRENT_TIMESTAMP
    domain: str | None = None  # PostgreSQL domain the column was declared with (type is its base)


@dataclass(frozen=True)
class IndexColumn:
    """One key part: a column (optionally a prefix of ``prefix`` characters/bytes) or an
    expression (native SQL)."""

    name: str | None
    expression: str | None = None
    prefix: int | None = None
    descending: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    primary: bool = False
    method: str = "btree"  # btree, hash, fulltext, spatial, gin, gist, ...
    predicate: str | None = None  # partial index (native SQL)
    definition: str | None = None  # full native DDL when the engine gives it (same-engine use)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name is not None)

    @property
    def is_plain(self) -> bool:
        """Only whole columns, no prefix, expression or predicate."""
        return self.predicate is None and all(
            c.name is not None and c.expression is None and c.prefix is None for c in self.columns
        )


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_namespace: str
    ref_table: str
    ref_columns: tuple[str, ...]
    on_update: str = "NO ACTION"
    on_delete: str = "NO ACTION"


@dataclass(frozen=True)
class Check:
    name: str
    expression: str  # native SQL
    column: str | None = None  # set for a column-level check


@dataclass(frozen=True)
class Partition:
    """One partition of a PostgreSQL partitioned table.

    ``parent``: the table it is a partition of (the root or a sub-partitioned partition);
    ``bound``: ``pg_get_expr(relpartbound)`` (``FOR VALUES FROM (..) TO (..)``, ``DEFAULT``);
    ``partition_key``: set when it is itself partitioned; ``indexes``: indexes of this partition
    only (not inherited from a partitioned index of its parent); ``constraints``: its own
    constraints (not inherited), ``name definition``, which ferryman names but does not move."""

    name: str
    parent: str
    bound: str
    partition_key: str | None = None
    indexes: tuple[Index, ...] = ()
    constraints: tuple[str, ...] = ()  # its own FOREIGN KEY/CHECK constraints (name + SQL)


@dataclass(frozen=True)
class Table:
    namespace: str  # MySQL database / PostgreSQL schema
    name: str
    columns: tuple[Column, ...]
    primary_key: Index | None = None
    indexes: tuple[Index, ...] = ()  # unique and secondary indexes (not the primary key)
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[Check, ...] = ()
    triggers: tuple[str, ...] = ()
    comment: str | None = None
    estimated_rows: int | None = None
    storage_engine: str | None = None  # MySQL only
    partitioned: bool = False
    # PostgreSQL partitioned table: ``pg_get_partkeydef`` (e.g. ``RANGE (payment_date)``) and
    # its partitions, parents before children (sub-partitions included)
    partition_key: str | None = None
    partitions: tuple[Partition, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def row_key(self) -> Index | None:
        """The key that identifies a row: the primary key, else the first unique index whose
        columns are all NOT NULL and whole (no prefix, expression or predicate)."""
        if self.primary_key is not None:
            return self.primary_key
        for index in self.indexes:
            if (
                index.unique
                and index.is_plain
                and all(not self.column(name).nullable for name in index.column_names)
            ):
                return index
        return None


@dataclass(frozen=True)
class EnumType:
    """A named enumerated type (PostgreSQL ``CREATE TYPE .. AS ENUM``)."""

    namespace: str
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class SequenceDef:
    """A PostgreSQL sequence that a column default of the schema's tables draws from.

    ``qualified``: the name as :class:`Identity` ``sequence`` spells it (quoted, qualified);
    ``last_value``/``is_called``: its state (``setval(seq, last_value, is_called)`` restores
    it); ``owned_by``: the (table, column) it belongs to (``OWNED BY``), if any."""

    namespace: str
    name: str
    qualified: str
    data_type: str
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool
    last_value: int
    is_called: bool
    owned_by: tuple[str, str] | None = None


@dataclass(frozen=True)
class DomainType:
    """A PostgreSQL domain some column is declared with: its native base type (as
    ``format_type`` spells it), NOT NULL, default, and CHECK constraints (expressions use
    ``VALUE``)."""

    namespace: str
    name: str
    base: str
    not_null: bool = False
    default: str | None = None
    checks: tuple[Check, ...] = ()

    def column_checks(self, column: str, quote: Callable[[str], str]) -> tuple[Check, ...]:
        """The domain's checks as checks of ``column`` (``VALUE`` replaced by the quoted
        column name; names ``<column>_<check>``)."""
        return tuple(
            Check(
                name=f"{column}_{c.name}",
                expression=re.sub(r"\bVALUE\b", lambda _m: quote(column), c.expression),
                column=column,
            )
            for c in self.checks
        )


@dataclass(frozen=True)
class View:
    """A view (or materialized view) of the namespace. ``definition`` is its native SELECT
    (MySQL qualifies names with the database; PostgreSQL's names objects of the namespace
    unqualified); ``depends_on``: the tables and views of the namespace it reads, and
    ``outside``: what it reads from other namespaces."""

    name: str
    definition: str
    materialized: bool = False
    depends_on: tuple[str, ...] = ()
    outside: tuple[str, ...] = ()


@dataclass(frozen=True)
class Routine:
    """A stored procedure or function (``kind``: ``procedure``/``function``), or a domain no
    moved column uses (``domain``); never moved, named in the not-moved note."""

    kind: str
    name: str


@dataclass(frozen=True)
class ServerInfo:
    """What a connected server is. ``flavor``: ``mysql``, ``mariadb``, ``postgresql`` or
    ``etcd``; ``engine`` groups the flavors that share a dialect (``mysql`` for MySQL and
    MariaDB)."""

    flavor: str
    version: str  # as the server reports it
    version_tuple: tuple[int, ...]

    @property
    def engine(self) -> str:
        if self.flavor in ("postgresql", "etcd"):
            return self.flavor
        return "mysql"

    @property
    def relational(self) -> bool:
        """A SQL server that can be a copy source or target (etcd is a sync target only)."""
        return self.engine in ("mysql", "postgresql")

    def at_least(self, *version: int) -> bool:
        return self.version_tuple >= version


@dataclass(frozen=True)
class Schema:
    """What introspection found in one namespace of one server."""

    server: ServerInfo
    namespace: str
    tables: tuple[Table, ...]
    enum_types: tuple[EnumType, ...] = field(default=())
    sequences: tuple[SequenceDef, ...] = field(default=())  # PostgreSQL
    domains: tuple[DomainType, ...] = field(default=())  # PostgreSQL

    def sequence(self, qualified: str) -> SequenceDef | None:
        """The sequence an :class:`Identity` names, when introspection read it."""
        for seq in self.sequences:
            if seq.qualified == qualified:
                return seq
        return None

    def domain(self, name: str) -> DomainType | None:
        for domain in self.domains:
            if domain.name == name:
                return domain
        return None

    views: tuple[View, ...] = field(default=())  # every view of the namespace
    routines: tuple[Routine, ...] = field(default=())  # every procedure/function of it

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)
